"""A worker and beat that a command started never outlive it, even when it is SIGKILLed
(an OOM kill, a test's timeout): they watch the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STARTER = r"""
import json, sys, time
from chartvault import workers
from chartvault.settings import get_settings
settings = get_settings()
started = [workers.start_worker(settings, concurrency=1), workers.start_beat(settings)]
print(json.dumps([p.pid for p in started]), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too (its parent, init here, reaps it soon)
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def test_worker_and_beat_stop_when_their_starter_is_killed(cv_env: dict[str, str]) -> None:
    import json

    starter = subprocess.Popen([sys.executable, "-c", STARTER], env={**os.environ, **cv_env},
                               stdout=subprocess.PIPE, text=True)
    pids = json.loads(starter.stdout.readline())  # type: ignore[union-attr]
    try:
        time.sleep(8)  # both up and past their init signals
        assert all(_alive(pid) for pid in pids), "worker or beat did not start"
        starter.send_signal(signal.SIGKILL)  # no finally, no clean stop
        starter.wait(10)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.5)
        assert not any(_alive(pid) for pid in pids), "orphaned worker or beat still running"
    finally:
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        starter.kill()
        starter.wait(10)
        starter.stdout.close()  # type: ignore[union-attr]


def test_a_worker_not_started_by_a_command_has_no_watch(monkeypatch) -> None:  # noqa: ANN001
    from chartvault import workers

    monkeypatch.delenv(workers.PARENT_VARIABLE, raising=False)
    assert workers.watch_parent() is None
