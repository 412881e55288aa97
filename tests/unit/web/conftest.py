"""Fixtures of the web tests: an app on a fresh embedded install, one user per role."""

from __future__ import annotations

import pytest
from web_support import PASSWORD, sign_in

from web.permissions import ROLES


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters in tests (the real ones cost ~0.5 s a hash by design)."""
    from argon2 import PasswordHasher

    from web import accounts

    monkeypatch.setattr(accounts, "_HASHER",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(autouse=True)
def queued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Documents the web layer queued for OCR (no broker in unit tests; the browser
    tests run the real worker)."""
    import ocr.tasks

    ids: list[str] = []
    monkeypatch.setattr(ocr.tasks, "enqueue_document", ids.append)
    return ids


@pytest.fixture
def app(settings):  # noqa: ANN001, ANN201
    from web import create_app

    return create_app(test_config={"TESTING": True, "WTF_CSRF_ENABLED": False},
                      settings=settings)


@pytest.fixture
def users(settings) -> dict[str, int]:  # noqa: ANN001
    """One user per role, named after the role; returns name -> user id."""
    from chartvault.db import session_scope
    from web import accounts

    ids = {}
    with session_scope(settings) as session:
        for role in ROLES:
            ids[role] = accounts.add_user(session, role.replace("_", "-"), role, PASSWORD,
                                          "test").id
    return ids


@pytest.fixture
def as_role(app, users):  # noqa: ANN001, ANN201
    """``as_role("clerk")`` -> a test client signed in as the clerk (None: anonymous)."""
    def make(role: str | None):  # noqa: ANN202
        client = app.test_client()
        if role is not None:
            sign_in(client, users[role])
        return client

    return make
