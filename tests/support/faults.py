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


class TcpGate:
    """A TCP forwarder on 127.0.0.1 in front of a real server, which a test can close
    (connections refused, open ones cut) and open again on the same port: the server
    "going away" for the application without losing its data."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        import socket
        import threading

        self._socket, self._threading = socket, threading
        self.upstream = (upstream_host, upstream_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener = None
        self._open: set = set()
        self._lock = threading.Lock()
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        if self._listener is not None:
            return
        sock = self._socket.socket()
        try:
            sock.setsockopt(self._socket.SOL_SOCKET, self._socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        self._listener = sock
        self._threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:  # wakes the thread blocked in accept() (close alone does not)
                listener.shutdown(self._socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._lock:
            for conn in list(self._open):
                self._close(conn)
            self._open.clear()

    close = down

    def _close(self, conn) -> None:  # noqa: ANN001
        try:
            conn.shutdown(self._socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()

    def _accept(self, listener) -> None:  # noqa: ANN001
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = self._socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            for src, dst in ((client, server), (server, client)):
                self._threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst) -> None:  # noqa: ANN001
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                for conn in (src, dst):
                    if conn in self._open:
                        self._open.discard(conn)
                        self._close(conn)
