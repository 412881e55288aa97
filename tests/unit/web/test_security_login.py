"""Findings 3 and 10 of issue 22: redirects after sign-in stay on the site; sign-in
backoff by user AND address; the password policy and its common-password list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from web_support import PASSWORD

from chartvault.db import session_scope
from chartvault.errors import BadInput
from chartvault.models import AuditEvent

HOSTILE_NEXT = [
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
    "/%09/evil.example/phish", "/\t/evil.example/phish", "/\n/evil.example",
    "/%0a/evil.example", "/%0d%0aSet-Cookie:x=1", "/\r\nLocation: https://evil.example",
    "/%2F%2Fevil.example", "/%2f/evil.example", "/%5Cevil.example", "/%5c%5cevil.example",
    "///evil.example", "http:/evil.example", "javascript:alert(1)", "evil.example",
    " /search", "/\x00/evil.example", "/\u3000/evil.example", "",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_after_sign_in_is_a_path_on_this_site_or_the_dashboard(
        app, users, target: str) -> None:  # noqa: ANN001
    with app.test_client().post("/login", data={"username": "clerk", "password": PASSWORD,
                                                "next": target}) as r:
        assert r.status_code == 302 and r.location == "/dashboard", (target, r.location)


@pytest.mark.parametrize("query", ["next=/%09/evil.example/phish", "next=/%0a/x",
                                   "next=//evil.example", "next=/%5C%5Cevil.example"])
def test_next_in_the_query_string_never_redirects_off_site_nor_500s(app, users, query: str
                                                                    ) -> None:  # noqa: ANN001
    client = app.test_client()
    with client.get(f"/login?{query}") as r:
        assert r.status_code == 200 and b"evil" not in r.data
    with client.post(f"/login?{query}", data={"username": "clerk", "password": PASSWORD}) as r:
        assert r.status_code == 302 and r.location == "/dashboard"


def test_a_plain_path_with_its_query_is_kept(app, users) -> None:  # noqa: ANN001
    with app.test_client().post("/login", data={"username": "clerk", "password": PASSWORD,
                                                "next": "/search?q=chest+x-ray&page=2"}) as r:
        assert r.location == "/search?q=chest+x-ray&page=2"


def test_a_signed_out_visit_to_an_odd_path_builds_a_safe_next(app, users) -> None:  # noqa: ANN001
    with app.test_client().get("//evil.example/search") as r:
        assert r.status_code in (302, 404)
        assert "evil.example" not in r.headers.get("Location", "").split("next=")[0]


# backoff ----------------------------------------------------------------------------


def _fail(app, name: str, address: str, times: int = 1) -> list[int]:  # noqa: ANN001
    statuses = []
    for _ in range(times):
        with app.test_client().post("/login", data={"username": name, "password": "wrong"},
                                    environ_base={"REMOTE_ADDR": address}) as r:
            statuses.append(r.status_code)
    return statuses


def _login(app, name: str, address: str) -> int:  # noqa: ANN001
    with app.test_client().post("/login", data={"username": name, "password": PASSWORD},
                                environ_base={"REMOTE_ADDR": address}) as r:
        return r.status_code


def _age_failures(settings, seconds: float) -> None:  # noqa: ANN001
    """Move every recorded sign-in attempt ``seconds`` into the past (no sleeping)."""
    with session_scope(settings) as db:
        for event in db.scalars(select(AuditEvent).where(
                AuditEvent.action.in_(("login_failed", "login_throttled", "login")))):
            db.execute(update(AuditEvent).where(AuditEvent.id == event.id)
                       .values(at=event.at - timedelta(seconds=seconds)))


def test_a_stranger_cannot_lock_a_colleague_out(app, users, settings) -> None:  # noqa: ANN001
    assert _fail(app, "clerk", "10.9.9.9", times=8)[:3] == [401, 401, 401]
    assert _fail(app, "clerk", "10.9.9.9")[-1] == 429  # the stranger waits...
    assert _login(app, "clerk", "10.1.1.1") == 302  # ...the clerk at their desk does not


def test_backoff_grows_and_ends(app, users, settings) -> None:  # noqa: ANN001
    from web import login_throttle

    assert _fail(app, "staff", "10.2.2.2", times=3) == [401, 401, 401]
    with session_scope(settings) as db:
        first = login_throttle.check(db, "staff", "10.2.2.2").wait_seconds
    assert 1 <= first <= 2
    _age_failures(settings, 3)
    assert _fail(app, "staff", "10.2.2.2", times=2) == [401, 429]  # one more try, then wait
    with session_scope(settings) as db:
        second = login_throttle.check(db, "staff", "10.2.2.2").wait_seconds
    assert second > first
    _age_failures(settings, 15 * 60 + 1)  # past the longest wait
    assert _login(app, "staff", "10.2.2.2") == 302
    # a success clears this address's count for the name
    with session_scope(settings) as db:
        assert not login_throttle.check(db, "staff", "10.2.2.2").throttled


def test_many_addresses_guessing_one_name_slow_down_together(app, users, settings,
                                                              monkeypatch) -> None:  # noqa: ANN001
    from web import login_throttle

    monkeypatch.setattr(login_throttle, "FREE_PER_USER", 6)
    for n in range(6):
        _fail(app, "auditor", f"10.3.0.{n}")
    assert _login(app, "auditor", "10.3.1.1") == 429


# the password policy ------------------------------------------------------------------


@pytest.mark.parametrize(("password", "why"), [
    ("short", "at least 12"), ("password1234", "common"), ("qwertyuiop123", "common"),
    ("1qaz2wsx3edc", "common"), ("aaaaaaaaaaaaaaaa", "too weak"),
    ("newuser2024!!", "user name"), ("x" * 129, "at most"),
])
def test_weak_passwords_are_refused_with_a_reason(settings, password: str, why: str) -> None:  # noqa: ANN001
    from web import accounts

    with session_scope(settings) as db, pytest.raises(BadInput) as caught:
        accounts.add_user(db, "newuser", "clerk", password, "test")
    assert caught.value.code == "weak_password" and why in caught.value.message


def test_a_few_unrelated_words_pass(settings) -> None:  # noqa: ANN001
    from web import accounts, passwords

    with session_scope(settings) as db:
        accounts.add_user(db, "newuser", "clerk", "granite puffin saxophone", "test")
    assert len(passwords.generate()) >= 16
    passwords.check(passwords.generate(), "newuser")  # a generated one passes its own policy


def test_a_cli_sign_in_is_audited_as_the_cli(settings, users) -> None:  # noqa: ANN001
    from web import accounts

    with session_scope(settings) as db:
        assert isinstance(accounts.login(db, "clerk", PASSWORD, "cli:root", via="cli"),
                          accounts.Account)
        assert not isinstance(accounts.login(db, "clerk", "wrong", "cli:root", via="cli"),
                              accounts.Account)
        actors = [e.actor for e in db.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(("login", "login_failed"))).order_by(AuditEvent.seq))]
    assert actors == ["cli:clerk", "cli:clerk"]
