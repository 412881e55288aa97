"""The audit trail: append-only events, each hashed together with the one before.

``record`` appends in the caller's transaction, so an action and its audit
event commit together or not at all. The single-row ``audit_head`` is updated
with a compare-and-set on the previous hash, which serialises appenders on
every database (SQLite and PostgreSQL alike) without forking the chain.

The chain alone proves nothing against someone who can write the database:
they could edit a row and re-hash every event after it. So once a day the head
(sequence number and hash) is written to the object store under retention as an
*anchor* (:mod:`chartvault.audit_tasks`); :func:`verify` checks the chain
against every anchor, and a re-hashed chain no longer matches the anchors
written before the edit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chartvault.errors import ChartvaultError
from chartvault.models import AuditEvent, AuditHead, utcnow

GENESIS = "0" * 64
ANCHOR_FORMAT = "chartvault-audit-anchor/1"


class AuditChainBroken(ChartvaultError):
    """The audit trail does not verify: an event was edited, removed or re-hashed."""

    code = "audit_chain_broken"
    http_status = 500
    exit_code = 65  # EX_DATAERR


def event_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str,
               object_type: str, object_id: str, mrn: str | None, client: str | None,
               detail: dict[str, Any]) -> str:
    body = json.dumps(
        [prev_hash, seq, at.isoformat(), actor, action, object_type, object_id, mrn, client,
         detail],
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record(session: Session, actor: str, action: str, *, object_type: str = "",
           object_id: str = "", mrn: str | None = None, client: str | None = None,
           detail: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event in the caller's transaction (committed with it).

    Bumping the head first takes the write lock (a row lock on PostgreSQL, the
    database lock on SQLite), so concurrent appenders queue up instead of
    forking the chain.
    """
    detail = dict(detail or {})
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1)
                    .execution_options(synchronize_session=False))
    seq, prev_hash = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
    ).one()
    at = utcnow()
    digest = event_hash(prev_hash, seq, at, actor, action, object_type, object_id, mrn,
                        client, detail)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=digest)
                    .execution_options(synchronize_session=False))
    event = AuditEvent(seq=seq, at=at, actor=actor, action=action, object_type=object_type,
                       object_id=object_id, mrn=mrn, client=client, detail=detail,
                       prev_hash=prev_hash, hash=digest)
    session.add(event)
    session.flush()
    return event


# anchors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """The chain head as it was when the anchor was written."""

    day: date
    seq: int
    hash: str
    written_at: datetime
    key: str = ""
    version_id: str = ""

    def to_json(self) -> bytes:
        return json.dumps({"format": ANCHOR_FORMAT, "day": self.day.isoformat(),
                           "seq": self.seq, "hash": self.hash,
                           "written_at": self.written_at.isoformat()},
                          sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, *, key: str = "", version_id: str = "") -> Anchor:
        """Parse an anchor; ValueError if it is not one."""
        try:
            body = json.loads(data)
            if body.get("format") != ANCHOR_FORMAT:
                raise ValueError(f"unknown anchor format {body.get('format')!r}")
            return cls(day=date.fromisoformat(body["day"]), seq=int(body["seq"]),
                       hash=str(body["hash"]),
                       written_at=datetime.fromisoformat(body["written_at"]),
                       key=key, version_id=version_id)
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not an audit anchor: {exc}") from exc


def head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the chain head; (0, GENESIS) on an empty chain."""
    row = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
                          ).one_or_none()
    return (int(row[0]), row[1]) if row else (0, GENESIS)


def current_anchor(session: Session, now: datetime | None = None) -> Anchor:
    """The anchor to write now: today's date (UTC) and the committed head."""
    now = now or utcnow()
    seq, digest = head(session)
    return Anchor(day=now.astimezone(UTC).date(), seq=seq, hash=digest, written_at=now)


# verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    events: int
    first_broken_seq: int | None
    problem: str | None
    anchors: int = 0
    head_seq: int | None = None
    warnings: tuple[str, ...] = field(default=())
    # events after the last anchor found in the store: an edit there is caught by no
    # anchor yet (the next one, at most an hour away, binds them)
    unanchored: int | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken_seq is None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "anchors": self.anchors,
                "head_seq": self.head_seq, "first_broken_seq": self.first_broken_seq,
                "problem": self.problem, "unanchored": self.unanchored,
                "warnings": list(self.warnings)}


