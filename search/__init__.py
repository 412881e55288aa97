"""Full-text search of OCR'd chart pages: the ``SearchIndex`` role and its backends.

``open_index(settings)`` picks the backend named by ``CHARTVAULT_SEARCH_BACKEND``;
backends are imported lazily so the embedded install never needs the
Elasticsearch client and the server install never loads Tantivy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chartvault.errors import ConfigurationError
from search.drift import DriftReport, check_drift
from search.interface import (
    DocumentEntry,
    Hit,
    PageEntry,
    PageHit,
    QuerySyntaxError,
    QueryTooCostly,
    SearchIndex,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    WordBox,
)
from search.query import ParsedQuery, parse_query

if TYPE_CHECKING:
    from pathlib import Path

    from chartvault.settings import Settings

__all__ = [
    "DocumentEntry",
    "DriftReport",
    "Hit",
    "PageEntry",
    "PageHit",
    "ParsedQuery",
    "QuerySyntaxError",
    "QueryTooCostly",
    "SearchIndex",
    "SearchQuery",
    "SearchResult",
    "SearchUnavailable",
    "WordBox",
    "check_drift",
    "import_backend",
    "open_index",
    "parse_query",
    "set_aside_unreadable_index",
]


def open_index(settings: Settings, *, one_shot: bool = False) -> SearchIndex:
    """The configured backend, ready to use. Raises :class:`SearchUnavailable`.

    ``one_shot``: the caller searches once and exits (the CLI); the embedded backend then
    searches its shards one after another here instead of starting searcher processes.
    """
    if settings.search_backend == "elasticsearch":
        from search.elastic_index import ElasticIndex

        auth = ((settings.elasticsearch_username, settings.elasticsearch_password)
                if settings.elasticsearch_password else None)
        return ElasticIndex(settings.elasticsearch_url, settings.elasticsearch_index,
                            basic_auth=auth)
    if settings.search_backend == "tantivy":
        from search.tantivy_index import TantivyIndex

        return TantivyIndex(settings.index_path, shards=settings.search_shards,
                            parallel=not one_shot)
    raise ConfigurationError(
        f"CHARTVAULT_SEARCH_BACKEND={settings.search_backend!r}: use tantivy or elasticsearch"
    )


def import_backend(settings: Settings) -> None:
    """Load the configured backend's code now, opening nothing: a worker does this before
    it forks its pool, so that no pool process pays the import (~50 ms for Tantivy's) in
    the first document it finishes."""
    if settings.search_backend == "elasticsearch":
        import search.elastic_index  # noqa: F401
    elif settings.search_backend == "tantivy":
        import search.tantivy_index  # noqa: F401


def set_aside_unreadable_index(settings: Settings) -> Path | None:
    """Before ``chartvault reindex``: an embedded index folder that this version cannot
    read (built by an older version or with another ``CHARTVAULT_SEARCH_SHARDS``) is
    renamed aside, so the rebuild can make a new one; returns where it went, or None
    (nothing to do, or the Elasticsearch backend, whose rebuild makes a new index)."""
    if settings.search_backend != "tantivy":
        return None
    from search.tantivy_index import set_aside_unreadable

    return set_aside_unreadable(settings.index_path, settings.search_shards)
