"""User accounts: ``chartvault users add`` and ``chartvault users token``."""

from __future__ import annotations

import sys

import click

from chartvault.settings import get_settings


@click.group()
def users() -> None:
    """Accounts of the web page and the API (argon2 passwords, bearer tokens)."""


def _cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@users.command("add")
@click.argument("name")
@click.option("--role", required=True,
              type=click.Choice(["clerk", "staff", "records_manager", "auditor", "admin"]))
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input (first line).")
def add(name: str, role: str, password_stdin: bool) -> None:
    """Create user NAME with ROLE (without --password-stdin: prompt for the password)."""
    from chartvault.db import session_scope
    from web import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with session_scope(get_settings()) as session:
        accounts.add_user(session, name, role, password, _cli_actor())
    click.echo(f"user {name} added ({role})")


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
def list_users() -> None:
    """Names and roles."""
    from sqlalchemy import select

    from chartvault.db import session_scope
    from chartvault.models import User

    with session_scope(get_settings()) as session:
        for user in session.scalars(select(User).order_by(User.name)):
            state = "disabled" if user.disabled else ""
            click.echo(f"{user.name}\t{user.role}\t{state}".rstrip())


COMMANDS = [users]