def _aware(at: datetime) -> datetime:
    """UTC, as hashed: SQLite drops the zone, PostgreSQL answers in the session's zone."""
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def verify_chain(events: Iterable[AuditEvent], anchors: Iterable[Anchor] = (),
                 head_row: tuple[int, str] | None = None) -> ChainReport:
    """Walk events in ``seq`` order; report the first whose link or hash is wrong.

    Every anchor must match the event of its sequence number; ``head_row``
    (seq, hash), when given, must match the last event (a truncated tail).
    """
    by_seq: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        by_seq.setdefault(anchor.seq, []).append(anchor)
    n_anchors = sum(len(v) for v in by_seq.values())
    last_good = 0  # the highest seq an anchor confirmed

    def broken(count: int, seq: int, problem: str) -> ChainReport:
        return ChainReport(count, seq, problem, n_anchors, head_row[0] if head_row else None)

    for anchor in by_seq.pop(0, []):
        if anchor.hash != GENESIS:
            return broken(0, 1, f"the anchor of {anchor.day} records an empty chain with a "
                                f"hash that is not the genesis hash")
    prev, count, expected_seq = GENESIS, 0, 1
    for event in events:
        count += 1
        if event.seq != expected_seq:
            return broken(count, expected_seq, f"event {expected_seq} is missing")
        if event.prev_hash != prev:
            return broken(count, event.seq, "link to the previous event is broken")
        digest = event_hash(prev, event.seq, _aware(event.at), event.actor, event.action,
                            event.object_type, event.object_id, event.mrn, event.client,
                            dict(event.detail or {}))
        if digest != event.hash:
            return broken(count, event.seq, "event content does not match its hash")
        for anchor in by_seq.pop(event.seq, []):
            if anchor.hash != event.hash:
                return broken(count, last_good + 1,
                              f"events {last_good + 1}..{event.seq} do not match the anchor "
                              f"of {anchor.day} (edited and re-hashed after it was written)")
            last_good = event.seq
        prev, expected_seq = event.hash, expected_seq + 1
    if by_seq:
        seq = min(by_seq)
        day = by_seq[seq][0].day
        return broken(count, expected_seq, f"events {expected_seq}..{seq} are missing: the "
                                           f"anchor of {day} records event {seq}")
    if head_row is not None:
        head_seq, head_hash = head_row
        if head_seq > count:
            return broken(count, expected_seq,
                          f"events {expected_seq}..{head_seq} are missing (the head says "
                          f"{head_seq})")
        if count and head_hash != prev:
            return broken(count, count, "the chain head does not match the last event")
    return ChainReport(count, None, None, n_anchors, head_row[0] if head_row else None)


def verify(session: Session, anchors: Iterable[Anchor] = ()) -> ChainReport:
    """Verify the whole chain, the head row and every anchor given.

    The head is read first and only events up to it are walked, so appends
    committed meanwhile do not read as damage. Load the anchors *before* calling
    this (an anchor is never ahead of the head it was taken from). The report counts
    the events after the last anchor (``unanchored``).
    """
    head_row = head(session)
    rows = session.scalars(select(AuditEvent).where(AuditEvent.seq <= head_row[0])
                           .order_by(AuditEvent.seq).execution_options(yield_per=1000))
    anchors = list(anchors)
    try:
        report = verify_chain(rows, anchors, head_row)
        last = max((a.seq for a in anchors if a.seq <= head_row[0]), default=0)
        return replace(report, unanchored=head_row[0] - last)
    finally:
        rows.close()  # stopping at a broken link leaves PostgreSQL's server cursor open


# reading ------------------------------------------------------------------------------

EXPORT_FIELDS = ("seq", "at", "actor", "action", "object_type", "object_id", "mrn", "client",
                 "detail", "prev_hash", "hash")


def event_dict(event: AuditEvent) -> dict[str, Any]:
    return {"seq": event.seq, "at": _aware(event.at).isoformat(), "actor": event.actor,
            "action": event.action, "object_type": event.object_type,
            "object_id": event.object_id, "mrn": event.mrn, "client": event.client,
            "detail": dict(event.detail or {}), "prev_hash": event.prev_hash,
            "hash": event.hash}


def events(session: Session, *, since: datetime | None = None, until: datetime | None = None,
           mrn: str | None = None, actions: Iterable[str] | None = None
           ) -> Iterator[AuditEvent]:
    """Events in ``seq`` order, ``since`` <= at < ``until``, optionally one patient's."""
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    if mrn is not None:
        query = query.where(AuditEvent.mrn == mrn)
    if actions is not None:
        query = query.where(AuditEvent.action.in_(list(actions)))
    return iter(session.scalars(query.execution_options(yield_per=1000)))


def flat_row(event: Mapping[str, Any]) -> dict[str, str]:
    """One event as CSV cells (detail as compact JSON)."""
    row = {}
    for name in EXPORT_FIELDS:
        value = event[name]
        if name == "detail":
            value = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
        row[name] = "" if value is None else str(value)
    return row
