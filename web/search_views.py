"""The search page: one query box, filters and facets, results grouped by document."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from markupsafe import Markup, escape

import access_rules
from chartvault.errors import BadInput
from search import SearchQuery
from web.common import reader, search_index, settings
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


def run_search(query: SearchQuery):  # noqa: ANN201
    """The search under the one access rule (restricted charts left out or stubbed),
    audited once with its query: :func:`access_rules.search`."""
    return access_rules.search(settings(), search_index(), reader(), query)


@bp.get("/search")
@requires("read_charts")
def index():  # noqa: ANN201
    query, result, error = None, None, None
    try:
        query = query_from_args(request.args)
        if query.text or query.mrn or query.doc_type:
            result = run_search(query)
    except BadInput as exc:
        error = exc.message
    return render_template("search.html", query=query, args=request.args, result=result,
                           error=error, highlight=highlight, page_size=PAGE_SIZE)
