"""Helpers of the web unit tests (a module with a unique name: importing from
``conftest`` breaks when several conftest folders are collected together)."""

from __future__ import annotations

PASSWORD = "correct horse battery staple"


def sign_in(client, user_id: int) -> str:  # noqa: ANN001
    """Start a server-side session for the user and put it in the client's cookie
    (skips the sign-in form and argon2 on every test); returns the session key."""
    from chartvault.db import session_scope
    from chartvault.models import User
    from web import sessions

    settings = client.application.config["CHARTVAULT_SETTINGS"]
    with session_scope(settings) as db:
        key = sessions.start(db, db.get(User, user_id), "127.0.0.1")
    with client.session_transaction() as sess:
        sess.clear()
        sess["sid"] = key
    return key
