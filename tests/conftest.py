"""Shared fixtures: an isolated CHARTVAULT_HOME per test, real servers when asked."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = (REPO.parent / "shared" / "samples").resolve()
if str(REPO) not in sys.path:  # tests/ is not an installed package: tests.support imports
    sys.path.insert(0, str(REPO))

# Tesseract single-threaded in every test process and every worker it spawns.
os.environ["OMP_THREAD_LIMIT"] = "1"


def _reset_caches() -> None:
    from chartvault.db import dispose_all
    from chartvault.settings import reset_settings_cache

    reset_settings_cache()
    dispose_all()
    for module, name in (("ocr.pipeline", "_store"), ("ocr.indexing", "index_for")):
        mod = __import__(module, fromlist=[name])
        getattr(mod, name).cache_clear()


@pytest.fixture
def cv_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh embedded installation under tmp_path; returns the variables set."""
    for key in list(os.environ):
        if key.startswith("CHARTVAULT_"):
            monkeypatch.delenv(key)
    env = {"CHARTVAULT_HOME": str(tmp_path / "home"), "CHARTVAULT_OCR_DPI": "200"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _reset_caches()
    yield env
    _reset_caches()


@pytest.fixture
def settings(cv_env: dict[str, str]):  # noqa: ANN201
    from chartvault.settings import get_settings

    return get_settings()


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture
def postgres_url() -> str:
    """A new, empty PostgreSQL database on 127.0.0.1:5432 (dropped afterwards)."""
    if not _port_open("127.0.0.1", 5432):
        pytest.fail("PostgreSQL is not listening on 127.0.0.1:5432 (this machine runs it)")
    import psycopg

    name = f"chartvault_test_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    from chartvault.db import dispose_all

    dispose_all()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    """A Redis database on 127.0.0.1:6379 picked at random and flushed afterwards."""
    if not _port_open("127.0.0.1", 6379):
        pytest.fail("Redis is not listening on 127.0.0.1:6379 (this machine runs it)")
    import redis

    db = 1 + uuid.uuid4().int % 14
    url = f"redis://127.0.0.1:6379/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def rgw():  # noqa: ANN201
    """One throw-away Ceph RGW on 127.0.0.1 for the whole session (about 13 s to start).

    Skips, naming the packages, where Ceph is not installed; fails (never skips)
    where it is installed but does not start.
    """
    from tests.support.rgw import APT_PACKAGES, RgwCluster, RgwStartError, missing_binaries

    missing = missing_binaries()
    if missing:
        pytest.skip(f"Ceph RGW not installed: missing {', '.join(missing)} "
                    f"(apt-get install {' '.join(APT_PACKAGES)})")
    cluster = RgwCluster()
    try:
        endpoint = cluster.start()
    except RgwStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield endpoint
    finally:
        cluster.stop()
