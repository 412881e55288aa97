"""Starting and stopping Celery worker and beat processes from the CLI.

On the embedded queue nothing else runs a worker, so ``serve``, ``demo`` and
``ingest --wait`` start one themselves: a real ``celery worker`` subprocess, the
same code path a server deployment runs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from chartvault.errors import Unavailable
from chartvault.settings import Settings

log = logging.getLogger(__name__)

# Set in the environment of a worker or beat this module starts: the process that
# started it. The worker or beat watches it and stops when it is gone (see watch_parent).
PARENT_VARIABLE = "CHARTVAULT_STARTED_BY"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = "1"  # Tesseract single-threaded; processes give parallelism
    env[PARENT_VARIABLE] = str(os.getpid())
    return env


def watch_parent(interval: float = 1.0) -> threading.Thread | None:
    """In a worker or beat started by :func:`start_worker` / :func:`start_beat`: a daemon
    thread that sends this process SIGTERM (Celery's warm shutdown) once the process that
    started it is gone. ``serve``, ``demo`` and ``ingest --wait`` stop their worker and
    beat on the way out, but a SIGKILL (an OOM kill, a test's timeout) gives them no way
    out, and an orphaned worker would go on taking tasks and CPU. None when this process
    was not started that way (a server deployment's own ``chartvault worker``)."""
    started_by = os.environ.get(PARENT_VARIABLE)
    if not started_by or not started_by.isdigit():
        return None
    parent = int(started_by)

    def watch() -> None:
        while os.getppid() == parent:  # re-parented (to init) once the parent has died
            time.sleep(interval)
        log.warning("the process that started this one (%d) is gone: stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


class WorkerStopped(Unavailable):
    """The worker a command started exited while the command waited for its documents;
    ``statuses`` is where they stood (they stay archived and queued)."""

    code = "worker_stopped"

    def __init__(self, message: str, statuses: dict[str, str]) -> None:
        super().__init__(message)
        self.statuses = statuses


@dataclass(frozen=True)
class WatchedWorker:
    """A worker started for a command that waits on it, and where its log began."""

    process: subprocess.Popen
    log_file: Path
    log_start: int

    def why_stopped(self) -> str | None:
        """None while the worker runs; once it has exited, its exit code or the signal
        that killed it, and the last error it logged in this run (PHI scrubbed)."""
        code = self.process.poll()
        if code is None:
            return None
        how = f"killed by {_signal_name(-code)}" if code < 0 else f"exit code {code}"
        error = _last_error(self.log_file, self.log_start)
        return how + (f"; its last error: {error}" if error else "")


def start_watched_worker(settings: Settings) -> WatchedWorker:
    """:func:`start_worker` for ``ingest --wait`` and ``demo``, which check on it as they
    wait instead of waiting out their timeout for a worker that is gone."""
    log_file = worker_log(settings)
    start = log_file.stat().st_size if log_file.exists() else 0
    return WatchedWorker(start_worker(settings, log_file=log_file), log_file, start)


def worker_log(settings: Settings) -> Path:
    """Where a worker started here logs (appended to, run after run)."""
    return settings.home / "logs" / "worker.log"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_error(path: Path, start: int, limit: int = 300) -> str:
    """The last line of ``path`` past ``start`` that mentions an error ("" if none): the
    lines after it are often Celery's start-up banner, which says nothing of the cause."""
    from chartvault.logs import redact

    try:
        with path.open("rb") as log:
            log.seek(max(start, path.stat().st_size - 64 * 1024))
            lines = log.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    last = next((line.strip() for line in reversed(lines) if "error" in line.lower()), "")
    return redact(last, limit)


def start_worker(settings: Settings, concurrency: int | None = None, *,
                 log_file: Path | None = None, loglevel: str = "WARNING") -> subprocess.Popen:
    args = [sys.executable, "-m", "celery", "-A", "chartvault.celery_app", "worker",
            "-Q", "chartvault", "--concurrency", str(concurrency or settings.worker_concurrency),
            "--loglevel", loglevel, "--without-mingle", "--without-gossip",
            "-n", f"chartvault-{os.getpid()}@%h"]
    return _spawn(args, settings, log_file or worker_log(settings))


def start_beat(settings: Settings, *, log_file: Path | None = None) -> subprocess.Popen:
    schedule = settings.home / "beat-schedule"
    args = [sys.executable, "-m", "celery", "-A", "chartvault.celery_app", "beat",
            "--loglevel", "WARNING", "--schedule", str(schedule)]
    return _spawn(args, settings, log_file or settings.home / "logs" / "beat.log")


def _spawn(args: list[str], settings: Settings, log_file: Path) -> subprocess.Popen:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        return subprocess.Popen(args, env=_env(), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def stop(process: subprocess.Popen, timeout: float = 60) -> None:
    """Warm shutdown (running tasks finish), then a hard kill past ``timeout``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
