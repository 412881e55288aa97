"""Intake artifacts: scan stacks kept only while intake needs them.

A stack split on cover sheets holds pages of several records. It is kept (in the
object ledger, under ``CHARTVAULT_INTAKE_LOCK_HOURS``) until every one of its parts
holds its own copy: archived as a document that OCR has finished, a duplicate of
bytes already archived, quarantined with its own bytes, or resolved by a clerk.
Then it is deleted, and the intake file's row keeps its SHA-256 and which pages
went where (``parts``). Until then, destruction waits for it (DESIGN rule 8).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import ObjectLocked, ObjectStore, ledger
from archive.ledger import Owner
from chartvault import audit
from chartvault.db import session_scope
from chartvault.models import Document, QuarantineEntry, StoredObject
from chartvault.settings import Settings
from ingest.models import IntakeFile

log = logging.getLogger(__name__)
_ONE_DAY = timedelta(days=1)

# A part's document in one of these holds its pages itself: the stack is not needed.
SETTLED = ("indexed", "failed", "destroyed")


@dataclass(frozen=True)
class StackState:
    intake_file_id: str
    key: str
    documents: tuple[str, ...]  # the documents made of it
    waiting_for: str | None  # why it is still needed; None: it can go


def _live_stacks(session: Session, intake_file_ids: Iterable[str] | None = None
                 ) -> list[StoredObject]:
    query = select(StoredObject).where(StoredObject.owner_type == "intake_file",
                                       StoredObject.kind == "stack",
                                       StoredObject.deleted_at.is_(None))
    if intake_file_ids is not None:
        query = query.where(StoredObject.owner_id.in_(list(intake_file_ids)))
    return list(session.scalars(query.order_by(StoredObject.id)))


def _state(session: Session, row: StoredObject) -> StackState:
    record = session.get(IntakeFile, row.owner_id)
    parts = list(record.parts or []) if record is not None else []
    documents = tuple(p["document_id"] for p in parts if p.get("document_id"))
    why = None
    if record is None or record.status in ("splitting", "received", "staged"):
        why = "the stack is still being split"
    else:
        statuses = dict(session.execute(select(Document.id, Document.status).where(
            Document.id.in_(documents))).all()) if documents else {}
        unsettled = [d for d in documents if statuses.get(d) not in SETTLED]
        if unsettled:
            why = f"document {unsettled[0]} made of it is not yet indexed"
        for part in parts:
            entry_id = part.get("quarantine_id")
            if why or not entry_id:
                continue
            entry = session.get(QuarantineEntry, entry_id)
            if entry is not None and entry.resolved_at is None and not entry.object_key:
                why = (f"pages {part.get('pages')} are quarantined ({entry.code}) with no copy "
                       "of their own: release or discard them first")
    return StackState(row.owner_id, row.key, documents, why)


def stacks_holding(session: Session, document_ids: Iterable[str]) -> dict[str, StackState]:
    """The live stacks that still hold pages of ``document_ids``, by document id."""
    wanted = set(document_ids)
    found: dict[str, StackState] = {}
    for row in _live_stacks(session):
        state = _state(session, row)
        for document_id in wanted.intersection(state.documents):
            found[document_id] = state
    return found


def release_stacks(settings: Settings, store: ObjectStore, *, actor: str = "system",
                   intake_file_ids: Iterable[str] | None = None) -> list[str]:
    """Delete every stack (or those of ``intake_file_ids``) that intake no longer needs
    and whose short lock has ended; returns the keys deleted. Idempotent; a stack the
    store still locks is left for the next sweep."""
    deleted: list[str] = []
    with session_scope(settings) as session:
        rows = [(row.id, _state(session, row)) for row in _live_stacks(session, intake_file_ids)]
    for row_id, state in rows:
        if state.waiting_for:
            continue
        with session_scope(settings) as session:
            row = session.get(StoredObject, row_id)
            # The ledger rounds a lock up to its next midnight: the store decides the rest.
            if row is None or row.deleted_at is not None or ledger.blocker(
                    row, today=ledger.today_utc() + _ONE_DAY):
                continue
            try:
                gone = ledger.delete(store, row)
            except ObjectLocked:
                continue  # the lock has a few hours left: the next sweep
            audit.record(session, actor, "intake_artifact_delete", object_type="intake_file",
                         object_id=state.intake_file_id,
                         detail={"key": gone["key"], "version": gone["version"],
                                 "sha256": gone["sha256"], "documents": list(state.documents)})
            deleted.append(state.key)
    if deleted:
        log.info("scan stacks deleted", extra={"count": len(deleted)})
    return deleted


def release_stack_of(settings: Settings, store: ObjectStore, document_id: str) -> list[str]:
    """After ``document_id`` settles: delete its stack if nothing else needs it."""
    with session_scope(settings) as session:
        holding = stacks_holding(session, [document_id])
    if not holding:
        return []
    return release_stacks(settings, store,
                          intake_file_ids=[s.intake_file_id for s in holding.values()])


def discard_quarantined(settings: Settings, store: ObjectStore, entry_id: str) -> dict | None:
    """Delete a quarantine entry's kept bytes (ledger and store); what was deleted."""
    with session_scope(settings) as session:
        row = ledger.find(session, Owner("quarantine", entry_id), "quarantine")
        if row is None:
            return None
        return ledger.delete(store, row)
