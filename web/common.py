"""Small helpers every blueprint uses: settings, the signed-in user, auditing."""

from __future__ import annotations

import threading
from typing import Any

from flask import current_app, g, request
from sqlalchemy.orm import Session

from chartvault import audit
from chartvault.settings import Settings


def settings() -> Settings:
    return current_app.config["CHARTVAULT_SETTINGS"]


def actor() -> str:
    """``web:NAME`` for the page, ``api:NAME`` for token clients (audit events)."""
    user = g.get("user")
    if user is None:
        return "web:-"
    return f"{'api' if g.get('via') == 'api' else 'web'}:{user.name}"


def client() -> str | None:
    return (request.remote_addr or "")[:100] or None


def reader():  # noqa: ANN201
    """The :class:`access_rules.Reader` of this request: the signed-in user, and the
    restricted documents this web session has broken the glass for."""
    from flask import session

    from access_rules import Reader

    granted = frozenset((session.get("glass") or {}) if g.get("via") == "session" else ())
    return Reader(actor(), client(), granted)


def record(session: Session, action: str, **fields: Any) -> None:
    """An audit event for the current request (actor and client address filled in)."""
    audit.record(session, actor(), action, client=client(), **fields)


def store():  # noqa: ANN201
    from archive import open_store

    return open_store(settings())


_INDEX = "chartvault_search_index"
_index_lock = threading.Lock()


def search_index():  # noqa: ANN201
    """The app's search index, opened on the first search and shared by every request
    after it (both backends are safe to share between threads): opening one per request
    cost the embedded index ~2 ms of a search's 20 ms budget and the Elasticsearch
    backend a client, and connections, per request. A failed open is not kept: the next
    request tries again."""
    from search import open_index

    index = current_app.extensions.get(_INDEX)
    if index is None:
        with _index_lock:
            index = current_app.extensions.get(_INDEX)
            if index is None:
                index = current_app.extensions[_INDEX] = open_index(settings())
    return index
