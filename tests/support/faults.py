"""Helpers for the fault tests (tests/reliability): CLI runs, real worker processes, waits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

CLI = [sys.executable, "-m", "chartvault"]


def cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=timeout)


def ingest_json(path: Path, env: dict[str, str], *extra: str) -> dict:
    done = cli("ingest", str(path), "--mrn", extra[0] if extra else "TST000123",
               "--type", "progress_notes", "--json", *extra[1:], env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


class Worker:
    """A real ``chartvault worker`` process in its own process group."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 2,
                 loglevel: str = "INFO") -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*CLI, "worker", "--concurrency", str(concurrency), "--loglevel", loglevel],
                env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes: no warm shutdown, no acks."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               interval: float = 0.3) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1",
               "--port", "6379", "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
               "--logfile", "/var/log/redis/ci.log"]


def _redis_up() -> bool:
    done = subprocess.run(["redis-cli", "-p", "6379", "ping"], capture_output=True, text=True,
                          timeout=10)
    return done.stdout.strip() == "PONG"


def restart_redis(down_seconds: float = 1.0) -> float:
    """Stop the machine's Redis (no save: every queued message is lost) and start it
    again, always; returns the seconds it was down. Other tests need it back."""
    stopped = time.monotonic()
    try:
        subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True,
                       timeout=10)
        wait_until(lambda: not _redis_up(), 10, "Redis to stop", 0.1)
        time.sleep(down_seconds)
    finally:
        if not _redis_up():
            subprocess.run(REDIS_START, capture_output=True, timeout=30, check=False)
        wait_until(_redis_up, 30, "Redis to come back", 0.1)
    return time.monotonic() - stopped


def run_sweep(env: dict[str, str], minutes: int = 0) -> int:
    """Run the recovery sweep (beat runs it every 15 minutes) in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", "from chartvault.maintenance import requeue_stuck; "
                               f"print(requeue_stuck({minutes}))"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])
