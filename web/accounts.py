"""User accounts: argon2 password hashes, API tokens, login with throttling.

Used by the web page, the API and ``chartvault users``. Passwords and tokens are
never stored or logged in clear: passwords as argon2id hashes, tokens as their
SHA-256 (a token is 256 random bits, so a fast hash is enough).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chartvault import audit
from chartvault.errors import BadInput, NotFound, PermissionDenied
from chartvault.models import AuditEvent, User, utcnow
from web.permissions import ROLES

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a real password")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
MIN_PASSWORD = 12

# Throttling: this many failures for one user name, or from one client address,
# within the window lock further attempts until older failures leave the window.
# The per-address limit is high: a whole hospital may sit behind one NAT address.
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 100
THROTTLE_WINDOW = timedelta(minutes=15)


class LoginThrottled(PermissionDenied):
    code = "login_throttled"
    http_status = 429


class LoginFailed(PermissionDenied):
    code = "login_failed"
    http_status = 401


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: str


def _account(user: User) -> Account:
    return Account(user.id, user.name, user.role)


def _check_name_role(name: str, role: str) -> None:
    if not _NAME.match(name):
        raise BadInput("user name: 2-63 lower-case letters, digits, '.', '_' or '-'",
                       code="bad_user_name")
    if role not in ROLES:
        raise BadInput(f"role must be one of {', '.join(ROLES)}", code="bad_role")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadInput(f"password must be at least {MIN_PASSWORD} characters",
                       code="weak_password")


def add_user(session: Session, name: str, role: str, password: str | None, actor: str
             ) -> Account:
    """Create a user (no password = token-only account). BadInput if the name is taken."""
    _check_name_role(name, role)
    if password is not None:
        _check_password(password)
    if session.scalar(select(User.id).where(User.name == name)):
        raise BadInput(f"user {name} already exists", code="user_exists")
    user = User(name=name, role=role,
                password_hash=_HASHER.hash(password) if password is not None else "")
    session.add(user)
    session.flush()
    audit.record(session, actor, "user_add", object_type="user", object_id=name,
                 detail={"role": role})
    return _account(user)


def set_password(session: Session, name: str, password: str, actor: str) -> None:
    _check_password(password)
    user = _get(session, name)
    user.password_hash = _HASHER.hash(password)
    audit.record(session, actor, "user_password", object_type="user", object_id=name)


def add_or_reset(session: Session, name: str, role: str, password: str, actor: str) -> None:
    """Create the user, or give an existing one this password and role (demo, setup)."""
    if session.scalar(select(User.id).where(User.name == name)) is None:
        add_user(session, name, role, password, actor)
        return
    _check_name_role(name, role)
    set_password(session, name, password, actor)
    _get(session, name).role = role


def new_token(session: Session, name: str, actor: str) -> str:
    """A fresh API token for ``name`` (the previous one stops working). Shown once."""
    user = _get(session, name)
    token = "cv_" + secrets.token_urlsafe(32)
    user.token_hash = token_digest(token)
    audit.record(session, actor, "user_token", object_type="user", object_id=name)
    return token


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _get(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name} does not exist", code="user_not_found")
    return user


def by_id(session: Session, user_id: int) -> Account | None:
    user = session.get(User, user_id)
    if user is None or user.disabled:
        return None
    return _account(user)


def by_token(session: Session, token: str) -> Account | None:
    if not token:
        return None
    user = session.scalar(select(User).where(User.token_hash == token_digest(token)))
    if user is None or user.disabled:
        return None
    return _account(user)


def _recent_failures(session: Session, **match: str) -> int:
    since = utcnow() - THROTTLE_WINDOW
    query = select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "login_failed", AuditEvent.at >= since)
    for column, value in match.items():
        query = query.where(getattr(AuditEvent, column) == value)
    return session.scalar(query) or 0


def login(session: Session, name: str, password: str, client: str | None, *,
          via: str = "web") -> Account | PermissionDenied:
    """Check the password; every failure is an audit event (which also drives throttling).

    Returns (does not raise, so the caller commits the failure's audit event) a
    :class:`LoginThrottled` after too many recent failures (the password is not
    even checked) or a :class:`LoginFailed`; neither says whether the name exists.
    ``via`` (``web`` or ``cli``) prefixes the actor of the events.
    """
    name = (name or "").strip().lower()[:100]
    throttled = (_recent_failures(session, object_type="user", object_id=name)
                 >= MAX_FAILURES_PER_USER
                 or (client and _recent_failures(session, client=client)
                     >= MAX_FAILURES_PER_CLIENT))
    user = session.scalar(select(User).where(User.name == name)) if name else None
    ok = False
    if not throttled:
        try:
            ok = _HASHER.verify(user.password_hash if user and user.password_hash
                                else _DUMMY_HASH, password or "")
        except (VerificationError, InvalidHashError):
            ok = False
        ok = ok and user is not None and bool(user.password_hash) and not user.disabled
    if not ok:
        audit.record(session, f"{via}:{name or '-'}", "login_failed", object_type="user",
                     object_id=name, client=client,
                     detail={"reason": "throttled" if throttled else "bad_credentials"})
        if throttled:
            return LoginThrottled("too many failed sign-ins: wait 15 minutes and try again")
        return LoginFailed("wrong user name or password")
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    audit.record(session, f"{via}:{name}", "login", object_type="user", object_id=name,
                 client=client)
    return _account(user)
