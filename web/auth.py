"""Sign-in, sign-out, and the signed-in user's own password."""

from __future__ import annotations

from flask import (
    Blueprint,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from chartvault.db import session_scope
from chartvault.errors import BadInput, PermissionDenied
from chartvault.models import User
from web import accounts, passwords, sessions
from web.common import actor, client, record, settings
from web.permissions import PUBLIC, requires
from web.redirects import same_origin_path

bp = Blueprint("auth", __name__)

REASONS = {"timeout": "You were signed out after a period of inactivity.",
           "logout": "You are signed out.",
           "password": "Your password was changed: sign in with the new one."}


def _next_url() -> str:
    return same_origin_path(request.values.get("next")) or url_for("dashboard.index")


def start_session(db, user_id: int) -> None:  # noqa: ANN001
    """A fresh server-side session in a fresh cookie (no fixation)."""
    key = sessions.start(db, db.get(User, user_id), client())
    session.clear()
    session["sid"] = key


@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
def login():  # noqa: ANN201
    error, status, headers = None, 200, {}
    if request.method == "POST":
        with session_scope(settings()) as db:
            outcome = accounts.login(db, request.form.get("username", ""),
                                     request.form.get("password", ""), client())
            if isinstance(outcome, accounts.Account):
                start_session(db, outcome.id)
        if isinstance(outcome, accounts.Account):
            if outcome.must_change_password:
                return redirect(url_for("auth.password", next=_next_url()))
            return redirect(_next_url())
        error, status = outcome.message, outcome.http_status
        if isinstance(outcome, accounts.LoginThrottled):
            headers["Retry-After"] = str(outcome.wait_seconds)
    notice = REASONS.get(request.args.get("reason", ""))
    return render_template("login.html", error=error, notice=notice,
                           next=same_origin_path(request.values.get("next")) or ""
                           ), status, headers


@bp.post("/logout")
@requires(PUBLIC)
def logout():  # noqa: ANN201
    """End this session; with ``everywhere``, every session and the API token of the user
    (a browser left signed in elsewhere, a token that may have leaked)."""
    key = session.get("sid")
    everywhere = bool(request.form.get("everywhere"))
    if key:
        with session_scope(settings()) as db:
            sessions.end(db, key, "logout")
            if g.get("user") is not None:
                record(db, "logout", object_type="user", object_id=g.user.name,
                       detail={"everywhere": everywhere})
                if everywhere:
                    accounts.revoke_tokens(db, g.user.name, actor())
    session.clear()
    return redirect(url_for("auth.login", reason="logout"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires("own_account")
def password():  # noqa: ANN201
    """Change one's own password; the one page a one-time password opens."""
    error, status = None, 200
    if request.method == "POST":
        new = request.form.get("new_password", "")
        try:
            if new != request.form.get("confirm_password", ""):
                raise BadInput("the two new passwords differ", code="password_mismatch")
            with session_scope(settings()) as db:
                accounts.change_own_password(db, g.user.id,
                                             request.form.get("current_password", ""),
                                             new, client())
                start_session(db, g.user.id)  # every other session has just ended
            return redirect(_next_url())
        except (BadInput, PermissionDenied) as exc:
            error, status = exc.message, exc.http_status
    return render_template("password.html", error=error, forced=g.user.must_change_password,
                           next=same_origin_path(request.values.get("next")) or "",
                           min_length=passwords.MIN_LENGTH), status
