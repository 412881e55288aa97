"""Server-side session records: a signed-in browser is a row, not just a cookie.

The cookie (signed by Flask) carries a random key; the catalog keeps its SHA-256
with the user, the time of the last request and, once over, when and why it
ended. Signing out, an idle limit, a password or role change, or disabling the
user ends the row, and a copy of the cookie made before then opens nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from chartvault.models import User, UserSession, utcnow

# A request writes its time at most this often (a fraction of the idle limit, and
# never more than a minute): each page load need not be a database write.
TOUCH_FRACTION = 0.05
MAX_TOUCH_INTERVAL = 60.0


@dataclass(frozen=True)
class Resolved:
    """What a session key stands for: the user (None: not signed in) and whether
    it has just ended for inactivity."""

    user: User | None
    timed_out: bool = False


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def start(db: Session, user: User, client: str | None) -> str:
    """A new session for ``user``; returns the key for the cookie (shown nowhere else)."""
    key = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(UserSession(user_id=user.id, key_hash=_digest(key), created_at=now,
                       last_seen_at=now, client=client))
    db.flush()
    return key


def _aware(at: datetime) -> datetime:
    from datetime import UTC

    return at if at.tzinfo else at.replace(tzinfo=UTC)


def resolve(db: Session, key: str, idle_seconds: float, *, activity: bool = True
            ) -> Resolved:
    """The signed-in user for ``key``, or nobody. A session idle longer than
    ``idle_seconds`` ends here (``timed_out``); ``activity`` False (background polling)
    does not count as use."""
    if not key:
        return Resolved(None)
    row = db.scalar(select(UserSession).where(UserSession.key_hash == _digest(key)))
    if row is None or row.ended_at is not None:
        return Resolved(None)
    now = utcnow()
    idle = (now - _aware(row.last_seen_at)).total_seconds()
    if idle > idle_seconds:
        row.ended_at, row.end_reason = now, "timeout"
        return Resolved(None, timed_out=True)
    user = db.get(User, row.user_id)
    if user is None or user.disabled:
        row.ended_at, row.end_reason = now, "disabled"
        return Resolved(None)
    if activity and idle > min(idle_seconds * TOUCH_FRACTION, MAX_TOUCH_INTERVAL):
        row.last_seen_at = now
    return Resolved(user)


def end(db: Session, key: str, reason: str) -> None:
    """End one session (sign-out); a key that is unknown or already ended is ignored."""
    db.execute(update(UserSession)
               .where(UserSession.key_hash == _digest(key), UserSession.ended_at.is_(None))
               .values(ended_at=utcnow(), end_reason=reason))


def end_all(db: Session, user_id: int, reason: str) -> int:
    """End every open session of a user; returns how many were open."""
    result = db.execute(update(UserSession)
                        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
                        .values(ended_at=utcnow(), end_reason=reason))
    return result.rowcount or 0


def active_counts(db: Session, idle_seconds: float) -> dict[int, int]:
    """user id -> sessions open and used within the idle limit."""
    since = utcnow() - timedelta(seconds=idle_seconds)
    rows = db.execute(select(UserSession.user_id, func.count())
                      .where(UserSession.ended_at.is_(None), UserSession.last_seen_at >= since)
                      .group_by(UserSession.user_id))
    return {user_id: count for user_id, count in rows}
