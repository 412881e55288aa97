"""A real server (``chartvault serve``: cheroot, a Celery worker and beat) on a fresh
embedded install, driven by Debian's Chromium through Playwright (it cannot download its own)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_support import PASSWORDS

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh --test installs Debian's chromium")
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update"]}


@pytest.fixture(scope="session")
def base_url() -> None:
    """Overrides pytest-base-url's fixture (deprecated form under pytest 9); URLs are absolute."""
    return None


@dataclass
class LiveServer:
    url: str
    short_url: str  # the same install, served with a 3-second inactivity limit
    settings: object
    shots: Path

    def shot(self, page, name: str) -> Path:  # noqa: ANN001
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def _reset_caches() -> None:
    from chartvault.db import dispose_all
    from chartvault.settings import reset_settings_cache

    reset_settings_cache()
    dispose_all()
    for module, name in (("ocr.pipeline", "_store"), ("ocr.indexing", "index_for")):
        getattr(__import__(module, fromlist=[name]), name).cache_clear()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_serve(env: dict[str, str], log: Path) -> tuple[str, subprocess.Popen]:
    """``chartvault serve`` (cheroot; on the embedded queue also a worker and beat)."""
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chartvault", "serve", "--port", str(port)], env=env,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"chartvault serve exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return url, process
        except OSError:
            time.sleep(0.3)
    process.kill()
    pytest.fail("chartvault serve did not answer within 60 s")


def _stop(process: subprocess.Popen) -> None:
    # SIGTERM, as a service manager stops it: serve stops its worker and beat. (Not
    # SIGINT: a shell that runs this suite as a background job starts it with SIGINT
    # ignored, which every child inherits; each stop then waited out the 90 s.)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(90)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from chartvault.db import session_scope
    from chartvault.settings import get_settings
    from web import accounts

    root = tmp_path_factory.mktemp("browser")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("CHARTVAULT_"):
                mp.delenv(key)
        mp.setenv("CHARTVAULT_HOME", str(root / "home"))
        mp.setenv("CHARTVAULT_OCR_DPI", "150")
        _reset_caches()
        settings = get_settings()
        with session_scope(settings) as session:
            for name, password in PASSWORDS.items():
                accounts.add_user(session, name, name.replace("-", "_"), password, "test")
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        url, server = _start_serve(env, root / "serve.log")
        # The same install served with a 3-second inactivity limit, set as an operator would.
        short_url, short_server = _start_serve(
            {**env, "CHARTVAULT_SESSION_TIMEOUT_MINUTES": "0.05"}, root / "serve-short.log")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            yield LiveServer(url, short_url, settings, SCREENSHOTS)
        finally:
            _stop(short_server)
            _stop(server)
            _reset_caches()
