"""`chartvault serve` on the embedded queue: its worker and beat live and die with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_the_web_server_with_its_worker_and_beat(cv_env: dict[str, str]) -> None:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "chartvault", "serve", "--port", str(port)],
                              env={**os.environ, **cv_env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer within 60 s"
                time.sleep(0.5)
        helpers = _children(server.pid)
        assert len(helpers) == 2  # the worker and beat
        server.send_signal(signal.SIGTERM)
        assert server.wait(90) == 0
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in helpers) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not any(_alive(pid) for pid in helpers), "worker or beat outlived serve"
    finally:
        if server.poll() is None:
            server.kill()
