"""Backend-neutral pieces of a search: validating a :class:`SearchQuery`, grouping page
hits into documents, and building :class:`Hit` values with snippets and word boxes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from chartvault.types import WordBox
from search.highlight import WordMatcher, matched_box_indices, snippet, well_formed
from search.interface import Hit, PageHit, QuerySyntaxError, SearchQuery, SearchResult
from search.query import Filters, ParsedQuery, parse_query

PAGES_PER_DOCUMENT = 3
MAX_LIMIT = 200
SORTS = ("relevance", "date", "date_asc")


def parse(query: SearchQuery) -> ParsedQuery:
    """Parse ``query.text`` and fold in its ``mrn``/``doc_type`` arguments.

    Blank text with an MRN or a type lists that patient's (or type's) documents.
    """
    _check_paging(query)
    if query.text.strip():
        parsed = parse_query(query.text)
    elif query.mrn or query.doc_type:
        parsed = ParsedQuery()
    else:
        parsed = parse_query(query.text)  # raises the clerk-facing "type something" error
    return replace(parsed, filters=_merge(parsed.filters, query))


def with_fuzzy_fallback(run: Callable[[ParsedQuery, SearchQuery], SearchResult],
                        query: SearchQuery) -> SearchResult:
    """Run ``query``; when it finds nothing, once more with its 5+-letter words fuzzy
    (OCR misreads letters). Both backends search through this."""
    parsed = parse(query)
    result = run(parsed, query)
    if result.total == 0 and parsed.has_text:
        fallback = parsed.fuzzy_fallback()
        if fallback is not None:
            return run(fallback, query)
    return result


def _check_paging(query: SearchQuery) -> None:
    if query.sort not in SORTS:
        raise QuerySyntaxError(f"Unknown sort {query.sort!r}: use one of {', '.join(SORTS)}.")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise QuerySyntaxError(f"Ask for between 1 and {MAX_LIMIT} results per page.")
    if query.offset < 0:
        raise QuerySyntaxError("The result offset cannot be negative.")


def _merge(filters: Filters, query: SearchQuery) -> Filters:
    for name, value, typed in (("mrn", query.mrn and query.mrn.upper(), filters.mrn),
                               ("doc_type", query.doc_type and query.doc_type.lower(),
                                filters.doc_type)):
        if value and typed and value != typed:
            raise QuerySyntaxError(f"The search asks for two different {name} values.")
        if value:
            filters = replace(filters, **{name: value})
    if query.exclude_ids:
        filters = replace(filters, exclude=frozenset(query.exclude_ids))
    return filters


@dataclass
class Group:
    """The pages of one document among the hits, best first (at most 3)."""

    key: Any
    score: float
    pages: list[tuple[float, Any]] = field(default_factory=list)


def group(hits: Iterable[tuple[Any, float, Any]]) -> list[Group]:
    """``(document key, score, page handle)`` in rank order -> documents in rank order."""
    groups: dict[Any, Group] = {}
    for key, score, handle in hits:
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key, score)
        if len(g.pages) < PAGES_PER_DOCUMENT:
            g.pages.append((score, handle))
    return list(groups.values())


@dataclass(frozen=True)
class StoredPage:
    score: float
    number: int
    text: str
    words_json: bytes | str  # JSON list of WordBox fields
    engine_snippet: str = ""  # the engine's own highlight, used when it marked something


def _matched_boxes(words_json: bytes | str, matcher: WordMatcher) -> tuple[WordBox, ...]:
    """The matched words' boxes from a page's stored JSON (only those become WordBoxes)."""
    try:
        raw = json.loads(words_json or "[]")
        return tuple(WordBox(**raw[i]) for i in matched_box_indices(
            [w["text"] for w in raw], matcher))
    except (ValueError, TypeError, KeyError):
        return ()  # boxes are a convenience; a damaged entry must not break the search


def make_hit(fields: dict[str, Any], pages: list[StoredPage], matcher: WordMatcher) -> Hit:
    """A :class:`Hit` from a document's stored fields and its best pages.

    Share one ``WordMatcher(parsed, stem)`` across the hits of a search: it remembers
    its decision for every word it has seen.
    """
    page_hits = tuple(
        PageHit(page=p.number, score=p.score,
                snippet=p.engine_snippet if well_formed(p.engine_snippet)
                else snippet(p.text, matcher),
                words=_matched_boxes(p.words_json, matcher))
        for p in pages
    )
    service_date = fields.get("service_date")
    if isinstance(service_date, str):
        service_date = date.fromisoformat(service_date[:10]) if service_date else None
    return Hit(
        document_id=fields["document_id"],
        mrn=fields.get("mrn", ""),
        doc_type=fields.get("doc_type", ""),
        service_date=service_date,
        score=max((p.score for p in pages), default=0.0),
        pages=page_hits,
    )
