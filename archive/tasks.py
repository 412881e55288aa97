"""Fixity over the catalog: re-read what the catalog says is stored, nightly and on demand."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from archive import open_store
from archive.fixity import ExpectedObject, FixityReport, verify
from chartvault import audit
from chartvault.celery_app import app
from chartvault.db import session_scope
from chartvault.models import StoredObject
from chartvault.settings import Settings, get_settings


def _expected(settings: Settings) -> Iterator[ExpectedObject]:
    with session_scope(settings) as session:
        rows = session.execute(
            select(StoredObject.key, StoredObject.version_id, StoredObject.sha256,
                   StoredObject.size).where(StoredObject.deleted_at.is_(None))
            .order_by(StoredObject.id).execution_options(yield_per=1000))
        for key, version_id, sha256, size in rows:
            yield ExpectedObject(key, version_id, sha256, size)


def run_fixity(settings: Settings, sample: int | None, actor: str) -> FixityReport:
    """Verify every recorded object (or a random sample) and audit the outcome."""
    report = verify(open_store(settings), list(_expected(settings)), sample)
    with session_scope(settings) as session:
        audit.record(session, actor, "fixity_check", object_type="store",
                     detail={"checked": report.checked, "bytes": report.bytes_read,
                             "missing": len(report.missing), "altered": len(report.altered),
                             "unreadable": len(report.unreadable),
                             "problems": [[p.kind, p.key, p.version_id]
                                          for p in report.problems[:100]]})
    return report


@app.task(name="chartvault.verify_fixity", acks_late=True)
def verify_fixity(sample: int | None = None) -> dict:
    report = run_fixity(get_settings(), sample, "scheduler")
    return {"checked": report.checked, "ok": report.ok}
