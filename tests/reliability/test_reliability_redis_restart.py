"""Redis restarted (and emptied: no persistence) in the middle of a batch: the batch
completes, from the catalog, through the recovery sweep."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from chartvault.synthetic import ChartSpec, make_chart
from tests.support.faults import ingest_json, restart_redis, run_sweep, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _batch(folder: Path) -> Path:
    folder.mkdir()
    for i in range(3):
        spec = ChartSpec(mrn="TST000888", patient_name="SAMPLEPERSON, Redis Q.",
                         date_of_birth=date(1955, 5, 6), doc_type="consultation",
                         service_date=date(2023, 2, 3), pages=4, seed=30 + i, paragraphs=1)
        make_chart(spec, folder / f"chart-{i}.pdf", fmt="pdf", dpi=150)
    return folder


def test_redis_restart_mid_batch_completes(server_env, workers, tmp_path) -> None:  # noqa: ANN001
    from chartvault.db import session_scope
    from chartvault.models import Document, Page
    from chartvault.settings import get_settings

    settings = get_settings()
    workers(server_env)
    report = ingest_json(_batch(tmp_path / "batch"), server_env, "TST000888")
    ids = [d["id"] for d in report["documents"]]
    assert len(ids) == 3

    def done_pages() -> int:
        with session_scope(settings) as session:
            return session.scalar(select(func.count()).select_from(Page).where(
                Page.document_id.in_(ids), Page.status == "done"))

    wait_until(lambda: done_pages() >= 2, 120, "the first pages")
    down = restart_redis(1.0)
    at_restart = done_pages()
    started = time.monotonic()
    # The queue is gone with Redis; the catalog knows what is unfinished.
    run_sweep(server_env, minutes=0)

    def all_indexed() -> bool:
        with session_scope(settings) as session:
            statuses = session.scalars(select(Document.status).where(Document.id.in_(ids)))
            return all(s == "indexed" for s in statuses)

    wait_until(all_indexed, 150, "the batch to complete")
    with session_scope(settings) as session:
        rows = session.execute(select(Page.document_id, Page.number, Page.status).where(
            Page.document_id.in_(ids))).all()
    assert len(rows) == 12 and len({(d, n) for d, n, _ in rows}) == 12
    assert all(status == "done" for _, _, status in rows)
    print(f"\nRedis down {down:.1f} s with {at_restart}/12 pages done; batch complete "
          f"{time.monotonic() - started:.1f} s after the sweep")
