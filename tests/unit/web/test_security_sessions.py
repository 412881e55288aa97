"""Finding 2 of issue 22: sessions that end, one-time passwords, accounts an admin
manages (page and CLI), each change audited (HIPAA 164.312(a)(2)(i), (iii), (d))."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from web_support import PASSWORD, sign_in

from chartvault.cli import main
from chartvault.db import session_scope
from chartvault.models import AuditEvent, User, UserSession
from web import accounts

COOKIE = "chartvault"


def _events(settings, action: str) -> list[AuditEvent]:  # noqa: ANN001
    with session_scope(settings) as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)
                               .order_by(AuditEvent.seq)))


def _sign_in_with_form(client, name: str, password: str = PASSWORD):  # noqa: ANN001, ANN202
    return client.post("/login", data={"username": name, "password": password})


def _copy(app, client):  # noqa: ANN001, ANN202
    """A second browser holding a copy of ``client``'s cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return thief


def test_a_cookie_copied_before_sign_out_opens_nothing_after(app, users, settings) -> None:  # noqa: ANN001
    client = app.test_client()
    with _sign_in_with_form(client, "staff") as r:
        assert r.status_code == 302
    thief = _copy(app, client)
    with thief.get("/search") as r:
        assert r.status_code == 200  # the copy works while the session lives
    with client.post("/logout") as r:
        assert "/login" in r.location
    with thief.get("/search") as r:
        assert r.status_code == 302 and "/login" in r.location
    with session_scope(settings) as db:
        assert db.scalar(select(UserSession.end_reason)) == "logout"
    assert [e.actor for e in _events(settings, "logout")] == ["web:staff"]


def _admin_acts(as_role, name: str, action: str, **extra: str):  # noqa: ANN001, ANN202
    return as_role("admin").post(f"/admin/users/{name}", data={"action": action, **extra})


@pytest.mark.parametrize(("action", "extra", "reason", "audited"), [
    ("disable", {}, "disabled", "user_disable"),
    ("set_role", {"role": "auditor"}, "role", "user_role"),
    ("reset_password", {}, "password", "user_password"),
    ("revoke_tokens", {}, "revoked", "user_revoke"),
])
def test_admin_changes_end_every_session_and_token_at_once(
        app, users, settings, as_role, action: str, extra: dict, reason: str, audited: str
        ) -> None:  # noqa: ANN001
    browsers = [as_role("staff"), as_role("staff")]
    with session_scope(settings) as db:
        token = accounts.new_token(db, "staff", "test")
    api = {"Authorization": f"Bearer {token}"}
    with app.test_client().get("/api/search?q=x", headers=api) as r:
        assert r.status_code == 200
    with _admin_acts(as_role, "staff", action, **extra) as r:
        assert r.status_code in (200, 303), r.data
    for browser in browsers:
        with browser.get("/search") as r:
            assert r.status_code == 302 and "/login" in r.location
    with app.test_client().get("/api/search?q=x", headers=api) as r:
        assert r.status_code == 401
    with session_scope(settings) as db:
        ended = db.scalars(select(UserSession.end_reason)
                           .where(UserSession.user_id == users["staff"])).all()
    assert ended == [reason, reason]
    event = _events(settings, audited)[-1]
    assert (event.actor, event.object_id, event.detail["sessions_ended"]) == (
        "web:admin", "staff", 2)


def test_own_password_change_ends_the_other_sessions_and_keeps_this_one(
        app, users, settings) -> None:  # noqa: ANN001
    client, other = app.test_client(), app.test_client()
    for browser in (client, other):
        with _sign_in_with_form(browser, "clerk"):
            pass
    new = "quiet harbor lantern 88"
    with client.post("/account/password", data={"current_password": PASSWORD,
                                                "new_password": new,
                                                "confirm_password": new}) as r:
        assert r.status_code == 302
    with client.get("/upload") as r:
        assert r.status_code == 200
    with other.get("/upload") as r:
        assert r.status_code == 302
    with _sign_in_with_form(app.test_client(), "clerk") as r:
        assert r.status_code == 401  # the old password is gone
    assert _events(settings, "password_change")[-1].detail == {"sessions_ended": 2}


