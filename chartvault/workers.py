"""Starting and stopping Celery worker and beat processes from the CLI.

On the embedded queue nothing else runs a worker, so ``serve``, ``demo`` and
``ingest --wait`` start one themselves: a real ``celery worker`` subprocess, the
same code path a server deployment runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from chartvault.settings import Settings


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = "1"  # Tesseract single-threaded; processes give parallelism
    return env


def start_worker(settings: Settings, concurrency: int | None = None, *,
                 log_file: Path | None = None, loglevel: str = "WARNING") -> subprocess.Popen:
    args = [sys.executable, "-m", "celery", "-A", "chartvault.celery_app", "worker",
            "-Q", "chartvault", "--concurrency", str(concurrency or settings.worker_concurrency),
            "--loglevel", loglevel, "--without-mingle", "--without-gossip",
            "-n", f"chartvault-{os.getpid()}@%h"]
    return _spawn(args, settings, log_file or settings.home / "logs" / "worker.log")


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
