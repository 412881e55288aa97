"""The one table of who may do what. Every route declares one permission from it.

``PERMISSIONS`` maps a permission to the roles that hold it; ``PUBLIC`` routes
need no login. :func:`requires` attaches a permission to a view; the app
refuses (500, deny by default) any endpoint that declared none, and the role
× route test is generated from this table and ``app.url_map``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

ROLES = ("clerk", "staff", "records_manager", "auditor", "admin")

PUBLIC = "public"  # login page, health check, static files

PERMISSIONS: dict[str, frozenset[str]] = {
    # any signed-in user
    "dashboard": frozenset(ROLES),
    "own_account": frozenset(ROLES),  # one's own password
    # reading charts: search, viewer, patient timeline, downloads
    "read_charts": frozenset({"clerk", "staff", "records_manager", "admin"}),
    # intake: upload batches, follow them, fix quarantine and review queues
    "upload": frozenset({"clerk", "admin"}),
    "view_batches": frozenset({"clerk", "records_manager", "admin"}),
    "quarantine": frozenset({"clerk", "admin"}),
    "review": frozenset({"clerk", "records_manager", "admin"}),
    # records lifecycle
    "retention": frozenset({"records_manager", "admin"}),
    # who looked at what
    "audit": frozenset({"auditor", "admin"}),
    # accounts: add, disable, reset passwords, change roles, revoke tokens
    "users": frozenset({"admin"}),
}

_V = TypeVar("_V", bound=Callable)


def requires(permission: str) -> Callable[[_V], _V]:
    """Declare the permission a view needs (``PUBLIC`` for none)."""
    if permission != PUBLIC and permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def mark(view: _V) -> _V:
        view.chartvault_permission = permission  # type: ignore[attr-defined]
        return view

    return mark


def allowed(role: str | None, permission: str) -> bool:
    if permission == PUBLIC:
        return True
    return role is not None and role in PERMISSIONS.get(permission, frozenset())


def permission_of(view: Callable | None) -> str | None:
    return getattr(view, "chartvault_permission", None)
