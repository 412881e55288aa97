"""Intake of a batch: validate, hash, dedupe, archive the original, commit, enqueue.

Promise (DESIGN rule 1): a document is acknowledged only after its original is
in the object store and its catalog row is committed; OCR is enqueued after the
commit. A bad file becomes a quarantine entry with its reason and never stops
the rest of the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import ObjectStore, StorageUnavailable, keys
from chartvault import audit
from chartvault.db import session_scope
from chartvault.errors import BadInput, ChartvaultError
from chartvault.models import Batch, Document, Patient, QuarantineEntry, StoredObject, new_id
from chartvault.settings import Settings
from ingest.files import display_name, extension_for, sha256_of
from ingest.patients import validate_mrn
from ocr.interface import SourceInfo
from ocr.service import inspect

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeOptions:
    actor: str
    source: str = "cli"  # cli | web | api | hotfolder
    mrn: str | None = None
    doc_type: str | None = None
    service_date: date | None = None
    facility: str = ""
    patient_name: str = ""
    date_of_birth: date | None = None


@dataclass(frozen=True)
class IncomingFile:
    path: Path
    name: str  # as the uploader named it; never used as a path


@dataclass(frozen=True)
class FileOutcome:
    filename: str
    status: str  # queued | duplicate | quarantined | failed
    document_id: str | None = None
    mrn: str | None = None
    doc_type: str | None = None
    sha256: str | None = None
    pages: int = 0
    code: str | None = None
    reason: str | None = None
    duplicate_of: str | None = None


@dataclass(frozen=True)
class IntakeResult:
    batch_id: str
    outcomes: tuple[FileOutcome, ...] = field(default_factory=tuple)

    @property
    def queued_ids(self) -> list[str]:
        return [o.document_id for o in self.outcomes if o.status == "queued" and o.document_id]


def retain_until_default(settings: Settings, today: date | None = None) -> date:
    """Initial retention until the retention policy applies its own (it only extends)."""
    today = today or date.today()
    return today + timedelta(days=round(365.25 * settings.default_retention_years))


def ingest_files(settings: Settings, store: ObjectStore, files: Sequence[IncomingFile],
                 options: IntakeOptions, enqueue) -> IntakeResult:  # noqa: ANN001
    """Take in every file; ``enqueue(document_id)`` is called after each commit."""
    with session_scope(settings) as session:
        batch = Batch(id=new_id(), created_by=options.actor, source=options.source)
        session.add(batch)
        audit.record(session, options.actor, "upload", object_type="batch", object_id=batch.id,
                     detail={"files": len(files), "source": options.source})
    outcomes = []
    for incoming in files:
        outcome = _take_one(settings, store, batch.id, incoming, options)
        if outcome.status == "queued" and outcome.document_id:
            enqueue(outcome.document_id)
        outcomes.append(outcome)
    return IntakeResult(batch_id=batch.id, outcomes=tuple(outcomes))


def _take_one(settings: Settings, store: ObjectStore, batch_id: str, incoming: IncomingFile,
              options: IntakeOptions) -> FileOutcome:
    name = display_name(incoming.name)
    try:
        sha256, size = sha256_of(incoming.path)
    except OSError as exc:
        return _quarantine(settings, store, batch_id, incoming, name,
                           BadInput(f"cannot read the file: {exc.strerror}", code="unreadable"))
    try:
        info = inspect(incoming.path, settings)
        mrn = validate_mrn(options.mrn, settings)
        doc_type = (options.doc_type or "").strip().lower() or "unspecified"
    except BadInput as exc:
        return _quarantine(settings, store, batch_id, incoming, name, exc, sha256, size)
    with session_scope(settings) as session:
        existing = _existing(session, sha256)
    if existing:
        return FileOutcome(name, "duplicate", mrn=mrn, doc_type=doc_type, sha256=sha256,
                           duplicate_of=existing, code="duplicate",
                           reason=f"same bytes as document {existing}")
    try:
        return _archive(settings, store, batch_id, incoming, name, info, sha256, size, mrn,
                        doc_type, options)
    except ChartvaultError as exc:
        log.warning("file not archived", extra={"batch_id": batch_id, "code": exc.code})
        return FileOutcome(name, "failed", mrn=mrn, doc_type=doc_type, sha256=sha256,
                           code=exc.code, reason=exc.message)


def _existing(session: Session, sha256: str) -> str | None:
    return session.scalar(select(Document.id).where(
        Document.sha256 == sha256, Document.destroyed_at.is_(None)).limit(1))


def _archive(settings: Settings, store: ObjectStore, batch_id: str, incoming: IncomingFile,
             name: str, info: SourceInfo, sha256: str, size: int, mrn: str, doc_type: str,
             options: IntakeOptions) -> FileOutcome:
    document_id = new_id()
    retain = retain_until_default(settings)
    key = keys.original_key(document_id, sha256, extension_for(info.kind))
    with incoming.path.open("rb") as stream:
        stored = store.put(key, stream, content_type=info.mime, expected_sha256=sha256,
                           retain_until=_midnight(retain))
    # Only now that the original is durable does the catalog learn of it.
    with session_scope(settings) as session:
        _register_patient(session, mrn, options)
        session.add(Document(
            id=document_id, batch_id=batch_id, mrn=mrn, doc_type=doc_type,
            service_date=options.service_date, facility=options.facility, filename=name,
            mime=info.mime, original_key=key, original_version=stored.version_id,
            sha256=sha256, size=size, page_count=info.page_count, retain_until=retain,
            status="received"))
        session.add(StoredObject(document_id=document_id, kind="original", key=key,
                                 version_id=stored.version_id, sha256=stored.sha256,
                                 size=stored.size, content_type=info.mime, retain_until=retain))
        audit.record(session, options.actor, "archive", object_type="document",
                     object_id=document_id, mrn=mrn,
                     detail={"batch": batch_id, "sha256": sha256, "pages": info.page_count})
    return FileOutcome(name, "queued", document_id=document_id, mrn=mrn, doc_type=doc_type,
                       sha256=sha256, pages=info.page_count)


def _register_patient(session: Session, mrn: str, options: IntakeOptions) -> None:
    patient = session.get(Patient, mrn)
    if patient is None:
        session.add(Patient(mrn=mrn, name=options.patient_name,
                            date_of_birth=options.date_of_birth))
        session.flush()
        return
    if options.patient_name and not patient.name:
        patient.name = options.patient_name
    if options.date_of_birth and not patient.date_of_birth:
        patient.date_of_birth = options.date_of_birth


def _quarantine(settings: Settings, store: ObjectStore, batch_id: str, incoming: IncomingFile,
                name: str, error: BadInput, sha256: str | None = None,
                size: int | None = None) -> FileOutcome:
    entry_id = new_id()
    key = version = None
    if size:  # keep the bad bytes so a clerk can inspect, correct and release them
        key = keys.validate_key(f"quarantine/{entry_id}")
        try:
            with incoming.path.open("rb") as stream:
                version = store.put(key, stream, expected_sha256=sha256).version_id
        except (ChartvaultError, OSError):
            key = None
    with session_scope(settings) as session:
        session.add(QuarantineEntry(id=entry_id, batch_id=batch_id, filename=name,
                                    code=error.code, reason=error.message, sha256=sha256,
                                    size=size, object_key=key, object_version=version))
        audit.record(session, "system", "quarantine", object_type="quarantine",
                     object_id=entry_id, detail={"batch": batch_id, "code": error.code})
    return FileOutcome(name, "quarantined", sha256=sha256, code=error.code,
                       reason=error.message)


def _midnight(day: date):  # noqa: ANN202
    from datetime import UTC, datetime, time

    return datetime.combine(day, time(0), tzinfo=UTC)


__all__ = ["IncomingFile", "IntakeOptions", "IntakeResult", "FileOutcome", "ingest_files",
           "StorageUnavailable"]
