"""User accounts: argon2 password hashes, API tokens, sign-in, and what an admin
does to accounts (add, disable, enable, reset a password, change a role, revoke
tokens). Every change is an audit event.

Used by the web page, the API and ``chartvault users``. Passwords and tokens are
never stored or logged in clear: passwords as argon2id hashes, tokens as their
SHA-256 (a token is 256 random bits, so a fast hash is enough). A password
change, a role change or disabling a user ends every session and API token of
that user at once (:mod:`web.sessions`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chartvault import audit
from chartvault.errors import BadInput, NotFound, PermissionDenied, PolicyRefusal
from chartvault.models import User, utcnow
from web import login_throttle, passwords, sessions
from web.permissions import ROLES

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a real password")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


class LoginThrottled(PermissionDenied):
    code = "login_throttled"
    http_status = 429

    def __init__(self, wait_seconds: int) -> None:
        super().__init__(f"too many failed sign-ins: wait {wait_seconds} s and try again")
        self.wait_seconds = wait_seconds


class LoginFailed(PermissionDenied):
    code = "login_failed"
    http_status = 401


class LastAdmin(PolicyRefusal):
    code = "last_admin"


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: str
    must_change_password: bool = False


@dataclass(frozen=True)
class UserRow:
    """One line of the admin's list of users."""

    name: str
    role: str
    disabled: bool
    must_change_password: bool
    last_login_at: datetime | None
    active_sessions: int
    has_token: bool
    token_created_at: datetime | None


def account(user: User) -> Account:
    return Account(user.id, user.name, user.role, bool(user.must_change_password))


def _check_name_role(name: str, role: str) -> None:
    if not _NAME.match(name):
        raise BadInput("user name: 2-63 lower-case letters, digits, '.', '_' or '-'",
                       code="bad_user_name")
    if role not in ROLES:
        raise BadInput(f"role must be one of {', '.join(ROLES)}", code="bad_role")


def _get(db: Session, name: str) -> User:
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name} does not exist", code="user_not_found")
    return user


def _end_access(db: Session, user: User, reason: str) -> int:
    """End every session and the API token of ``user``; returns the sessions ended."""
    user.token_hash, user.token_created_at = None, None
    return sessions.end_all(db, user.id, reason)


def _keep_an_admin(db: Session, user: User) -> None:
    """Refuse the change that would leave no enabled admin (nobody could manage users)."""
    if user.role != "admin" or user.disabled:
        return
    others = db.scalar(select(func.count()).select_from(User).where(
        User.role == "admin", User.disabled.is_(False), User.id != user.id))
    if not others:
        raise LastAdmin(f"{user.name} is the last enabled admin: add another admin first")


# adding and changing accounts -------------------------------------------------------


def add_user(db: Session, name: str, role: str, password: str | None, actor: str, *,
             temporary: bool = False) -> Account:
    """Create a user (no password = token-only account). BadInput if the name is taken
    or the password fails the policy. ``temporary``: the first sign-in must change it."""
    _check_name_role(name, role)
    if password is not None:
        passwords.check(password, name)
    if db.scalar(select(User.id).where(User.name == name)):
        raise BadInput(f"user {name} already exists", code="user_exists")
    user = User(name=name, role=role, must_change_password=temporary and password is not None,
                password_hash=_HASHER.hash(password) if password is not None else "")
    db.add(user)
    db.flush()
    audit.record(db, actor, "user_add", object_type="user", object_id=name,
                 detail={"role": role, "one_time_password": user.must_change_password})
    return account(user)


def set_password(db: Session, name: str, password: str, actor: str, *,
                 temporary: bool = True) -> None:
    """Give ``name`` a password someone else chose (temporary: changed at first sign-in);
    every session and token of the user ends."""
    passwords.check(password, name)
    user = _get(db, name)
    user.password_hash = _HASHER.hash(password)
    user.must_change_password = temporary
    ended = _end_access(db, user, "password")
    audit.record(db, actor, "user_password", object_type="user", object_id=name,
                 detail={"one_time_password": temporary, "sessions_ended": ended})


def reset_password(db: Session, name: str, actor: str) -> str:
    """A fresh one-time password for ``name`` (returned once, changed at first sign-in)."""
    password = passwords.generate()
    _get(db, name)  # NotFound before any work
    set_password(db, name, password, actor, temporary=True)
    return password


def change_own_password(db: Session, user_id: int, current: str, new: str,
                        client: str | None) -> None:
    """The signed-in user replaces their password; every session and token ends (the
    caller starts a fresh session). BadInput / LoginFailed say what was wrong."""
    user = db.get(User, user_id)
    if user is None or user.disabled or not _verify(user.password_hash, current):
        raise LoginFailed("the current password is wrong")
    if new == current:
        raise passwords.WeakPassword("the new password must differ from the current one")
    passwords.check(new, user.name)
    user.password_hash = _HASHER.hash(new)
    user.must_change_password = False
    ended = _end_access(db, user, "password")
    audit.record(db, f"web:{user.name}", "password_change", object_type="user",
                 object_id=user.name, client=client, detail={"sessions_ended": ended})


