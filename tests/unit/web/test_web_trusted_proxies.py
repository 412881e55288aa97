"""CHARTVAULT_TRUSTED_PROXIES: behind a reverse proxy the audit trail and the sign-in
throttle see the browser's address, and a browser cannot forge one."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from web_support import PASSWORD

from chartvault.db import session_scope
from chartvault.models import AuditEvent

PROXY = "10.0.0.5"  # the proxy's own address: what the app sees as the peer


def _app(settings, hops: int):  # noqa: ANN001, ANN202
    from web import create_app

    return create_app(test_config={"TESTING": True, "WTF_CSRF_ENABLED": False},
                      settings=settings.replace(trusted_proxies=hops))


def _failed_login(app, forwarded_for: str | None, user: str = "clerk") -> int:  # noqa: ANN001
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with app.test_client().post("/login", data={"username": user, "password": "wrong"},
                                headers=headers, environ_base={"REMOTE_ADDR": PROXY}) as r:
        return r.status_code


def _clients(settings) -> list[str | None]:  # noqa: ANN001
    with session_scope(settings) as session:
        return list(session.scalars(select(AuditEvent.client)
                                    .where(AuditEvent.action == "login_failed")
                                    .order_by(AuditEvent.id)))


def test_one_trusted_hop_records_the_address_the_proxy_saw(settings, users) -> None:  # noqa: ANN001
    app = _app(settings, 1)
    _failed_login(app, "198.51.100.7")
    # a browser's own X-Forwarded-For comes first; the proxy appends the address it saw
    _failed_login(app, "6.6.6.6, 198.51.100.8")
    assert _clients(settings) == ["198.51.100.7", "198.51.100.8"]


def test_without_trusted_proxies_the_header_is_ignored(settings, users) -> None:  # noqa: ANN001
    _failed_login(_app(settings, 0), "198.51.100.7")
    assert _clients(settings) == [PROXY]


def test_forwarded_scheme_and_host_are_believed_only_from_trusted_hops(settings) -> None:  # noqa: ANN001
    from flask import request

    from web.permissions import PUBLIC

    def where() -> dict[str, str]:
        return {"scheme": request.scheme, "host": request.host,
                "addr": request.remote_addr or ""}

    where.chartvault_permission = PUBLIC  # type: ignore[attr-defined]
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "records.example.org",
               "X-Forwarded-For": "198.51.100.7"}
    seen = {}
    for hops in (1, 0):
        app = _app(settings, hops)
        app.add_url_rule("/where", view_func=where)
        with app.test_client().get("/where", headers=headers,
                                   environ_base={"REMOTE_ADDR": PROXY}) as r:
            seen[hops] = r.get_json()
    assert seen[1] == {"scheme": "https", "host": "records.example.org", "addr": "198.51.100.7"}
    assert seen[0] == {"scheme": "http", "host": "localhost", "addr": PROXY}


def test_throttle_counts_per_real_client_behind_the_proxy(settings, users, monkeypatch
                                                          ) -> None:  # noqa: ANN001
    from web import login_throttle

    monkeypatch.setattr(login_throttle, "FREE_PER_CLIENT", 3)
    app = _app(settings, 1)
    for n in range(3):  # one client guesses at three accounts' passwords
        assert _failed_login(app, "203.0.113.66", user=f"guess{n}") == 401
    assert _failed_login(app, "203.0.113.66", user="guess9") == 429  # that client waits
    # everyone else behind the same proxy still signs in
    with app.test_client().post("/login", data={"username": "clerk", "password": PASSWORD},
                                headers={"X-Forwarded-For": "203.0.113.10"},
                                environ_base={"REMOTE_ADDR": PROXY}) as r:
        assert r.status_code == 302


@pytest.mark.parametrize("value", ["-1", "6", "one"])
def test_bad_trusted_proxies_fail_with_the_variable_name(tmp_path, value: str) -> None:  # noqa: ANN001
    from chartvault.errors import ConfigurationError
    from chartvault.settings import load_settings

    with pytest.raises(ConfigurationError, match="CHARTVAULT_TRUSTED_PROXIES"):
        load_settings({"CHARTVAULT_HOME": str(tmp_path), "CHARTVAULT_TRUSTED_PROXIES": value})


def test_sign_in_over_forwarded_https_needs_and_gets_a_same_site_referer(settings, users
                                                                         ) -> None:  # noqa: ANN001
    """Over HTTPS Flask-WTF refuses a form without a same-site Referer; the page's
    Referrer-Policy lets the browser send one to this site (and to no other)."""
    import re

    from web import create_app

    app = create_app(test_config={"TESTING": True},
                     settings=settings.replace(trusted_proxies=1))
    client = app.test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "records.example.org",
                 "X-Forwarded-For": "198.51.100.7"}
    with client.get("/login", headers=forwarded) as r:
        assert r.headers["Referrer-Policy"] == "same-origin"
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', r.text).group(1)
    form = {"username": "clerk", "password": PASSWORD, "csrf_token": token}
    with client.post("/login", data=form, headers=forwarded) as r:
        assert r.status_code == 400  # no Referer
    with client.post("/login", data=form, headers={
            **forwarded, "Referer": "https://records.example.org/login"}) as r:
        assert r.status_code == 302
