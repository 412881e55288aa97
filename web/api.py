"""The JSON API (``/api``): the same permissions as the pages, errors as JSON.

Clients authenticate with ``Authorization: Bearer TOKEN`` (``chartvault users
token NAME``). The page's own scripts use the session cookie; an unsafe method
sent with the cookie must carry the CSRF token in ``X-CSRFToken``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, g, jsonify, request, url_for
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

from chartvault.catalog import batch_view, document_view
from chartvault.db import session_scope
from chartvault.errors import PermissionDenied
from web import documents, read_audit
from web.common import actor, record, settings
from web.intake import ingest_uploads, upload_fields, with_outcomes
from web.openapi import openapi_document
from web.permissions import PUBLIC, requires
from web.search_views import query_from_args, run_search
from web.upload_guard import accepts_upload

bp = Blueprint("api", __name__, url_prefix="/api")


class CsrfMissing(PermissionDenied):
    code = "csrf"
    http_status = 400


@bp.before_request
def _csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS") or g.get("via") != "session":
        return
    try:
        validate_csrf(request.headers.get("X-CSRFToken", ""))
    except ValidationError as exc:
        raise CsrfMissing("send the page's CSRF token in X-CSRFToken") from exc


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@bp.get("/openapi.json")
@requires(PUBLIC)
def openapi():  # noqa: ANN201
    return jsonify(openapi_document())


@bp.post("/batches")
@requires("upload")
@accepts_upload
def create_batch():  # noqa: ANN201
    result = ingest_uploads(
        request.files.getlist("files"), request.files.get("manifest"), actor=actor(),
        source="api", **upload_fields(request.form))
    body = {"id": result.batch_id, "url": url_for("api.get_batch", batch_id=result.batch_id),
            "documents": [{"filename": o.filename, "status": o.status,
                           "document_id": o.document_id, "code": o.code, "reason": o.reason,
                           "duplicate_of": o.duplicate_of} for o in result.outcomes]}
    return jsonify(body), 202


@bp.get("/batches/<batch_id>")
@requires("view_batches")
def get_batch(batch_id: str):  # noqa: ANN201
    with session_scope(settings()) as db:
        view = batch_view(db, batch_id)
        if not read_audit.covered("batch", batch_id):  # the batch page's own polling is
            record(db, "view", object_type="batch", object_id=batch_id)  # its view
    return jsonify(jsonable(with_outcomes(view, batch_id)))


@bp.get("/search")
@requires("read_charts")
def search():  # noqa: ANN201
    answer = run_search(query_from_args(request.args))
    return jsonify(jsonable(answer.as_dict(
        lambda snippet: snippet.replace("\x02", "[").replace("\x03", "]"))))


@bp.get("/documents/<document_id>")
@requires("read_charts")
def get_document(document_id: str):  # noqa: ANN201
    with session_scope(settings()) as db:
        view = document_view(db, document_id)
        documents.open_doc(db, document_id, "view")
    return jsonify(jsonable(view))


@bp.get("/documents/<document_id>/pages/<int:number>/image")
@requires("read_charts")
def page_image(document_id: str, number: int):  # noqa: ANN201
    return documents.page_image(document_id, number)


@bp.get("/documents/<document_id>/original")
@requires("read_charts")
def original(document_id: str):  # noqa: ANN201
    return documents.download(document_id, "original")


@bp.get("/documents/<document_id>/pdf")
@requires("read_charts")
def pdf(document_id: str):  # noqa: ANN201
    return documents.download(document_id, "pdf")
