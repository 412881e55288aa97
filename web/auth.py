"""Sign-in and sign-out."""

from __future__ import annotations

import time

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from chartvault.db import session_scope
from web import accounts
from web.common import client, record, settings
from web.permissions import PUBLIC, requires

bp = Blueprint("auth", __name__)

REASONS = {"timeout": "You were signed out after a period of inactivity.",
           "logout": "You are signed out."}


def _next_url() -> str:
    target = request.values.get("next", "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("dashboard.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
def login():  # noqa: ANN201
    error, status = None, 200
    if request.method == "POST":
        with session_scope(settings()) as db:
            outcome = accounts.login(db, request.form.get("username", ""),
                                     request.form.get("password", ""), client())
        if isinstance(outcome, accounts.Account):
            session.clear()  # no fixation: a fresh session for the signed-in user
            session["uid"], session["seen"] = outcome.id, time.time()
            return redirect(_next_url())
        error, status = outcome.message, outcome.http_status
    notice = REASONS.get(request.args.get("reason", ""))
    return render_template("login.html", error=error, notice=notice,
                           next=request.values.get("next", "")), status


@bp.post("/logout")
@requires(PUBLIC)
def logout():  # noqa: ANN201
    if g.get("user") is not None:
        with session_scope(settings()) as db:
            record(db, "logout", object_type="user", object_id=g.user.name)
    session.clear()
    return redirect(url_for("auth.login", reason="logout"))
