"""What intake writes: batches, intake files, archived documents, quarantine entries.

Every write of an original goes to the object store first and the catalog row
after it (DESIGN rule 1); every catalog write here is its own short transaction
with its audit event in it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from archive import keys, ledger
from archive.ledger import Owner
from chartvault import audit
from chartvault.db import session_scope
from chartvault.errors import BadInput, ChartvaultError
from chartvault.models import Batch, Document, Patient, QuarantineEntry, new_id, utcnow
from chartvault.policy import Facts, decide, load_policy
from chartvault.settings import Settings
from ingest.files import extension_for
from ingest.interface import FileOutcome, IntakeOptions
from ingest.models import IntakeFile
from ingest.patients import Metadata, register_patient
from ocr.interface import SourceInfo

if TYPE_CHECKING:
    from ingest.service import _Intake

log = logging.getLogger(__name__)
_FINAL = {"queued": "archived", "duplicate": "duplicate", "quarantined": "quarantined",
          "failed": "failed"}


def retain_until_default(settings: Settings, today: date | None = None) -> date:
    """Retention of a record whose facts are incomplete at intake, until they arrive."""
    today = today or ledger.today_utc()
    return today + timedelta(days=round(365.25 * settings.default_retention_years))


@dataclass(frozen=True)
class IntakeRetention:
    """What intake decides for a new record: its policy date and the store's lock."""

    retain_until: date
    basis: str  # "policy", or "intake_default" when the facts are incomplete
    retention_class: str
    rule: str | None
    trigger: str | None
    trigger_date: date | None
    policy_version: str
    lock_until: date | None  # None: stored unlocked (its retention ended before the scan)

    def columns(self) -> dict[str, Any]:
        """The document's retention columns."""
        return {"retain_until": self.retain_until, "retention_basis": self.basis,
                "retention_class": self.retention_class, "retention_rule": self.rule,
                "retention_trigger": self.trigger,
                "retention_trigger_date": self.trigger_date,
                "policy_version": self.policy_version, "locked_until": self.lock_until}


def intake_retention(ctx: _Intake, meta: Metadata) -> IntakeRetention:
    """The policy's own date for this record from its facts (type, service date, the
    patient's birth, death and last encounter): the decision ``retention.apply`` makes.
    A record whose facts are incomplete gets ``CHARTVAULT_DEFAULT_RETENTION_YEARS``
    from today, to be replaced by its policy date once they arrive. The store locks it
    until that date, at least ``CHARTVAULT_MINIMUM_RETENTION_DAYS`` from today, and not
    at all when the date has passed (it is due at the next sweep)."""
    if ctx.policy is None:
        ctx.policy = load_policy(ctx.settings)
    with session_scope(ctx.settings) as session:
        patient = session.get(Patient, meta.mrn)
        known = patient.last_encounter if patient else None
        birth = (patient.date_of_birth if patient else None) or meta.date_of_birth
        death = patient.date_of_death if patient else None
    seen = [d for d in (known, meta.service_date) if d]
    decision = decide(ctx.policy, Facts(
        doc_type=meta.doc_type.name, retention_class=meta.doc_type.retention_class,
        service_date=meta.service_date, last_encounter=max(seen) if seen else None,
        date_of_birth=birth, date_of_death=death))
    today = ledger.today_utc()
    until, basis = decision.retain_until, "policy"
    if until is None:
        until, basis = retain_until_default(ctx.settings, today), "intake_default"
    minimum = today + timedelta(days=ctx.settings.minimum_retention_days)
    lock = max(until, minimum)
    return IntakeRetention(
        retain_until=until, basis=basis, retention_class=decision.retention_class,
        rule=decision.rule if basis == "policy" else None,
        trigger=decision.trigger, trigger_date=decision.trigger_date,
        policy_version=ctx.policy.version, lock_until=lock if lock > today else None)


def open_batch(settings: Settings, options: IntakeOptions, files: int) -> str:
    with session_scope(settings) as session:
        batch = Batch(id=new_id(), created_by=options.actor, source=options.source)
        session.add(batch)
        audit.record(session, options.actor, "upload", object_type="batch", object_id=batch.id,
                     client=options.client, detail={"files": files, "source": options.source})
        return batch.id


