"""Fixtures for the fault tests: PostgreSQL + Redis settings, worker processes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(_ROOT))

from tests.support.faults import Worker  # noqa: E402


@pytest.fixture
def server_env(cv_env: dict[str, str], postgres_url: str, redis_url: str,
               monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """PostgreSQL catalog + Redis broker; a 5 s visibility timeout so that messages of a
    killed worker come back quickly (production: 3600 s)."""
    from chartvault.settings import reset_settings_cache

    env = {**cv_env, "CHARTVAULT_DATABASE_URL": postgres_url,
           "CHARTVAULT_BROKER_URL": redis_url, "CHARTVAULT_BROKER_VISIBILITY_TIMEOUT": "5",
           "CHARTVAULT_OCR_DPI": "150"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    return env


@pytest.fixture
def workers(tmp_path: Path):  # noqa: ANN201
    """Start workers with ``workers(env)``; all are stopped (or killed) afterwards."""
    started: list[Worker] = []

    def start(env: dict[str, str], concurrency: int = 2, name: str = "worker") -> Worker:
        worker = Worker(env, tmp_path / f"{name}-{len(started)}.log", concurrency)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


