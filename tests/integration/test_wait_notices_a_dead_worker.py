"""``ingest --wait`` (and ``demo``) on the embedded queue start their own worker; when it
dies they stop at once with a clear error, not after their timeout (30 minutes by
default), and the documents stay archived and queued for the next worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "chartvault"]


def _started_worker(parent: int, timeout: float = 60) -> int:
    """The pid of the Celery worker that process ``parent`` started."""
    marker = f"CHARTVAULT_STARTED_BY={parent}".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue  # gone meanwhile, or not ours
            if b"worker" in cmdline and marker in environ:
                return int(entry.name)
        time.sleep(0.1)
    raise AssertionError(f"no worker started by {parent} within {timeout} s")


# The recovery sweep sends on kombu's SQLAlchemy transport, whose models use the
# ``noload`` strategy SQLAlchemy 2.1 deprecates; not ours to change.
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_ingest_wait_stops_at_once_when_its_worker_dies(cv_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    from chartvault.synthetic import fake_patients, make_chart, spec_for

    [patient] = fake_patients(1, seed=77)
    chart = make_chart(spec_for(patient, seed=77, pages=2, paragraphs=2),
                       tmp_path / "chart.pdf", fmt="pdf", dpi=150)
    command = subprocess.Popen(
        [*CLI, "ingest", str(chart.path), "--mrn", patient.mrn, "--type", "progress_notes",
         "--wait", "--json"], env={**os.environ, **cv_env}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        worker = _started_worker(command.pid)
        os.killpg(worker, signal.SIGKILL)  # the worker and its pool: an OOM kill, say
        killed = time.monotonic()
        out, err = command.communicate(timeout=120)
    finally:
        if command.poll() is None:
            command.kill()
            command.communicate()
    assert time.monotonic() - killed < 30, "the command waited on for a dead worker"
    assert command.returncode == 75, out + err
    assert "error [worker_stopped]: The OCR worker this command started has stopped " \
           "(killed by SIGKILL" in err
    assert "1 of 1 document(s) not yet indexed" in err
    assert str(Path(cv_env["CHARTVAULT_HOME"]) / "logs" / "worker.log") in err
    [document] = json.loads(out)["documents"]  # the summary came first: what became of it
    assert document["status"] in ("received", "ocr", "finishing")
    assert document["reason"] == f"still {document['status']} when the worker stopped"

    # Nothing is lost: the recovery sweep queues it again and a new worker indexes it.
    from chartvault.cli.documents import wait_for, worker_if_embedded
    from chartvault.maintenance import requeue_stuck
    from chartvault.settings import get_settings

    settings = get_settings()
    assert requeue_stuck(minutes=0) == 1
    with worker_if_embedded(settings, True) as again:
        final = wait_for(settings, [document["id"]], 180, False, again)
    assert final == {document["id"]: "indexed"}


def _log_and_exit(log: Path, lines: list[str], code: int) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-c",
                                 f"print(*{lines!r}, sep='\\n'); raise SystemExit({code})"],
                                stdout=out, stderr=subprocess.STDOUT)


def test_the_error_names_the_exit_code_and_the_last_error_logged_phi_scrubbed(
        settings, tmp_path: Path) -> None:  # noqa: ANN001
    from chartvault.cli.documents import wait_for
    from chartvault.workers import WatchedWorker, WorkerStopped

    log = tmp_path / "worker.log"
    log.write_text("a line from an earlier run\n")
    start = log.stat().st_size
    process = _log_and_exit(log, ["Unrecoverable error: no chart for Doe, Jane (QZ998877)",
                                  ".> chartvault  exchange=chartvault(direct)"], 3)
    process.wait(30)
    with pytest.raises(WorkerStopped) as stopped:
        wait_for(settings, ["not-done-1", "not-done-2"], 60, False,
                 WatchedWorker(process, log, start))
    message = stopped.value.message
    assert "stopped (exit code 3; its last error: Unrecoverable error: no chart for " \
           "<name> (<mrn>))" in message
    assert "Doe" not in message and "QZ998877" not in message
    assert "2 of 2 document(s) not yet indexed" in message
    assert stopped.value.code == "worker_stopped" and stopped.value.retryable
    assert stopped.value.statuses == {}


def test_a_worker_that_logged_nothing_this_run_is_not_blamed_for_an_earlier_line(
        settings, tmp_path: Path) -> None:  # noqa: ANN001
    from chartvault.cli.documents import wait_for
    from chartvault.workers import WatchedWorker, WorkerStopped

    log = tmp_path / "worker.log"
    log.write_text("Unrecoverable error: from yesterday\n")
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    process.wait(30)
    with pytest.raises(WorkerStopped, match=r"stopped \(exit code 1\), with 1 of 1"):
        wait_for(settings, ["not-done"], 60, False,
                 WatchedWorker(process, log, log.stat().st_size))


def test_a_running_worker_is_waited_for_until_the_timeout(settings, tmp_path: Path) -> None:  # noqa: ANN001
    from chartvault.cli.documents import wait_for
    from chartvault.workers import WatchedWorker

    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = time.monotonic()
        assert wait_for(settings, ["not-done"], 1.5, False,
                        WatchedWorker(process, tmp_path / "worker.log", 0)) == {}
        assert 1.5 <= time.monotonic() - started < 10
    finally:
        process.kill()
        process.wait()
