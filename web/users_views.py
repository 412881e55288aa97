"""The admin's page of user accounts: who exists, with which role, when they last
signed in, how many sessions and tokens they hold; add, disable, enable, reset a
password, change a role, revoke tokens. Each action is an audit event
(:mod:`web.accounts`); a new or reset password is shown once, on the next page.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from chartvault.db import session_scope
from web import accounts
from web.common import actor, settings
from web.permissions import ROLES, requires

bp = Blueprint("users", __name__, url_prefix="/admin/users")

_ACTIONS = ("disable", "enable", "reset_password", "revoke_tokens", "set_role")


@bp.get("")
@requires("users")
def index():  # noqa: ANN201
    with session_scope(settings()) as db:
        rows = accounts.list_users(db, current_app.config["SESSION_TIMEOUT_SECONDS"])
    return render_template("users.html", rows=rows, roles=ROLES, one_time=None)


@bp.post("")
@requires("users")
def add():  # noqa: ANN201
    from web import passwords

    name = request.form.get("name", "").strip().lower()
    role = request.form.get("role", "")
    password = passwords.generate()
    with session_scope(settings()) as db:
        accounts.add_user(db, name, role, password, actor(), temporary=True)
    return _show_once(name, password, f"User {name} added ({role.replace('_', ' ')}).")


@bp.post("/<name>")
@requires("users")
def act(name: str):  # noqa: ANN201
    action = request.form.get("action", "")
    if action not in _ACTIONS:
        flash(f"Unknown action {action!r}.")
        return redirect(url_for("users.index"), 303)
    with session_scope(settings()) as db:
        if action == "reset_password":
            password = accounts.reset_password(db, name, actor())
        elif action == "set_role":
            accounts.set_role(db, name, request.form.get("role", ""), actor())
        elif action == "revoke_tokens":
            accounts.revoke_tokens(db, name, actor())
        else:
            accounts.set_disabled(db, name, action == "disable", actor())
    if action == "reset_password":
        return _show_once(name, password, f"Password of {name} reset; their sessions and "
                          "token ended.")
    flash({"set_role": f"Role of {name} changed; their sessions and token ended.",
           "revoke_tokens": f"Token and sessions of {name} ended.",
           "disable": f"{name} disabled; their sessions and token ended.",
           "enable": f"{name} enabled."}[action])
    return redirect(url_for("users.index"), 303)


def _show_once(name: str, password: str, message: str):  # noqa: ANN202
    """The one page that shows a one-time password (not a redirect: never in a URL)."""
    with session_scope(settings()) as db:
        rows = accounts.list_users(db, current_app.config["SESSION_TIMEOUT_SECONDS"])
    return render_template("users.html", rows=rows, roles=ROLES, message=message,
                           one_time={"name": name, "password": password})
