"""A worker killed with SIGKILL in the middle of a 20-page chart: the chart completes
once a worker is back, and every page is done exactly once."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from chartvault.synthetic import ChartSpec, make_chart
from tests.support.faults import ingest_json, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAGES = 20


def _chart(folder: Path) -> Path:
    spec = ChartSpec(mrn="TST000777", patient_name="TESTPATIENT, Kill Q.",
                     date_of_birth=date(1961, 3, 4), doc_type="progress_notes",
                     service_date=date(2024, 1, 2), pages=PAGES, seed=7, paragraphs=1)
    return make_chart(spec, folder / "twenty.pdf", fmt="pdf", dpi=150).path


def test_sigkill_mid_chart_completes_every_page_once(server_env, workers, tmp_path) -> None:  # noqa: ANN001
    from chartvault.db import session_scope
    from chartvault.models import Document, Page, StoredObject
    from chartvault.settings import get_settings

    settings = get_settings()
    first = workers(server_env)
    report = ingest_json(_chart(tmp_path), server_env, "TST000777")
    document_id = report["documents"][0]["id"]

    def pages_done() -> int:
        with session_scope(settings) as session:
            return session.scalar(select(func.count()).select_from(Page).where(
                Page.document_id == document_id, Page.status == "done"))

    wait_until(lambda: pages_done() >= 4, 120, "the first pages")
    first.kill()
    killed_at, done_at_kill = time.monotonic(), pages_done()
    assert done_at_kill < PAGES, "the worker finished before it could be killed"
    with session_scope(settings) as session:
        interrupted = session.scalar(select(func.count()).select_from(Page).where(
            Page.document_id == document_id, Page.status == "pending", Page.attempts > 0))
    # Redis gives an unacknowledged message back once the visibility timeout has passed;
    # a worker starting after that restores them at once.
    time.sleep(max(0.0, killed_at + 5.5 - time.monotonic()))
    workers(server_env)

    def indexed() -> bool:
        with session_scope(settings) as session:
            return session.get(Document, document_id).status == "indexed"

    wait_until(indexed, 150, "the chart to complete after the restart")
    recovery = time.monotonic() - killed_at
    with session_scope(settings) as session:
        pages = list(session.scalars(select(Page).where(Page.document_id == document_id)
                                     .order_by(Page.number)))
        assert [p.number for p in pages] == list(range(1, PAGES + 1))
        assert all(p.status == "done" and p.error is None for p in pages)
        # a page is re-run only if it was cut off mid-OCR; a finished page never again
        assert sum(p.attempts for p in pages) <= PAGES + interrupted + 2
        duplicates = session.execute(select(StoredObject.key, func.count()).where(
            StoredObject.document_id == document_id).group_by(StoredObject.key)
            .having(func.count() > 1)).all()
        assert duplicates == []
        kinds = dict(session.execute(select(StoredObject.kind, func.count()).where(
            StoredObject.document_id == document_id).group_by(StoredObject.kind)).all())
        assert kinds["page-pdf"] == PAGES and kinds["page-words"] == PAGES
        assert kinds["original"] == 1 and kinds["pdf"] == 1
    print(f"\nkilled with {done_at_kill}/{PAGES} pages done, {interrupted} interrupted; "
          f"complete {recovery:.1f} s after the kill")
