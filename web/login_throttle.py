"""Sign-in backoff by user name AND client address, read from the audit trail.

A wrong password from one address makes the next try from that address, for
that name, wait: nothing for the first few, then 1 s, 2 s, 4 s... up to
:data:`MAX_WAIT`. A stranger guessing at a colleague's name slows down only
their own address; the colleague signs in from theirs at once. Two wider
limits, also backoffs rather than locks, stop one address trying many names
(password spraying) and many addresses trying one name. A success from an
address clears that address's count for the name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chartvault.models import AuditEvent, utcnow

WINDOW = timedelta(hours=1)  # failures older than this are forgotten
MAX_WAIT = timedelta(minutes=15)
FREE_PER_USER_AND_CLIENT = 3
# One address may serve a whole hospital (NAT): this many failures from it, any names,
# before it waits; and this many for one name from every address together (one address
# alone cannot reach it within the window, its own backoff is slower than that).
FREE_PER_CLIENT = 100
FREE_PER_USER = 50


@dataclass(frozen=True)
class Verdict:
    wait_seconds: int  # 0: go ahead

    @property
    def throttled(self) -> bool:
        return self.wait_seconds > 0


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _failures(db: Session, since: datetime, **match: str | None) -> tuple[int, datetime | None]:
    query = select(func.count(), func.max(AuditEvent.at)).where(
        AuditEvent.action == "login_failed", AuditEvent.at >= since)
    for column, value in match.items():
        query = query.where(getattr(AuditEvent, column) == value)
    count, last = db.execute(query).one()
    return count or 0, last


def _last_success(db: Session, name: str, client: str | None) -> datetime | None:
    return db.scalar(select(func.max(AuditEvent.at)).where(
        AuditEvent.action == "login", AuditEvent.object_type == "user",
        AuditEvent.object_id == name, AuditEvent.client == client))


def _wait(failures: int, last: datetime | None, free: int, now: datetime) -> int:
    if failures < free or last is None:
        return 0
    backoff = min(timedelta(seconds=2 ** min(failures - free, 20)), MAX_WAIT)
    remaining = _aware(last) + backoff - now
    return max(0, int(remaining.total_seconds() + 0.999))


def check(db: Session, name: str, client: str | None) -> Verdict:
    """How long this (name, address) must wait before its password is even checked."""
    now = utcnow()
    since = now - WINDOW
    success = _last_success(db, name, client)
    pair_since = max(since, _aware(success)) if success else since
    waits = [_wait(*_failures(db, pair_since, object_type="user", object_id=name,
                              client=client), FREE_PER_USER_AND_CLIENT, now),
             _wait(*_failures(db, since, object_type="user", object_id=name),
                   FREE_PER_USER, now)]
    if client:
        waits.append(_wait(*_failures(db, since, client=client), FREE_PER_CLIENT, now))
    return Verdict(max(waits))