def close_batch(settings: Settings, batch_id: str) -> None:
    with session_scope(settings) as session:
        batch = session.get(Batch, batch_id)
        if batch is not None:
            batch.status = "done"


def start_file(ctx: _Intake, name: str, origin: str | None) -> str:
    with session_scope(ctx.settings) as session:
        record = IntakeFile(id=new_id(), batch_id=ctx.batch_id, filename=name, origin=origin,
                            status="received", pages=0, parts=[])
        session.add(record)
        return record.id


def note_file(settings: Settings, record: str, **facts: Any) -> None:
    with session_scope(settings) as session:
        row = session.get(IntakeFile, record)
        for key, value in facts.items():
            setattr(row, key, value)


def finish_file(settings: Settings, record: str, outcomes: list[FileOutcome]) -> None:
    """The file's status and parts; a split stack is ``split`` whatever its parts became."""
    with session_scope(settings) as session:
        row = session.get(IntakeFile, record)
        row.parts = [{k: v for k, v in (
            ("pages", o.page_range), ("status", o.status), ("document_id", o.document_id),
            ("quarantine_id", o.quarantine_id), ("duplicate_of", o.duplicate_of),
            ("code", o.code), ("reason", o.reason)) if v is not None} for o in outcomes]
        if row.object_key:  # the stack was archived and split
            row.status = "split"
        else:
            first = outcomes[0] if outcomes else None
            row.status = _FINAL.get(first.status, "failed") if first else "failed"
            row.code = first.code if first else None
            row.reason = first.reason if first else None


def duplicate_of(settings: Settings, sha256: str, record: str | None,
                 documents_only: bool = False) -> tuple[str, str] | None:
    """(document id, reason) when these bytes are already archived, as a document or as
    a stack that was split into documents; None otherwise."""
    with session_scope(settings) as session:
        existing = session.scalar(select(Document.id).where(
            Document.sha256 == sha256, Document.destroyed_at.is_(None)).limit(1))
        if existing:
            return existing, f"same bytes as document {existing}, already archived"
        if documents_only:
            return None
        stack = session.scalar(select(IntakeFile).where(
            IntakeFile.sha256 == sha256, IntakeFile.status == "split",
            IntakeFile.id != (record or "")).limit(1))
        if stack is None:
            return None
        made = [p["document_id"] for p in stack.parts if p.get("document_id")]
        return (made[0] if made else stack.id,
                f"same bytes as {stack.filename} of batch {stack.batch_id}, already split into "
                f"document(s) {', '.join(made) or 'none'}")


def archive_stack(ctx: _Intake, record: str, path: Path, info: SourceInfo, sha256: str) -> None:
    """Keep the uploaded stack, separator sheets and all, while it is split: an intake
    artifact, locked ``CHARTVAULT_INTAKE_LOCK_HOURS`` and deleted once every part is
    archived and indexed (``ingest.artifacts``), so that no stored object holds pages of
    more than one record once intake is done."""
    key = keys.stack_key(ctx.batch_id, record, extension_for(info.kind))
    hours = ctx.settings.intake_lock_hours
    lock = utcnow() + timedelta(hours=hours) if hours else None
    stored = ledger.put(ctx.store, key, path, kind="stack", owner=Owner("intake_file", record),
                        content_type=info.mime, expected_sha256=sha256, lock_until=lock)
    with session_scope(ctx.settings) as session:
        session.add(stored)
        row = session.get(IntakeFile, record)
        # "split" only once every part is done (finish_file): a stack cut off half-way
        # by a crash is not a duplicate of itself when the hot folder retries it.
        row.status, row.object_key, row.object_version = "splitting", key, stored.version_id
        audit.record(session, ctx.options.actor, "archive", object_type="intake_file",
                     object_id=record, client=ctx.options.client,
                     detail={"batch": ctx.batch_id, "sha256": sha256, "pages": info.page_count,
                             "stack": True})


