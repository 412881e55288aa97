"""The search page: one query box, filters and facets, results grouped by document."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from markupsafe import Markup, escape
from sqlalchemy import select

from chartvault import access
from chartvault.db import session_scope
from chartvault.errors import BadInput
from chartvault.models import Document, Patient
from search import SearchQuery
from web.common import actor, client, search_index, settings
from web.permissions import requires

bp = Blueprint("search", __name__)

PAGE_SIZE = 20
MAX_OFFSET = 10_000  # deep paging costs the index offset+limit documents of memory


def highlight(snippet: str) -> Markup:
    """Escape OCR text (untrusted), then turn the \\x02..\\x03 marks into <mark>."""
    safe = str(escape(snippet))
    return Markup(safe.replace("\x02", "<mark>").replace("\x03", "</mark>"))


def query_from_args(args) -> SearchQuery:  # noqa: ANN001
    """The :class:`SearchQuery` of a page or API request (BadInput on bad numbers)."""
    try:
        offset = max(0, int(args.get("offset", 0) or 0))
        limit = min(100, max(1, int(args.get("limit", PAGE_SIZE) or PAGE_SIZE)))
    except ValueError as exc:
        raise BadInput("offset and limit must be whole numbers", code="bad_paging") from exc
    if offset > MAX_OFFSET:
        raise BadInput(f"offset at most {MAX_OFFSET}: narrow the search instead",
                       code="bad_paging")
    sort = args.get("sort", "relevance")
    if sort not in ("relevance", "date"):
        raise BadInput("sort must be relevance or date", code="bad_sort")
    return SearchQuery(text=args.get("q", "").strip(), mrn=(args.get("mrn") or "").strip()
                       .upper() or None, doc_type=(args.get("type") or "").strip() or None,
                       limit=limit, offset=offset, sort=sort)


def restricted_ids(document_ids: list[str]) -> set[str]:
    """Which of these documents are restricted: their snippets are not shown in results
    (the text of a restricted chart appears only after breaking the glass)."""
    if not document_ids:
        return set()
    with session_scope(settings()) as db:
        return set(db.scalars(select(Document.id).where(Document.id.in_(document_ids),
                                                        Document.restricted.is_(True))))


def run_search(query: SearchQuery):  # noqa: ANN201
    """Search and audit the query (who searched what, and how many documents matched)."""
    result = search_index().search(query)
    filters = {k: v for k, v in (("mrn", query.mrn), ("type", query.doc_type)) if v}
    with session_scope(settings()) as db:
        access.record_search(db, actor(), query.text, mrns=[h.mrn for h in result.hits],
                             hits=result.total, filters=filters or None, client=client())
    return result


@bp.get("/search")
@requires("read_charts")
def index():  # noqa: ANN201
    query, result, error, names, restricted = None, None, None, {}, set()
    try:
        query = query_from_args(request.args)
        if query.text:
            result = run_search(query)
    except BadInput as exc:
        error = exc.message
    if result and result.hits:
        with session_scope(settings()) as db:
            mrns = {h.mrn for h in result.hits}
            names = dict(db.execute(select(Patient.mrn, Patient.name)
                                    .where(Patient.mrn.in_(mrns))).all())
        restricted = restricted_ids([h.document_id for h in result.hits])
    return render_template("search.html", query=query, args=request.args, result=result,
                           error=error, names=names, highlight=highlight, page_size=PAGE_SIZE,
                           restricted=restricted)