def set_role(db: Session, name: str, role: str, actor: str) -> None:
    """Change the role; the user's sessions and token end (they sign in again)."""
    _check_name_role(name, role)
    user = _get(db, name)
    if user.role == role:
        return
    if role != "admin":
        _keep_an_admin(db, user)
    previous, user.role = user.role, role
    ended = _end_access(db, user, "role")
    audit.record(db, actor, "user_role", object_type="user", object_id=name,
                 detail={"from": previous, "to": role, "sessions_ended": ended})


def set_disabled(db: Session, name: str, disabled: bool, actor: str) -> None:
    """Disable (every session and token ends at once) or enable a user."""
    user = _get(db, name)
    if user.disabled == disabled:
        return
    ended = 0
    if disabled:
        _keep_an_admin(db, user)
        ended = _end_access(db, user, "disabled")
    user.disabled = disabled
    audit.record(db, actor, "user_disable" if disabled else "user_enable",
                 object_type="user", object_id=name, detail={"sessions_ended": ended})


def revoke_tokens(db: Session, name: str, actor: str) -> None:
    """End the user's API token and every session (a stolen credential is void)."""
    user = _get(db, name)
    ended = _end_access(db, user, "revoked")
    audit.record(db, actor, "user_revoke", object_type="user", object_id=name,
                 detail={"sessions_ended": ended})


def new_token(db: Session, name: str, actor: str) -> str:
    """A fresh API token for ``name`` (the previous one stops working). Shown once."""
    user = _get(db, name)
    if user.disabled:
        raise PolicyRefusal(f"user {name} is disabled", code="user_disabled")
    token = "cv_" + secrets.token_urlsafe(32)
    user.token_hash, user.token_created_at = token_digest(token), utcnow()
    audit.record(db, actor, "user_token", object_type="user", object_id=name)
    return token


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_or_reset(db: Session, name: str, role: str, password: str, actor: str) -> None:
    """Create the user, or give an existing one this one-time password and role (demo)."""
    if db.scalar(select(User.id).where(User.name == name)) is None:
        add_user(db, name, role, password, actor, temporary=True)
        return
    _check_name_role(name, role)
    set_password(db, name, password, actor, temporary=True)
    _get(db, name).role = role
    set_disabled(db, name, False, actor)


# reading accounts -------------------------------------------------------------------


def by_id(db: Session, user_id: int) -> Account | None:
    user = db.get(User, user_id)
    if user is None or user.disabled:
        return None
    return account(user)


def by_token(db: Session, token: str) -> Account | None:
    if not token:
        return None
    user = db.scalar(select(User).where(User.token_hash == token_digest(token)))
    if user is None or user.disabled:
        return None
    return account(user)


def list_users(db: Session, idle_seconds: float) -> list[UserRow]:
    active = sessions.active_counts(db, idle_seconds)
    return [UserRow(u.name, u.role, bool(u.disabled), bool(u.must_change_password),
                    u.last_login_at, active.get(u.id, 0), bool(u.token_hash),
                    u.token_created_at)
            for u in db.scalars(select(User).order_by(User.name))]


# signing in -------------------------------------------------------------------------


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password or "") \
            and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def login(db: Session, name: str, password: str, client: str | None, *,
          via: str = "web") -> Account | PermissionDenied:
    """Check the password; every attempt is an audit event (failures drive the backoff
    of :mod:`web.login_throttle`).

    Returns (does not raise, so the caller commits the audit event) a
    :class:`LoginThrottled` while this name and address must wait (the password is
    not even checked) or a :class:`LoginFailed`; neither says whether the name exists.
    ``via`` (``web`` or ``cli``) prefixes the actor of the events.
    """
    name = (name or "").strip().lower()[:100]
    verdict = login_throttle.check(db, name, client)
    if verdict.throttled:
        audit.record(db, f"{via}:{name or '-'}", "login_throttled", object_type="user",
                     object_id=name, client=client, detail={"wait_s": verdict.wait_seconds})
        return LoginThrottled(verdict.wait_seconds)
    user = db.scalar(select(User).where(User.name == name)) if name else None
    ok = _verify(user.password_hash if user else _DUMMY_HASH, password)
    if not ok or user is None or user.disabled:
        audit.record(db, f"{via}:{name or '-'}", "login_failed", object_type="user",
                     object_id=name, client=client, detail={"reason": "bad_credentials"})
        return LoginFailed("wrong user name or password")
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    user.last_login_at = utcnow()
    audit.record(db, f"{via}:{name}", "login", object_type="user", object_id=name,
                 client=client)
    return account(user)
