"""Helpers of the web unit tests (a module with a unique name: importing from
``conftest`` breaks when several conftest folders are collected together)."""

from __future__ import annotations

import time

PASSWORD = "correct horse battery staple"


def sign_in(client, user_id: int) -> None:  # noqa: ANN001
    """Put a signed-in session in the client's cookie (skips argon2 on every test)."""
    with client.session_transaction() as sess:
        sess["uid"], sess["seen"] = user_id, time.time()