def test_a_one_time_password_opens_only_the_password_page(app, settings) -> None:  # noqa: ANN001
    with session_scope(settings) as db:
        accounts.add_user(db, "newclerk", "clerk", "given by the admin 77", "test",
                          temporary=True)
    client = app.test_client()
    with _sign_in_with_form(client, "newclerk", "given by the admin 77") as r:
        assert r.status_code == 302 and r.location.startswith("/account/password")
    for path in ("/upload", "/dashboard", "/search"):
        with client.get(path) as r:
            assert r.status_code == 302 and "/account/password" in r.location, path
    with client.get("/api/batches/" + "0" * 32) as r:
        assert r.status_code == 403
        assert r.get_json()["error"]["code"] == "password_change_required"
    with client.get("/account/password") as r:
        assert r.status_code == 200 and b"Choose your own" in r.data
    for bad, message in (("given by the admin 77", b"must differ"),
                         ("password1234", b"common passwords"),
                         ("newclerk is me 2024", b"user name")):
        with client.post("/account/password", data={
                "current_password": "given by the admin 77", "new_password": bad,
                "confirm_password": bad}) as r:
            assert r.status_code == 422 and message in r.data, bad
    mine = "amber kettle orbit 51"
    with client.post("/account/password", data={
            "current_password": "given by the admin 77", "new_password": mine,
            "confirm_password": mine}) as r:
        assert r.status_code == 302
    with client.get("/upload") as r:
        assert r.status_code == 200


def test_setup_and_demo_passwords_are_one_time(cv_env, settings, app, capsys) -> None:  # noqa: ANN001
    from chartvault.cli.server import _demo_admin

    # setup.sh: `users add admin --role admin --password-stdin` with a generated password
    runner = CliRunner()
    added = runner.invoke(main, ["users", "add", "admin", "--role", "admin",
                                 "--password-stdin"], input="Zq8vLr2pXw-Kd3Ht\n")
    assert added.exit_code == 0, added.output
    _demo_admin(settings, "127.0.0.1", 8000)
    demo_password = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    for name, password in (("admin", "Zq8vLr2pXw-Kd3Ht"), ("demo-admin", demo_password)):
        with _sign_in_with_form(app.test_client(), name, password) as r:
            assert r.location.startswith("/account/password"), name
    # an operator's own password (CHARTVAULT_ADMIN_PASSWORD) is not one-time
    own = runner.invoke(main, ["users", "add", "ops", "--role", "admin", "--password-stdin",
                               "--permanent"], input="operators own phrase 9\n")
    assert own.exit_code == 0
    with _sign_in_with_form(app.test_client(), "ops", "operators own phrase 9") as r:
        assert r.location == "/dashboard"


def test_admin_page_lists_users_and_every_action_is_audited(app, users, settings, as_role
                                                           ) -> None:  # noqa: ANN001
    with _sign_in_with_form(app.test_client(), "staff"):
        pass
    with session_scope(settings) as db:
        accounts.new_token(db, "clerk", "test")
    admin = as_role("admin")
    with admin.get("/admin/users") as r:
        page = r.get_data(as_text=True)
    assert r.status_code == 200
    staff_row = re.search(r'<th scope="row">staff</th>(.*?)</tr>', page, re.S).group(1)
    assert "never" not in staff_row and "<td>1</td>" in staff_row  # signed in, 1 session
    clerk_row = re.search(r'<th scope="row">clerk</th>(.*?)</tr>', page, re.S).group(1)
    assert "yes, since" in clerk_row  # the token
    with admin.post("/admin/users", data={"name": "newbie", "role": "staff"}) as r:
        assert r.status_code == 200
        one_time = re.search(r'<code class="secret">([^<]+)</code>', r.get_data(as_text=True))
    assert one_time is not None
    with _sign_in_with_form(app.test_client(), "newbie", one_time.group(1)) as r:
        assert r.location.startswith("/account/password")
    for action in ("disable", "enable"):
        with admin.post("/admin/users/newbie", data={"action": action}) as r:
            assert r.status_code == 303
    actions = [e.action for e in _events(settings, "user_add")
               + _events(settings, "user_disable") + _events(settings, "user_enable")
               if e.actor == "web:admin"]
    assert actions == ["user_add", "user_disable", "user_enable"]
    for role in ("clerk", "staff", "records_manager", "auditor"):
        with as_role(role).get("/admin/users") as r:
            assert r.status_code == 403, role


