"""Audit anchors: the chain head written to the object store under retention.

An anchor is a small JSON object at ``audit/anchors/YYYY-MM-DD.json`` holding
the head's sequence number and hash, retained (S3 Object Lock COMPLIANCE, or
the filesystem store's own authenticated lock) for :data:`ANCHOR_RETENTION_YEARS`.
One is written when the scheduler starts, every hour, and after every destruction;
writing the same day again adds a version; every version is checked by ``verify``.

Each anchor is also an ``audit_anchor`` event naming its key and version, so the
chain itself says which anchors must exist: ``verify`` fails when one of them is
missing from the store (moved away to hide an edit), and reports how many events
follow the last anchor. With ``CHARTVAULT_AUDIT_ANCHOR_EXPORT`` each anchor is also
sent to a place the site controls (syslog, or a file), beyond the reach of whoever
can write the database and the store.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from datetime import datetime, timedelta
from io import BytesIO
from typing import TYPE_CHECKING

from sqlalchemy import select

from chartvault import audit
from chartvault.celery_app import app
from chartvault.db import session_scope
from chartvault.errors import Unavailable
from chartvault.models import AuditEvent
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
    detail = {"seq": anchor.seq, "hash": anchor.hash, "version": info.version_id}
    try:
        export_anchor(settings, anchor, key, info.version_id)
    except OSError as exc:  # the store has it; the second copy failed: on record, loudly
        log.error("audit anchor export failed", extra={"error": str(exc)})
        detail["export_failed"] = str(exc)[:200]
    with session_scope(settings) as session:
        session.add(info)
        audit.record(session, actor, "audit_anchor", object_type="anchor", object_id=key,
                     detail=detail)
    log.info("audit anchor written", extra={"seq": anchor.seq})
    return audit.Anchor(anchor.day, anchor.seq, anchor.hash, anchor.written_at, key,
                        info.version_id)


def export_anchor(settings: Settings, anchor: audit.Anchor, key: str,
                  version_id: str) -> None:
    """The anchor's second copy per ``audit_anchor_export`` (OSError when it fails)."""
    target = settings.audit_anchor_export
    if not target:
        return
    line = json.dumps({"format": audit.ANCHOR_FORMAT, "seq": anchor.seq, "hash": anchor.hash,
                       "day": anchor.day.isoformat(), "written_at": anchor.written_at.isoformat(),
                       "key": key, "version": version_id}, sort_keys=True)
    if target == "syslog":
        import syslog

        syslog.openlog("chartvault", 0, syslog.LOG_AUTH)
        syslog.syslog(syslog.LOG_NOTICE, "audit anchor " + line)
        return
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


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
    """The chain, its head and every anchor; an unreadable anchor is a problem too, and
    so is an anchor the chain records (an ``audit_anchor`` event) that the store lacks."""
    store = store or _store(settings)
    anchors, problems = load_anchors(store)
    with session_scope(settings) as session:
        report = audit.verify(session, anchors)
        recorded = session.execute(
            select(AuditEvent.seq, AuditEvent.object_id, AuditEvent.detail)
            .where(AuditEvent.action == "audit_anchor", AuditEvent.seq <= report.head_seq)
            .order_by(AuditEvent.seq)).all()
    if not report.ok:
        return report
    if problems:
        return replace(report, first_broken_seq=0, problem="unreadable anchor: " + problems[0],
                       warnings=tuple(problems))
    found = {(a.key, a.version_id): a for a in anchors}
    for seq, key, detail in recorded:
        anchor = found.get((key, (detail or {}).get("version")))
        if anchor is None or (anchor.seq, anchor.hash) != ((detail or {}).get("seq"),
                                                           (detail or {}).get("hash")):
            return replace(report, first_broken_seq=seq, problem=(
                f"the anchor event {seq} records ({key} version {(detail or {}).get('version')})"
                f" is {'missing from' if anchor is None else 'different in'} the store: "
                "events after the anchors still in the store may have been edited"))
    return report


@app.task(name="chartvault.audit_anchor", acks_late=True, autoretry_for=(Unavailable,),
          retry_backoff=30, retry_backoff_max=1800, retry_jitter=True, max_retries=20)
def audit_anchor() -> int:
    """Beat task: write today's anchor; returns the anchored sequence number."""
    return write_anchor(get_settings()).seq
