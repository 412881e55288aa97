"""Upload page and the live batch page (it polls ``/api/batches/<id>``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from chartvault.catalog import batch_view
from chartvault.db import session_scope
from chartvault.models import Batch
from web import read_audit
from web.common import actor, record, settings
from web.intake import ingest_uploads, upload_fields, with_outcomes
from web.permissions import requires
from web.upload_guard import accepts_upload

bp = Blueprint("batches", __name__)


@bp.get("/upload")
@requires("upload")
def upload_form():  # noqa: ANN201
    return render_template("upload.html")


@bp.post("/upload")
@requires("upload")
@accepts_upload
def upload():  # noqa: ANN201
    result = ingest_uploads(
        request.files.getlist("files"), request.files.get("manifest"), actor=actor(),
        source="web", **upload_fields(request.form))
    target = url_for("batches.show", batch_id=result.batch_id)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(batch_id=result.batch_id, url=target), 201
    return redirect(target, 303)


@bp.get("/batches")
@requires("view_batches")
def index():  # noqa: ANN201
    with session_scope(settings()) as db:
        batches = list(db.scalars(select(Batch).order_by(Batch.created_at.desc()).limit(50)))
        rows = [batch_view(db, b.id) for b in batches]
        record(db, "view", object_type="batches", detail={"batches": len(rows)})
    return render_template("batches.html", batches=rows)


@bp.get("/batches/<batch_id>")
@requires("view_batches")
def show(batch_id: str):  # noqa: ANN201
    from ingest.quarantine import list_entries

    with session_scope(settings()) as db:
        view = batch_view(db, batch_id)
        record(db, "view", object_type="batch", object_id=batch_id)
    read_audit.remember("batch", batch_id)  # its polling of /api/batches/ID is this view
    view = with_outcomes(view, batch_id)
    releasable = {e["id"] for e in list_entries(settings(), batch_id) if e["releasable"]}
    return render_template("batch.html", batch=view, releasable=releasable)