def test_the_last_admin_cannot_be_disabled_or_demoted(app, users, as_role, settings) -> None:  # noqa: ANN001
    for action, extra in (("disable", {}), ("set_role", {"role": "clerk"})):
        with _admin_acts(as_role, "admin", action, **extra) as r:
            assert r.status_code == 409 and b"last enabled admin" in r.data
    with session_scope(settings) as db:
        admin = db.scalar(select(User).where(User.name == "admin"))
        assert (admin.role, admin.disabled) == ("admin", False)


def test_cli_users_commands(cv_env, settings, app) -> None:  # noqa: ANN001
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None):  # noqa: ANN202
        result = runner.invoke(main, ["users", *args], input=stdin)
        assert result.exit_code == 0, result.output
        return result.output

    run("add", "root", "--role", "admin", "--password-stdin", "--permanent",
        stdin="silver canyon phrase 1\n")
    printed = run("add", "bea", "--role", "clerk", "--generate")
    one_time = printed.rsplit(": ", 1)[-1].strip()
    client = app.test_client()
    with _sign_in_with_form(client, "bea", one_time) as r:
        assert r.location.startswith("/account/password")
    token = run("token", "bea").strip()
    listed = run("list")
    assert re.search(r"^bea\tclerk\tenabled,one-time-password\tlast-login=20\S+\tsessions=1"
                     r"\ttoken=yes$", listed, re.M), listed
    assert one_time not in listed and token not in listed
    run("set-role", "bea", "staff")
    run("disable", "bea")
    with _sign_in_with_form(app.test_client(), "bea", one_time) as r:
        assert r.status_code == 401
    run("enable", "bea")
    reset = run("reset-password", "bea").rsplit(": ", 1)[-1].strip()
    with _sign_in_with_form(app.test_client(), "bea", reset) as r:
        assert r.location.startswith("/account/password")
    run("revoke-tokens", "bea")
    with app.test_client().get("/api/search?q=x",
                               headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status_code == 401
    assert '"active_sessions": 1' not in run("list", "--json")  # revoked: all ended
    refused = runner.invoke(main, ["users", "disable", "root"])
    assert refused.exit_code == 77 and "last_admin" in refused.output
    actions = [e.action for e in _events_all(settings) if e.actor.startswith("cli:")]
    assert actions == ["user_add", "user_add", "user_token", "user_role", "user_disable",
                       "user_enable", "user_password", "user_revoke"]


def _events_all(settings) -> list[AuditEvent]:  # noqa: ANN001
    with session_scope(settings) as db:
        return list(db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_idle_logoff_comes_from_the_setting_and_is_enforced_on_the_server(
        cv_env, monkeypatch) -> None:  # noqa: ANN001
    """CHARTVAULT_SESSION_TIMEOUT_MINUTES, enforced from the session's row: a cookie
    kept alive by hand (as the old cookie-only sessions allowed) does not help."""
    import time

    from chartvault.settings import load_settings
    from web import create_app

    monkeypatch.setenv("CHARTVAULT_SESSION_TIMEOUT_MINUTES", "0.02")  # 1.2 s
    settings = load_settings()
    app = create_app(test_config={"TESTING": True, "WTF_CSRF_ENABLED": False},
                     settings=settings)
    with session_scope(settings) as db:
        user_id = accounts.add_user(db, "idle", "staff", PASSWORD, "test").id
    client = app.test_client()
    sign_in(client, user_id)
    time.sleep(1.6)
    with client.session_transaction() as sess:
        sess["seen"] = time.time()  # what kept a cookie-only session alive
    with client.get("/search") as r:
        assert r.status_code == 302 and "reason=timeout" in r.location


def test_sign_out_everywhere_ends_every_session_and_the_token(app, users, settings) -> None:  # noqa: ANN001
    here, elsewhere = app.test_client(), app.test_client()
    for browser in (here, elsewhere):
        with _sign_in_with_form(browser, "clerk"):
            pass
    with session_scope(settings) as db:
        token = accounts.new_token(db, "clerk", "test")
    with here.get("/account/password") as r:
        assert b"Sign out everywhere" in r.data
    with here.post("/logout", data={"everywhere": "1"}) as r:
        assert "/login" in r.location
    with elsewhere.get("/upload") as r:
        assert r.status_code == 302
    with app.test_client().get("/api/batches/" + "0" * 32,
                               headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status_code == 401
    assert _events(settings, "logout")[-1].detail == {"everywhere": True}
    assert _events(settings, "user_revoke")[-1].actor == "web:clerk"
