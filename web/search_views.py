"""Search and document pages (the web issue grows these into the full UI)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from markupsafe import Markup, escape

from chartvault import audit
from chartvault.catalog import document_view
from chartvault.db import session_scope
from chartvault.errors import BadInput
from search import SearchQuery, open_index

bp = Blueprint("search", __name__)


def _settings():  # noqa: ANN202
    return current_app.config["CHARTVAULT_SETTINGS"]


def highlight(snippet: str) -> Markup:
    """Escape OCR text (untrusted), then turn the \\x02..\\x03 marks into <mark>."""
    safe = str(escape(snippet))
    return Markup(safe.replace("\x02", "<mark>").replace("\x03", "</mark>"))


@bp.get("/")
def index():  # noqa: ANN201
    query = request.args.get("q", "").strip()
    result, error = None, None
    if query:
        settings = _settings()
        try:
            result = open_index(settings).search(SearchQuery(text=query, limit=20))
        except BadInput as exc:
            error = exc.message
        with session_scope(settings) as session:
            audit.record(session, "web:anonymous", "search", object_type="query",
                         client=request.remote_addr, detail={"query": query})
    return render_template("search.html", query=query, result=result, error=error,
                           highlight=highlight)


@bp.get("/documents/<document_id>")
def document(document_id: str):  # noqa: ANN201
    from chartvault.models import Page

    settings = _settings()
    with session_scope(settings) as session:
        view = document_view(session, document_id)
        texts = {p.number: p.text or "" for p in session.query(Page).filter_by(
            document_id=document_id)}
        audit.record(session, "web:anonymous", "view", object_type="document",
                     object_id=document_id, mrn=view["mrn"], client=request.remote_addr)
    return render_template("document.html", doc=view, texts=texts)
