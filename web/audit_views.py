"""The auditor's page: who did what, when, from where; filters; chain check."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from chartvault import audit
from chartvault.db import session_scope
from chartvault.errors import BadInput
from chartvault.models import AuditEvent
from web.common import actor, record, settings
from web.intake import parse_date
from web.permissions import requires

bp = Blueprint("audit", __name__)

PAGE = 100
FILTERS = ("actor", "action", "mrn", "object_id")


def _filtered(args):  # noqa: ANN001, ANN202
    query = select(AuditEvent)
    for name in FILTERS:
        value = (args.get(name) or "").strip()
        if value:
            query = query.where(getattr(AuditEvent, name) == value)
    start, end = parse_date(args.get("from")), parse_date(args.get("to"))
    if start:
        query = query.where(AuditEvent.at >= datetime.combine(start, time(0), tzinfo=UTC))
    if end:
        query = query.where(AuditEvent.at < datetime.combine(end + timedelta(days=1), time(0),
                                                             tzinfo=UTC))
    return query


@bp.get("/audit")
@requires("audit")
def index():  # noqa: ANN201
    try:
        offset = max(0, int(request.args.get("offset", 0) or 0))
    except ValueError as exc:
        raise BadInput("offset must be a whole number", code="bad_paging") from exc
    query = _filtered(request.args)
    with session_scope(settings()) as db:
        total = db.scalar(select(func.count()).select_from(query.subquery()))
        events = list(db.scalars(query.order_by(AuditEvent.seq.desc()).offset(offset)
                                 .limit(PAGE)))
        actions = list(db.scalars(select(AuditEvent.action).distinct()
                                  .order_by(AuditEvent.action)))
        chain = audit.verify(db) if request.args.get("verify") else None
        record(db, "audit_view", object_type="audit",
               detail={k: request.args[k] for k in (*FILTERS, "from", "to")
                       if request.args.get(k)})
    return render_template("audit.html", events=events, total=total, offset=offset,
                           page=PAGE, actions=actions, args=request.args, chain=chain)


@bp.get("/audit/access")
@requires("audit")
def access_report():  # noqa: ANN201
    """Who saw one patient's charts (views, downloads, searches that showed them)."""
    from chartvault import access

    mrn = request.args.get("mrn", "").strip().upper()
    report = None
    if mrn:
        with session_scope(settings()) as db:
            report = access.access_report(db, mrn)
            record(db, "audit_view", object_type="access_report", mrn=mrn)
    return render_template("audit_access.html", mrn=mrn, report=report)


@bp.get("/audit/break-glass")
@requires("audit")
def break_glass():  # noqa: ANN201
    from chartvault import access

    unreviewed = bool(request.args.get("unreviewed"))
    with session_scope(settings()) as db:
        entries = access.break_glass_events(db, unreviewed_only=unreviewed)
        record(db, "audit_view", object_type="break_glass")
    return render_template("audit_break_glass.html", entries=entries, unreviewed=unreviewed)


@bp.post("/audit/break-glass/<int:seq>/review")
@requires("audit")
def review_break_glass(seq: int):  # noqa: ANN201
    from chartvault import access

    with session_scope(settings()) as db:
        access.review_break_glass(db, actor(), seq, request.form.get("note", ""))
    flash("Marked as reviewed.")
    return redirect(url_for("audit.break_glass"), 303)
