"""The catalog database unreachable for a moment during web requests: a clear 503
(JSON for the API, the error page for people), never a traceback; the next request
after it is back works without a restart."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.faults import TcpGate

pytestmark = pytest.mark.integration


@pytest.fixture
def gated_db(cv_env, postgres_url, monkeypatch):  # noqa: ANN001, ANN201
    from chartvault.settings import get_settings, reset_settings_cache

    parts = urlsplit(postgres_url)
    gate = TcpGate(parts.port or 5432)
    monkeypatch.setenv("CHARTVAULT_DATABASE_URL",
                       postgres_url.replace(f":{parts.port}/", f":{gate.port}/"))
    reset_settings_cache()
    try:
        yield gate, get_settings()
    finally:
        gate.down()


def test_database_gone_during_requests_is_a_clean_503(gated_db) -> None:  # noqa: ANN001
    from chartvault.db import session_scope
    from chartvault.models import User
    from web import accounts, create_app, sessions
    from web.permissions import ROLES, allowed

    gate, settings = gated_db
    role = next(r for r in ROLES if allowed(r, "view_batches"))
    with session_scope(settings) as session:
        user = accounts.add_user(session, "reader", role, "correct horse battery staple",
                                 "test")
        token = accounts.new_token(session, "reader", "test")
    app = create_app(test_config={"TESTING": False, "WTF_CSRF_ENABLED": False},
                     settings=settings)
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/batches/nope", headers=headers).status_code == 404
    page = app.test_client()
    with session_scope(settings) as session:  # a signed-in browser (server-side session)
        key = sessions.start(session, session.get(User, user.id), "127.0.0.1")
    with page.session_transaction() as sess:
        sess["sid"] = key

    gate.down()
    response = api.get("/api/batches/nope", headers=headers)
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "catalog_unavailable" and error["retryable"] is True
    assert "unreachable" in error["message"]
    html = page.get("/")
    assert html.status_code == 503
    body = html.get_data(as_text=True)
    assert "catalog_unavailable" in body or "unreachable" in body
    assert "Traceback" not in body and "psycopg" not in body.split("unreachable")[0]

    gate.up()
    assert api.get("/api/batches/nope", headers=headers).status_code == 404
    assert page.get("/").status_code < 400
