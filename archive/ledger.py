"""The object ledger: every object Chartvault writes goes through here.

:func:`put` writes one new version to the store and returns its ledger row
(``chartvault.models.StoredObject``: key, version, kind, owner, page, size,
SHA-256, the store's lock and hold). The row is not yet in a session: the caller
adds it in the same commit as its own catalog rows, so nothing is recorded
before the store has the bytes (DESIGN rule 1). Keys come from
:mod:`archive.keys` only; retention, holds, fixity, destruction and the viewer
read these rows and never parse a key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.interface import ObjectNotFound, ObjectStore
from chartvault.models import StoredObject, utcnow

# The latest retain-until sent to a store. Ceph RGW keeps object-lock times in
# 32-bit seconds (up to 2106): a later date wraps around into the past there and
# leaves the object unprotected. "Permanent" records get this date in the store
# (the catalog keeps 9999-12-31) and a later sweep can extend it.
STORE_LIMIT = date(2099, 12, 31)

OWNER_TYPES = ("document", "intake_file", "quarantine", "destruction", "audit")


@dataclass(frozen=True)
class Owner:
    """Whose object it is: a document, an intake file (stack or staged upload), a
    quarantine entry, a destruction (certificates) or the audit trail (anchors)."""

    type: str
    id: str

    def __post_init__(self) -> None:
        if self.type not in OWNER_TYPES:
            raise ValueError(f"unknown ledger owner type {self.type!r}")

    @classmethod
    def document(cls, document_id: str) -> Owner:
        return cls("document", document_id)


def today_utc() -> date:
    return datetime.now(UTC).date()


def store_date(day: date) -> date:
    return min(day, STORE_LIMIT)


def lock_datetime(day: date | datetime | None, *, today: date | None = None
                  ) -> datetime | None:
    """The store's retain-until for a catalog date (midnight UTC at its start), or None
    when the date is unknown or not in the future: such an object is stored unlocked.
    A datetime (an intake artifact's short lock) is taken as it is, if in the future."""
    if isinstance(day, datetime):
        return day if day > datetime.now(UTC) else None
    if day is None or store_date(day) <= (today or today_utc()):
        return None
    return datetime.combine(store_date(day), time(0), tzinfo=UTC)


def _lock_date(when: datetime) -> date:
    """The ledger's date of a lock: the day it ends, rounded up (a lock ending at 15:00
    counts as lasting until the next midnight: the check fails closed)."""
    day = when.astimezone(UTC).date()
    return day if when.astimezone(UTC).time() == time(0) else day + timedelta(days=1)


def put(store: ObjectStore, key: str, source: Path | BinaryIO, *, kind: str, owner: Owner,
        content_type: str = "application/octet-stream",
        lock_until: date | datetime | None = None,
        legal_hold: bool = False, page: int | None = None,
        expected_sha256: str | None = None) -> StoredObject:
    """Write ``source`` as a new version of ``key``; its ledger row, for the caller to add.

    ``lock_until`` is the retention lock's date (None, or a date not after today: no
    lock). Store errors pass through unchanged (nothing is recorded then).
    """
    until = lock_datetime(lock_until)
    if isinstance(source, Path):
        with source.open("rb") as stream:
            info = store.put(key, stream, content_type=content_type, retain_until=until,
                             legal_hold=legal_hold, expected_sha256=expected_sha256)
    else:
        info = store.put(key, source, content_type=content_type, retain_until=until,
                         legal_hold=legal_hold, expected_sha256=expected_sha256)
    return StoredObject(
        document_id=owner.id if owner.type == "document" else None, owner_type=owner.type,
        owner_id=owner.id, kind=kind, page=page, key=info.key, version_id=info.version_id,
        sha256=info.sha256, size=info.size, content_type=content_type,
        retain_until=_lock_date(until) if until else None, legal_hold=legal_hold)


def objects_of(session: Session, owner: Owner, *, kinds: Sequence[str] = (),
               page: int | None = None) -> list[StoredObject]:
    """The live (not deleted) ledger rows of ``owner``, oldest first."""
    if owner.type == "document":  # indexed, and what the catalog's relationship uses
        query = select(StoredObject).where(StoredObject.document_id == owner.id)
    else:
        query = select(StoredObject).where(StoredObject.owner_type == owner.type,
                                           StoredObject.owner_id == owner.id)
    query = query.where(StoredObject.deleted_at.is_(None))
    if kinds:
        query = query.where(StoredObject.kind.in_(list(kinds)))
    if page is not None:
        query = query.where(StoredObject.page == page)
    return list(session.scalars(query.order_by(StoredObject.id)))


def deleted_of(session: Session, owner: Owner) -> list[dict]:
    """What was deleted of ``owner`` (key, version, SHA-256, kind), oldest first."""
    column = (StoredObject.document_id if owner.type == "document"
              else StoredObject.owner_id)
    query = select(StoredObject).where(column == owner.id, StoredObject.deleted_at.is_not(None))
    if owner.type != "document":
        query = query.where(StoredObject.owner_type == owner.type)
    return [{"key": r.key, "version": r.version_id, "sha256": r.sha256, "kind": r.kind}
            for r in session.scalars(query.order_by(StoredObject.id))]


def find(session: Session, owner: Owner, kind: str, page: int | None = None
         ) -> StoredObject | None:
    """The newest live object of that kind (and page), or None."""
    found = objects_of(session, owner, kinds=(kind,), page=page)
    return found[-1] if found else None


def recorded(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` have a live ledger row (a redelivered task skips those)."""
    if not keys:
        return set()
    return set(session.scalars(select(StoredObject.key).where(
        StoredObject.key.in_(list(keys)), StoredObject.deleted_at.is_(None))))


def extend_lock(store: ObjectStore, row: StoredObject, until: date) -> bool:
    """Lock ``row`` until ``until`` if that is later than its lock (never shortens);
    True when the store was asked. The caller commits the row."""
    when = lock_datetime(until)
    if when is None or (row.retain_until is not None and row.retain_until >= when.date()):
        return False
    store.set_retention(row.key, row.version_id, when)
    row.retain_until = when.date()
    return True


def set_hold(store: ObjectStore, row: StoredObject, on: bool) -> bool:
    """Put the store's legal hold on ``row`` or lift it; True when it changed."""
    if row.legal_hold == on:
        return False
    store.set_legal_hold(row.key, row.version_id, on)
    row.legal_hold = on
    return True


def blocker(row: StoredObject, *, today: date | None = None) -> str | None:
    """Why the store would refuse to delete ``row`` today (its hold or lock), or None."""
    if row.legal_hold:
        return f"{row.key} is under a legal hold in the store"
    if row.retain_until is not None and row.retain_until > (today or today_utc()):
        return f"{row.key} is locked in the store until {row.retain_until}"
    return None


def delete(store: ObjectStore, row: StoredObject) -> dict:
    """Delete ``row``'s version for good and mark the row deleted (the caller commits).

    A version already gone (an earlier, interrupted run) counts as deleted. The store's
    refusal (ObjectLocked) passes through and the row stays live. Returns what a
    certificate lists of it.
    """
    try:
        store.delete_version(row.key, row.version_id)
    except ObjectNotFound:
        pass
    row.deleted_at = utcnow()
    return {"key": row.key, "version": row.version_id, "sha256": row.sha256,
            "kind": row.kind}
