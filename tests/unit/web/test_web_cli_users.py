"""``chartvault users add/token/list`` and the demo's one-time admin."""

from __future__ import annotations

from click.testing import CliRunner
from web_support import PASSWORD

from chartvault.cli import main


def test_add_token_and_list(cv_env, settings, app) -> None:  # noqa: ANN001
    runner = CliRunner()
    added = runner.invoke(main, ["users", "add", "alice", "--role", "clerk",
                                 "--password-stdin"], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    again = runner.invoke(main, ["users", "add", "alice", "--role", "clerk",
                                 "--password-stdin"], input=PASSWORD + "\n")
    assert again.exit_code == 65 and "user_exists" in again.output
    weak = runner.invoke(main, ["users", "add", "bob", "--role", "staff", "--password-stdin"],
                         input="short\n")
    assert weak.exit_code == 65 and "weak_password" in weak.output
    token = runner.invoke(main, ["users", "token", "alice"])
    assert token.exit_code == 0
    value = token.output.strip()
    assert value.startswith("cv_") and len(value) > 40
    listed = runner.invoke(main, ["users", "list"])
    assert "alice\tclerk" in listed.output
    assert PASSWORD not in listed.output and value not in listed.output
    with app.test_client().get("/api/batches/" + "0" * 32,
                               headers={"Authorization": f"Bearer {value}"}) as response:
        assert response.status_code == 404  # authenticated as the clerk; no such batch
    with app.test_client().post("/login", data={"username": "alice",
                                                "password": PASSWORD}) as response:
        assert response.status_code == 302


def test_demo_admin_gets_a_fresh_password_each_time(cv_env, settings, capsys) -> None:  # noqa: ANN001
    from chartvault.cli.server import _demo_admin
    from chartvault.db import session_scope
    from web import accounts

    _demo_admin(settings, "127.0.0.1", 8000)
    first = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    _demo_admin(settings, "127.0.0.1", 8000)
    second = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    assert first != second
    with session_scope(settings) as session:
        assert isinstance(accounts.login(session, "demo-admin", second, None), accounts.Account)
        assert not isinstance(accounts.login(session, "demo-admin", first, None),
                              accounts.Account)
