"""Drift between the catalog and the index: nightly and ``chartvault search-check``."""

from __future__ import annotations

from sqlalchemy import select

from chartvault import audit
from chartvault.celery_app import app
from chartvault.db import session_scope
from chartvault.models import Document
from chartvault.settings import Settings, get_settings
from search import open_index
from search.drift import DriftReport, check_drift


def run_search_check(settings: Settings, sample: int, actor: str) -> DriftReport:
    """Compare the indexed documents of the catalog with the index; audit the outcome."""
    with session_scope(settings) as session:
        ids = set(session.scalars(select(Document.id).where(
            Document.status == "indexed", Document.destroyed_at.is_(None))))
    index = open_index(settings)
    try:
        report = check_drift(index, ids, sample)
    finally:
        index.close()
    with session_scope(settings) as session:
        audit.record(session, actor, "search_check", object_type="index",
                     detail={"catalog": report.catalog_count, "index": report.index_count,
                             "missing": report.missing_count, "unknown": report.unknown_count})
    return report


@app.task(name="chartvault.search_check", acks_late=True)
def search_check(sample: int = 50) -> dict:
    report = run_search_check(get_settings(), sample, "scheduler")
    return {"ok": report.ok, "missing": report.missing_count, "unknown": report.unknown_count}
