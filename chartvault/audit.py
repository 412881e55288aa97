"""The audit trail: append-only events, each hashed together with the one before.

``record`` appends in the caller's transaction, so an action and its audit
event commit together or not at all. The single-row ``audit_head`` is updated
with a compare-and-set on the previous hash, which serialises appenders on
every database (SQLite and PostgreSQL alike) without forking the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chartvault.models import AuditEvent, AuditHead, utcnow

GENESIS = "0" * 64


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


@dataclass(frozen=True)
class ChainReport:
    events: int
    first_broken_seq: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.first_broken_seq is None


def verify_chain(events: Iterable[AuditEvent]) -> ChainReport:
    """Walk events in ``seq`` order; report the first whose link or hash is wrong."""
    prev, count, expected_seq = GENESIS, 0, 1
    for event in events:
        count += 1
        if event.seq != expected_seq:
            return ChainReport(count, expected_seq, f"event {expected_seq} is missing")
        if event.prev_hash != prev:
            return ChainReport(count, event.seq, "link to the previous event is broken")
        at = event.at if event.at.tzinfo else event.at.replace(tzinfo=utcnow().tzinfo)
        digest = event_hash(prev, event.seq, at, event.actor, event.action,
                            event.object_type, event.object_id, event.mrn, event.client,
                            dict(event.detail or {}))
        if digest != event.hash:
            return ChainReport(count, event.seq, "event content does not match its hash")
        prev, expected_seq = event.hash, expected_seq + 1
    return ChainReport(count, None, None)


def verify(session: Session) -> ChainReport:
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq).execution_options(
        yield_per=1000))
    return verify_chain(rows)
