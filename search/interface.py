"""The ``SearchIndex`` role: one entry per page, results grouped per document.

The index is derived data: the catalog and the object store are the truth, and
``rebuild`` restores the index from them. Query syntax errors are
:class:`QuerySyntaxError` (a :class:`BadInput`) with a message a clerk can act on;
an unreachable search server is :class:`SearchUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, runtime_checkable

from chartvault.errors import BadInput, Unavailable
from chartvault.types import WordBox

__all__ = ["WordBox"]  # re-exported for backends and callers


class QuerySyntaxError(BadInput):
    code = "query_syntax"


# seconds one search may run before it is stopped and refused (QueryTooCostly), in
# every backend: one user's costly query must not hold the searchers for longer
TIME_BUDGET = 20.0


class QueryTooCostly(QuerySyntaxError):
    """The search is past the per-query cost bound (terms, fuzzy expansion, time): 422."""

    code = "query_too_costly"


class SearchUnavailable(Unavailable):
    code = "search_unavailable"


@dataclass(frozen=True)
class PageEntry:
    number: int  # 1-based
    text: str
    words: tuple[WordBox, ...] = ()


@dataclass(frozen=True)
class DocumentEntry:
    document_id: str
    mrn: str
    doc_type: str
    pages: tuple[PageEntry, ...]
    patient_name: str = ""
    date_of_birth: date | None = None
    service_date: date | None = None
    facility: str = ""
    batch_id: str = ""


@dataclass(frozen=True)
class SearchQuery:
    text: str
    mrn: str | None = None
    doc_type: str | None = None
    limit: int = 20
    offset: int = 0
    sort: str = "relevance"  # relevance | date
    # document ids left out of hits, totals and facets alike (see access_rules)
    exclude_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PageHit:
    page: int
    score: float
    snippet: str  # plain text; matched words wrapped in \x02 ... \x03 (escape, then mark up)
    words: tuple[WordBox, ...] = ()  # boxes of the matched words on that page


@dataclass(frozen=True)
class Hit:
    """One document, its best page first."""

    document_id: str
    mrn: str
    doc_type: str
    service_date: date | None
    score: float
    pages: tuple[PageHit, ...]

    @property
    def page(self) -> int:
        return self.pages[0].page

    @property
    def snippet(self) -> str:
        return self.pages[0].snippet


@dataclass(frozen=True)
class SearchResult:
    total: int  # documents matched
    hits: tuple[Hit, ...]
    facets: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # True when ``total`` (and so the facet counts) is an estimate, as for large results
    # (a HyperLogLog count, about 1-2 % off); show it as "about N".
    total_estimated: bool = False


@runtime_checkable
class SearchIndex(Protocol):
    def upsert(self, document: DocumentEntry) -> None:
        """Replace every page of the document; idempotent; visible to search on return."""

    def delete(self, document_id: str) -> None:
        """Remove every page of the document; deleting a missing one is not an error."""

    def expunge_deleted(self) -> None:
        """Physically remove deleted pages from the index's storage (their text stays in
        segment files until then), so a destroyed record leaves no word behind; idempotent,
        may take long on a large index. Raises :class:`SearchUnavailable` if it could not."""

    def search(self, query: SearchQuery) -> SearchResult: ...

    def count(self) -> int:
        """Number of documents in the index."""

    def document_ids(self) -> set[str]: ...

    def rebuild(self, documents: Iterable[DocumentEntry]) -> int:
        """Replace the whole index with ``documents``; returns how many were loaded."""

    def close(self) -> None: ...
