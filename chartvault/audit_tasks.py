"""The daily audit anchor: the chain head written to the object store under retention.

An anchor is a small JSON object at ``audit/anchors/YYYY-MM-DD.json`` holding
the head's sequence number and hash, retained (S3 Object Lock COMPLIANCE, or
the filesystem store's own lock) for :data:`ANCHOR_RETENTION_YEARS`. Writing
the same day again adds a version; every version is checked by ``verify``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from io import BytesIO
from typing import TYPE_CHECKING

from chartvault import audit
from chartvault.celery_app import app
from chartvault.db import session_scope
from chartvault.errors import Unavailable
from chartvault.settings import Settings, get_settings

if TYPE_CHECKING:
    from archive import ObjectStore

log = logging.getLogger(__name__)

# HIPAA keeps audit documentation six years; the anchors outlive the charts' own
# retention when that is longer.
ANCHOR_RETENTION_YEARS = 6


def _store(settings: Settings) -> ObjectStore:
    from archive import open_store

    return open_store(settings)


def write_anchor(settings: Settings, store: ObjectStore | None = None,
                 now: datetime | None = None, actor: str = "scheduler") -> audit.Anchor:
    """Write today's anchor of the committed chain head; returns it (with key and version).

    Raises StorageUnavailable (retryable) if the store is down. The anchor is
    recorded as an ``audit_anchor`` event afterwards (the next anchor covers it).
    """
    from archive import keys, ledger

    store = store or _store(settings)
    with session_scope(settings) as session:
        anchor = audit.current_anchor(session, now)
    years = max(ANCHOR_RETENTION_YEARS, settings.default_retention_years)
    key = keys.audit_anchor_key(anchor.day)
    info = ledger.put(store, key, BytesIO(anchor.to_json()), kind="anchor",
                      owner=ledger.Owner("audit", anchor.day.isoformat()),
                      content_type="application/json",
                      lock_until=anchor.day + timedelta(days=round(365.25 * years)))
    with session_scope(settings) as session:
        session.add(info)
        audit.record(session, actor, "audit_anchor", object_type="anchor", object_id=key,
                     detail={"seq": anchor.seq, "hash": anchor.hash,
                             "version": info.version_id})
    log.info("audit anchor written", extra={"seq": anchor.seq})
    return audit.Anchor(anchor.day, anchor.seq, anchor.hash, anchor.written_at, key,
                        info.version_id)


def load_anchors(store: ObjectStore) -> tuple[list[audit.Anchor], list[str]]:
    """Every version of every anchor in the store, and the problems met reading them."""
    from archive.keys import AUDIT_ANCHOR_PREFIX

    anchors, problems = [], []
    for info in store.list_versions(AUDIT_ANCHOR_PREFIX):
        try:
            with store.get(info.key, info.version_id) as stream:
                data = stream.read(1 << 16)
            anchors.append(audit.Anchor.from_json(data, key=info.key,
                                                  version_id=info.version_id))
        except ValueError as exc:
            problems.append(f"{info.key} version {info.version_id}: {exc}")
    return anchors, problems


def verify_all(settings: Settings, store: ObjectStore | None = None) -> audit.ChainReport:
    """The chain, its head and every anchor; an unreadable anchor is a problem too."""
    store = store or _store(settings)
    anchors, problems = load_anchors(store)
    with session_scope(settings) as session:
        report = audit.verify(session, anchors)
    if report.ok and problems:
        return audit.ChainReport(report.events, 0, "unreadable anchor: " + problems[0],
                                 report.anchors, report.head_seq, tuple(problems))
    return report


@app.task(name="chartvault.audit_anchor", acks_late=True, autoretry_for=(Unavailable,),
          retry_backoff=30, retry_backoff_max=1800, retry_jitter=True, max_retries=20)
def audit_anchor() -> int:
    """Beat task: write today's anchor; returns the anchored sequence number."""
    return write_anchor(get_settings()).seq
