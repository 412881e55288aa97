"""A worker killed with SIGKILL mid-batch strands nothing (issue 21): every document is
indexed, once, within 2 minutes of a new worker starting. On the embedded queue main
gave a killed worker's messages back only through the requeue_stuck sweep, 41 minutes
on; on Redis only after the visibility timeout, an hour by default."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from chartvault.synthetic import ChartSpec, make_chart
from tests.support.faults import cli, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHARTS, PAGES = 8, 3
RECOVERY = 120  # seconds from the new worker's start


def _batch(folder: Path) -> Path:
    folder.mkdir()
    for n in range(CHARTS):
        spec = ChartSpec(mrn="TST000778", patient_name="TESTPATIENT, Kill B.",
                         date_of_birth=date(1961, 3, 4), doc_type="progress_notes",
                         service_date=date(2024, 1, 2), pages=PAGES, seed=100 + n,
                         paragraphs=1)
        make_chart(spec, folder / f"chart-{n}.pdf", fmt="pdf", dpi=150)
    return folder


def _kill_mid_batch_and_recover(env: dict[str, str], workers, folder: Path) -> None:  # noqa: ANN001
    from chartvault.db import session_scope
    from chartvault.models import Document, Page
    from chartvault.settings import get_settings

    settings = get_settings()
    first = workers(env)
    done = cli("ingest", str(folder), "--mrn", "TST000778", "--type", "progress_notes",
               "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr

    def pages_done() -> int:
        with session_scope(settings) as session:
            return session.scalar(select(func.count()).select_from(Page).where(
                Page.status == "done"))

    wait_until(lambda: pages_done() >= 3, 180, "the first pages")
    first.kill()
    assert pages_done() < CHARTS * PAGES, "the worker finished before it could be killed"
    restarted = time.monotonic()
    workers(env)

    def all_indexed() -> bool:
        with session_scope(settings) as session:
            statuses = session.scalars(select(Document.status)).all()
        return len(statuses) == CHARTS and all(s == "indexed" for s in statuses)

    wait_until(all_indexed, RECOVERY, "every document indexed after the new worker started")
    took = time.monotonic() - restarted
    with session_scope(settings) as session:
        pages = session.scalars(select(Page)).all()
        assert len(pages) == CHARTS * PAGES
        assert all(p.status == "done" and p.error is None for p in pages)
        # a page runs again only if the kill cut it off: at most the pool's 2 processes
        # each with a page, and the 2 x 2 prefetched ones that never started
        assert sum(p.attempts for p in pages) <= CHARTS * PAGES + 2
    print(f"\nall {CHARTS} documents indexed {took:.1f} s after the new worker started")


def test_embedded_queue_gives_a_killed_workers_messages_back(cv_env, workers, tmp_path):
    _kill_mid_batch_and_recover(cv_env, workers, _batch(tmp_path / "batch"))


def test_redis_gives_a_killed_workers_messages_back_with_the_default_timeout(
        cv_env, redis_url, workers, tmp_path, monkeypatch):
    from chartvault.settings import reset_settings_cache

    env = {**cv_env, "CHARTVAULT_BROKER_URL": redis_url}  # the default visibility timeout
    monkeypatch.setenv("CHARTVAULT_BROKER_URL", redis_url)
    reset_settings_cache()
    _kill_mid_batch_and_recover(env, workers, _batch(tmp_path / "batch"))
