"""The records manager's page: policy, legal holds, destruction lists, certificates.

Everything goes through ``retention.service`` (the retention issue's functions):
placing and releasing holds, proposing a destruction list, approving and
confirming it (two-person rule, enforced there), cancelling it, and downloading
certificates. Executing a confirmed list is left to ``chartvault`` retention
commands and the nightly sweep: it can run for a long time, longer than a request.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from chartvault.db import session_scope
from chartvault.models import Destruction
from web.common import actor, record, settings, store
from web.permissions import requires

bp = Blueprint("retention", __name__)


def _service():  # noqa: ANN202
    from retention import service

    return service


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


@bp.get("/retention")
@requires("retention")
def index():  # noqa: ANN201
    service = _service()
    policy = service.policy_view(settings())
    holds = service.list_holds(settings())
    destructions = service.list_destructions(settings())
    with session_scope(settings()) as db:
        counts = {d.id: (d.items or {}).get("count", 0)
                  for d in db.scalars(select(Destruction))}
        record(db, "view", object_type="retention")
    return render_template("retention.html", policy=policy, holds=holds,
                           destructions=destructions, counts=counts)


@bp.post("/retention/holds")
@requires("retention")
def place_hold():  # noqa: ANN201
    hold = _service().place_hold(
        settings(), actor=actor(), case_id=request.form.get("case_id", ""),
        reason=request.form.get("reason", ""), mrns=_split(request.form.get("mrns", "")),
        document_ids=_split(request.form.get("documents", "")),
        query=request.form.get("query", "").strip() or None, store=store())
    flash(f"Legal hold {hold.case_id} placed: {hold.documents_covered} document(s) held.")
    return redirect(url_for("retention.index"), 303)


@bp.post("/retention/holds/<hold_id>/release")
@requires("retention")
def release_hold(hold_id: str):  # noqa: ANN201
    hold = _service().release_hold(settings(), hold_id, actor=actor(),
                                   reason=request.form.get("reason", ""), store=store())
    flash(f"Legal hold {hold.case_id} released.")
    return redirect(url_for("retention.index"), 303)


@bp.post("/retention/destructions")
@requires("retention")
def propose():  # noqa: ANN201
    made = _service().propose(settings(), actor=actor(), with_items=False)
    flash("Nothing is due for destruction." if made is None
          else f"Destruction list {made.id[:12]} proposed; it needs two approvals.")
    return redirect(url_for("retention.index"), 303)


@bp.post("/retention/destructions/<destruction_id>/approve")
@requires("retention")
def approve(destruction_id: str):  # noqa: ANN201
    view = _service().approve(settings(), destruction_id, user=g.user.name, role=g.user.role)
    flash(f"Destruction list {destruction_id[:12]} is now {view.status}.")
    return redirect(url_for("retention.index"), 303)


@bp.post("/retention/destructions/<destruction_id>/cancel")
@requires("retention")
def cancel(destruction_id: str):  # noqa: ANN201
    _service().cancel(settings(), destruction_id, user=g.user.name,
                      reason=request.form.get("reason", "").strip() or "cancelled on the page")
    flash(f"Destruction list {destruction_id[:12]} cancelled.")
    return redirect(url_for("retention.index"), 303)


@bp.get("/retention/destructions/<destruction_id>/certificate.<fmt>")
@requires("retention")
def certificate(destruction_id: str, fmt: str):  # noqa: ANN201
    body = _service().certificate_bytes(settings(), destruction_id, fmt, actor=actor(),
                                        store=store())
    mime = "application/pdf" if fmt == "pdf" else "application/json"
    return Response(body, mimetype=mime, headers={
        "Content-Disposition": f'attachment; filename="certificate-{destruction_id}.{fmt}"'})