def archive_document(ctx: _Intake, path: Path, name: str, info: SourceInfo, sha256: str,
                     size: int, meta: Metadata, record: str | None,
                     page_range: str | None) -> str:
    document_id = new_id()
    retention = intake_retention(ctx, meta)
    key = keys.original_key(document_id, sha256, extension_for(info.kind))
    stored = ledger.put(ctx.store, key, path, kind="original", owner=Owner.document(document_id),
                        content_type=info.mime, expected_sha256=sha256,
                        lock_until=retention.lock_until)
    # Only now that the original is durable does the catalog learn of it.
    with session_scope(ctx.settings) as session:
        register_patient(session, meta)
        session.add(Document(
            id=document_id, batch_id=ctx.batch_id, mrn=meta.mrn, doc_type=meta.doc_type.name,
            service_date=meta.service_date, facility=meta.facility, filename=name,
            mime=info.mime, original_key=key, original_version=stored.version_id,
            sha256=sha256, size=size, page_count=info.page_count, status="received",
            **retention.columns()))
        session.flush()
        session.add(stored)
        audit.record(session, ctx.options.actor, "archive", object_type="document",
                     object_id=document_id, mrn=meta.mrn, client=ctx.options.client,
                     detail={"batch": ctx.batch_id, "sha256": sha256, "pages": info.page_count,
                             "intake_file": record, "source_pages": page_range,
                             "retain_until": retention.retain_until.isoformat(),
                             "retention_basis": retention.basis,
                             "locked_until": retention.lock_until.isoformat()
                             if retention.lock_until else None})
    return document_id


def quarantine(ctx: _Intake, path: Path | None, name: str, error: BadInput, *,
               keep_bytes: bool = False, intake_file: str | None = None,
               sha256: str | None = None, page_range: str | None = None,
               suggested: dict | None = None) -> FileOutcome:
    """A quarantine entry with its reason; the bytes kept (not under retention) so a
    clerk can correct the metadata and release them."""
    entry_id = new_id()
    key = version = None
    size = _size(path)
    stored = None
    if keep_bytes and path is not None and size:
        key = keys.quarantine_key(entry_id)
        try:
            stored = ledger.put(ctx.store, key, path, kind="quarantine",
                                owner=Owner("quarantine", entry_id), expected_sha256=sha256)
            version, sha256 = stored.version_id, stored.sha256
        except (ChartvaultError, OSError):
            log.warning("quarantined bytes not kept", extra={"batch_id": ctx.batch_id})
            key = None
    detail = {"intake_file": intake_file, "pages": page_range,
              "suggested": {k: v for k, v in (suggested or {}).items() if v}}
    with session_scope(ctx.settings) as session:
        session.add(QuarantineEntry(id=entry_id, batch_id=ctx.batch_id, filename=name[:255],
                                    code=error.code, reason=error.message, sha256=sha256,
                                    size=size, object_key=key, object_version=version,
                                    detail={k: v for k, v in detail.items() if v}))
        if stored is not None:
            session.add(stored)
        audit.record(session, ctx.options.actor, "quarantine", object_type="quarantine",
                     object_id=entry_id, client=ctx.options.client,
                     detail={"batch": ctx.batch_id, "code": error.code})
    return FileOutcome(name, "quarantined", sha256=sha256, code=error.code, reason=error.message,
                       quarantine_id=entry_id, page_range=page_range, intake_file_id=intake_file)


def _size(path: Path | None) -> int | None:
    try:
        return path.stat().st_size if path is not None else None
    except OSError:
        return None


def resolve_entry(settings: Settings, entry_id: str, actor: str, resolution: str,
                  detail: dict) -> None:
    with session_scope(settings) as session:
        entry = session.get(QuarantineEntry, entry_id)
        entry.resolved_at, entry.resolved_by, entry.resolution = utcnow(), actor, resolution
        entry.detail = {**(entry.detail or {}), **detail}
        audit.record(session, actor, f"quarantine_{resolution}", object_type="quarantine",
                     object_id=entry_id, detail={"batch": entry.batch_id, **detail})
