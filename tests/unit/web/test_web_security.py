"""Sign-in, throttling, CSRF, inactivity, cookies, headers, bearer tokens, auditing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from web_support import PASSWORD

from chartvault.db import session_scope
from chartvault.models import AuditEvent


def _events(settings, action: str) -> list[AuditEvent]:  # noqa: ANN001
    with session_scope(settings) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_sign_in_and_out(app, users, settings) -> None:  # noqa: ANN001
    client = app.test_client()
    with client.get("/search") as response:
        assert response.status_code == 302 and "/login?next=/search" in response.location
    with client.post("/login", data={"username": "clerk", "password": PASSWORD,
                                     "next": "/search"}) as response:
        assert response.status_code == 302 and response.location == "/search"
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    with client.get("/search") as response:
        assert response.status_code == 200
    with client.post("/logout") as response:
        assert "/login" in response.location
    with client.get("/search") as response:
        assert response.status_code == 302
    assert [e.actor for e in _events(settings, "login")] == ["web:clerk"]


def test_next_never_leaves_the_site(app, users) -> None:  # noqa: ANN001
    client = app.test_client()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        with client.post("/login", data={"username": "clerk", "password": PASSWORD,
                                         "next": target}) as response:
            assert response.location == "/dashboard", target


def test_failed_logins_are_audited_and_throttled(app, users, settings) -> None:  # noqa: ANN001
    client = app.test_client()
    for _ in range(3):
        with client.post("/login", data={"username": "clerk", "password": "wrong"}) as r:
            assert r.status_code == 401 and b"wrong user name or password" in r.data
    # The right password does not help now: this name from this address must wait.
    with client.post("/login", data={"username": "clerk", "password": PASSWORD}) as r:
        assert r.status_code == 429 and b"too many failed sign-ins" in r.data
        assert int(r.headers["Retry-After"]) >= 1
    failed = _events(settings, "login_failed")
    assert len(failed) == 3
    assert all(e.client == "127.0.0.1" and e.object_id == "clerk" for e in failed)
    assert [e.detail["wait_s"] > 0 for e in _events(settings, "login_throttled")] == [True]
    # Another user from the same address is not slowed down by it.
    with client.post("/login", data={"username": "staff", "password": PASSWORD}) as r:
        assert r.status_code == 302


def test_unknown_user_fails_like_a_wrong_password(app, users) -> None:  # noqa: ANN001
    with app.test_client().post("/login", data={"username": "nobody", "password": "x"}) as r:
        assert r.status_code == 401 and b"wrong user name or password" in r.data


def test_forms_need_the_csrf_token(settings, users) -> None:  # noqa: ANN001
    from web import create_app

    app = create_app(test_config={"TESTING": True}, settings=settings)
    client = app.test_client()
    with client.post("/login", data={"username": "clerk", "password": PASSWORD}) as r:
        assert r.status_code == 400 and b"csrf" in r.data
    with client.get("/login") as r:
        token = r.data.split(b'name="csrf_token" value="')[1].split(b'"')[0].decode()
    with client.post("/login", data={"username": "clerk", "password": PASSWORD,
                                     "csrf_token": token}) as r:
        assert r.status_code == 302
    # Signed in with the cookie, the API refuses a POST without the token header.
    with client.post("/api/batches", data={}) as r:
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "csrf"


def test_session_ends_after_inactivity(settings, users) -> None:  # noqa: ANN001
    from sqlalchemy import update
    from web_support import sign_in

    from chartvault.models import UserSession
    from web import create_app

    app = create_app(test_config={"TESTING": True, "WTF_CSRF_ENABLED": False,
                                  "SESSION_TIMEOUT_SECONDS": 60}, settings=settings)
    client = app.test_client()
    sign_in(client, users["staff"])
    with client.get("/search") as r:
        assert r.status_code == 200
    with session_scope(settings) as db:  # the server's record says: idle for 61 s
        db.execute(update(UserSession).values(
            last_seen_at=datetime.now(UTC) - timedelta(seconds=61)))
    with client.get("/search") as r:
        assert r.status_code == 302 and "reason=timeout" in r.location
    with client.get("/search") as r:  # the session is gone, not just refused once
        assert r.status_code == 302
    with session_scope(settings) as db:
        assert db.scalar(select(UserSession.end_reason)) == "timeout"


def test_timeout_comes_from_the_setting(cv_env, monkeypatch) -> None:  # noqa: ANN001
    from chartvault.settings import load_settings
    from web import create_app

    monkeypatch.setenv("CHARTVAULT_SESSION_TIMEOUT_MINUTES", "0.5")
    app = create_app(settings=load_settings())
    assert app.config["SESSION_TIMEOUT_SECONDS"] == 30


def test_security_headers(app, as_role) -> None:  # noqa: ANN001
    with as_role("staff").get("/search") as r:
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Cache-Control"] == "no-store"
        assert b"<script>" not in r.data  # no inline script anywhere


def test_production_cookies_are_secure(settings) -> None:  # noqa: ANN001
    from web import create_app

    app = create_app(settings=settings.replace(environment="production"))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"].startswith("__Host-")


def test_bearer_token(app, users, settings) -> None:  # noqa: ANN001
    from web import accounts

    with session_scope(settings) as session:
        token = accounts.new_token(session, "staff", "test")
        clerk_token = accounts.new_token(session, "clerk", "test")
    client = app.test_client()
    with client.get("/api/search?q=anything") as r:
        assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthenticated"
    with client.get("/api/search?q=anything",
                    headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status_code == 401
    with client.get("/api/search?q=anything",
                    headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status_code == 200 and r.get_json() == {
            "total": 0, "total_estimated": False, "hits": [], "restricted": [],
            "facets": r.get_json()["facets"]}
    with client.post("/api/batches", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status_code == 403  # staff may read, not upload
    with client.post("/api/batches", headers={"Authorization": f"Bearer {clerk_token}"}) as r:
        assert r.status_code == 422 and r.get_json()["error"]["code"] == "no_files"
    searches = _events(settings, "search")
    assert searches[-1].actor == "api:staff" and searches[-1].detail["query"] == "anything"


@pytest.mark.parametrize("password", ["short"])
def test_weak_password_refused(settings, password: str) -> None:  # noqa: ANN001
    from chartvault.errors import BadInput
    from web import accounts

    with session_scope(settings) as session, pytest.raises(BadInput):
        accounts.add_user(session, "newuser", "clerk", password, "test")


def test_one_address_guessing_many_names_is_throttled(app, users, monkeypatch) -> None:  # noqa: ANN001
    from web import login_throttle

    monkeypatch.setattr(login_throttle, "FREE_PER_CLIENT", 3)
    client = app.test_client()
    for name in ("a1", "a2", "a3"):
        with client.post("/login", data={"username": name, "password": "x"}) as r:
            assert r.status_code == 401
    with client.post("/login", data={"username": "staff", "password": PASSWORD}) as r:
        assert r.status_code == 429
