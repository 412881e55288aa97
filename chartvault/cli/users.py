"""User accounts: ``chartvault users list|add|disable|enable|reset-password|set-role|
revoke-tokens|token``. Each change is an audit event with the actor ``cli:OSUSER``.

A password printed here (``add --generate``, ``reset-password``) is one-time: the
first sign-in must replace it. A password typed for someone else is one-time too,
unless ``--permanent`` says the person typing it is its owner.
"""

from __future__ import annotations

import sys

import click

from chartvault.settings import get_settings

ROLES = ["clerk", "staff", "records_manager", "auditor", "admin"]  # web.permissions.ROLES


@click.group()
def users() -> None:
    """Accounts of the web page and the API (argon2 passwords, bearer tokens)."""


def _cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input (first line).")
@click.option("--generate", is_flag=True, help="Make a one-time password and print it.")
@click.option("--permanent", is_flag=True,
              help="The password is its owner's own: no change at the first sign-in.")
def add(name: str, role: str, password_stdin: bool, generate: bool, permanent: bool) -> None:
    """Create user NAME with ROLE (without --password-stdin or --generate: prompt)."""
    from chartvault.db import session_scope
    from web import accounts, passwords

    password = passwords.generate() if generate else _read_password(password_stdin)
    with session_scope(get_settings()) as session:
        accounts.add_user(session, name, role, password, _cli_actor(),
                          temporary=not permanent)
    click.echo(f"user {name} added ({role})")
    if generate:
        click.echo(f"one-time password: {password}")


@users.command("token")
@click.argument("name")
def token(name: str) -> None:
    """Print a new API token for NAME (the previous token stops working)."""
    from chartvault.db import session_scope
    from web import accounts

    with session_scope(get_settings()) as session:
        value = accounts.new_token(session, name, _cli_actor())
    click.echo(value)


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_users(as_json: bool) -> None:
    """Name, role, state, last sign-in, sessions active now, API token."""
    from chartvault.cli.output import emit_json
    from chartvault.db import session_scope
    from web import accounts

    settings = get_settings()
    with session_scope(settings) as session:
        rows = accounts.list_users(session, settings.session_timeout_minutes * 60)
    if as_json:
        emit_json([{"name": r.name, "role": r.role, "disabled": r.disabled,
                    "one_time_password": r.must_change_password,
                    "last_login_at": r.last_login_at.isoformat() if r.last_login_at else None,
                    "active_sessions": r.active_sessions, "token": r.has_token}
                   for r in rows])
        return
    for r in rows:
        state = "disabled" if r.disabled else "enabled"
        if r.must_change_password:
            state += ",one-time-password"
        last = r.last_login_at.strftime("%Y-%m-%dT%H:%MZ") if r.last_login_at else "never"
        click.echo(f"{r.name}\t{r.role}\t{state}\tlast-login={last}\t"
                   f"sessions={r.active_sessions}\ttoken={'yes' if r.has_token else 'no'}")


def _change(name: str, what: str, change) -> None:  # noqa: ANN001
    from chartvault.db import session_scope

    with session_scope(get_settings()) as session:
        change(session)
    click.echo(f"user {name}: {what}")


@users.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Disable NAME: every session and the API token end at once."""
    from web import accounts

    _change(name, "disabled; sessions and token ended",
            lambda s: accounts.set_disabled(s, name, True, _cli_actor()))


@users.command("enable")
@click.argument("name")
def enable(name: str) -> None:
    """Enable NAME again (a new token must be made; old ones stay void)."""
    from web import accounts

    _change(name, "enabled", lambda s: accounts.set_disabled(s, name, False, _cli_actor()))


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def set_role(name: str, role: str) -> None:
    """Give NAME the role ROLE: their sessions and token end."""
    from web import accounts

    _change(name, f"role {role}; sessions and token ended",
            lambda s: accounts.set_role(s, name, role, _cli_actor()))


@users.command("revoke-tokens")
@click.argument("name")
def revoke_tokens(name: str) -> None:
    """End NAME's API token and every session."""
    from web import accounts

    _change(name, "token and sessions ended",
            lambda s: accounts.revoke_tokens(s, name, _cli_actor()))


@users.command("reset-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True,
              help="Read the new (one-time) password from standard input instead.")
def reset_password(name: str, password_stdin: bool) -> None:
    """Give NAME a one-time password (printed) and end their sessions and token."""
    from chartvault.db import session_scope
    from web import accounts

    given = _read_password(True) if password_stdin else None
    with session_scope(get_settings()) as session:
        if given is not None:
            accounts.set_password(session, name, given, _cli_actor())
        else:
            given = accounts.reset_password(session, name, _cli_actor())
    click.echo(f"user {name}: sessions and token ended; one-time password"
               + ("" if password_stdin else f": {given}"))


COMMANDS = [users]
