"""Who is at the keyboard: commands that need a person (two-person rule) authenticate.

A name on the command line proves nothing: any shell user can type any name. So
``retention approve`` and ``retention cancel`` take the user's own credentials,
checked against the user table like a web sign-in:

- ``--user NAME --password-stdin``: the password is the first line of standard
  input (or, without ``--password-stdin``, a hidden prompt on a terminal);
- ``--token-stdin``: a personal API token (``chartvault users token NAME``) is the
  first line of standard input; it names the user.

Every failure is a ``login_failed`` event (the web's throttling counts it too); a
success is a ``login`` event whose client is ``cli:OSUSER``.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import Any

import click

from chartvault.errors import PermissionDenied


class NotAuthenticated(PermissionDenied):
    code = "not_authenticated"


def credential_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--user``, ``--password-stdin`` and ``--token-stdin`` for a command that
    calls :func:`authenticate` with them."""
    for option in reversed((
            click.option("--user", "user", help="Your user name (then your password on "
                         "standard input with --password-stdin, or at a prompt)."),
            click.option("--password-stdin", is_flag=True,
                         help="Read your password from standard input (first line)."),
            click.option("--token-stdin", is_flag=True,
                         help="Read your personal API token from standard input (first "
                              "line) instead of a user name and password."))):
        command = option(command)
    return command


def _first_line() -> str:
    return sys.stdin.readline().rstrip("\r\n")


def authenticate(session, user: str | None, password_stdin: bool,  # noqa: ANN001
                 token_stdin: bool):  # noqa: ANN201
    """The :class:`web.accounts.Account` of the person running the command.

    Raises :class:`NotAuthenticated` (exit 77) without credentials, with wrong ones,
    or for a disabled user; the failure is recorded (and committed) first.
    """
    from chartvault import audit
    from web import accounts

    client = f"cli:{getpass.getuser()}"[:100]
    if token_stdin:
        if password_stdin:
            raise NotAuthenticated("give either --token-stdin or --password-stdin, not both")
        account = accounts.by_token(session, _first_line().strip())
        if account is None or (user and user != account.name):
            audit.record(session, f"cli:{user or '-'}", "login_failed", object_type="user",
                         object_id=user or "", client=client, detail={"reason": "bad_token"})
            session.commit()
            raise NotAuthenticated("the token is not valid for an active user"
                                   + (f" named {user}" if user else ""))
        audit.record(session, f"cli:{account.name}", "login", object_type="user",
                     object_id=account.name, client=client, detail={"via": "token"})
        return account
    if not user:
        raise NotAuthenticated("say who you are: --user NAME with --password-stdin (or a "
                               "prompt), or --token-stdin with your personal API token")
    if password_stdin:
        password = _first_line()
    elif sys.stdin.isatty():
        password = click.prompt(f"Password for {user}", hide_input=True)
    else:
        raise NotAuthenticated("no terminal to ask for the password: use --password-stdin "
                               "or --token-stdin")
    outcome = accounts.login(session, user, password, client, via="cli")
    if not isinstance(outcome, accounts.Account):
        session.commit()  # the failure stays on record (and counts for throttling)
        raise NotAuthenticated(outcome.message)
    return outcome
