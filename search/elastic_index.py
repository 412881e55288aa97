"""The server search backend: Elasticsearch through the official client.

Targets Elasticsearch 9.x (the client is bounded to the compose file's server:
a client of another major, or newer than its server, is not supported). Uses only
long-standing APIs: composable index templates, bulk, ``collapse`` with
``inner_hits``, ``cardinality`` and ``terms`` aggregations, ``search_after``,
and atomic ``_aliases`` actions.

One Elasticsearch document per page (``_id`` = ``<document_id>:<page>``), read
and written through an alias (``settings.elasticsearch_index``) that points at
one concrete index ``<alias>-<suffix>``; :meth:`ElasticIndex.rebuild` loads a
new concrete index and swaps the alias atomically, so searches never see a
half-built index. Writes refresh before returning (searchable at once; the
index's own refresh interval is 1 s). Vendor exceptions are translated here:
an unreachable or failing cluster is :class:`SearchUnavailable`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import elastic_transport
import elasticsearch
from elasticsearch import Elasticsearch, helpers

from search import results
from search.elastic_query import Dsl, to_dsl
from search.highlight import MARK_END, MARK_START, WordMatcher, well_formed
from search.interface import (
    TIME_BUDGET,
    DocumentEntry,
    QuerySyntaxError,
    QueryTooCostly,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
)
from search.query import ParsedQuery, normalize_key

EXACT_TOTAL_LIMIT = 40_000  # cardinality's maximum precision_threshold: exact below this
BULK_CHUNK = 500
EXPUNGE_TIMEOUT = 3600.0  # seconds: a force merge rewrites whole segments
_CLEAN = str.maketrans({MARK_START: " ", MARK_END: " "})

TEMPLATE: Dsl = {
    "settings": {
        "number_of_shards": 1,
        "refresh_interval": "1s",
        "analysis": {
            # split on anything but letters and digits, as the query parser does ("o'brien"
            # -> o, brien); a char filter + standard tokenizer rather than a pattern
            # tokenizer, which the osmem stand-in indexes wrongly (measured, osmem 0.1.6)
            "char_filter": {"alnum": {"type": "pattern_replace", "pattern": r"[^\p{L}\p{N}]+",
                                      "replacement": " "}},
            "analyzer": {"ocr": {"type": "custom", "char_filter": ["alnum"],
                                 "tokenizer": "standard", "filter": ["lowercase"]}},
        },
    },
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "document_id": {"type": "keyword"},
            "first_page": {"type": "boolean"},
            "mrn": {"type": "keyword"},
            "mrn_key": {"type": "keyword"},
            "patient_name": {"type": "keyword", "index": False},
            "name": {"type": "text", "analyzer": "ocr"},
            "date_of_birth": {"type": "keyword", "index": False},
            "doc_type": {"type": "keyword"},
            "doc_type_key": {"type": "keyword"},
            "service_date": {"type": "date", "format": "yyyy-MM-dd"},
            "year": {"type": "integer"},
            "facility": {"type": "keyword"},
            "facility_key": {"type": "keyword"},
            "batch_id": {"type": "keyword"},
            "page": {"type": "integer"},
            "text": {"type": "text", "analyzer": "english",
                     "fields": {"exact": {"type": "text", "analyzer": "ocr"}}},
            "words": {"type": "object", "enabled": False},
        },
    },
}

_FACETS = {"doc_type": "doc_type", "year": "year", "facility": "facility"}


@contextmanager
def _vendor_errors(action: str) -> Iterator[None]:
    try:
        yield
    except elasticsearch.ApiError as exc:
        if exc.meta.status == 400 and action == "search":
            raise QuerySyntaxError(f"The search server refused this search: {exc.message}. "
                                   "Try fewer or longer words.") from exc
        raise SearchUnavailable(f"Elasticsearch could not {action}: "
                                f"{exc.meta.status} {exc.message}") from exc
    except (elastic_transport.TransportError, helpers.BulkIndexError) as exc:
        raise SearchUnavailable(f"Elasticsearch could not {action}: {exc}") from exc


def page_sources(entry: DocumentEntry) -> Iterator[tuple[str, Dsl]]:
    first = min((p.number for p in entry.pages), default=None)
    meta = {
        "document_id": entry.document_id, "mrn": entry.mrn, "mrn_key": entry.mrn.upper(),
        "patient_name": entry.patient_name, "name": entry.patient_name,
        "date_of_birth": entry.date_of_birth.isoformat() if entry.date_of_birth else None,
        "doc_type": entry.doc_type, "doc_type_key": entry.doc_type.lower(),
        "service_date": entry.service_date.isoformat() if entry.service_date else None,
        "year": entry.service_date.year if entry.service_date else None,
        "facility": entry.facility or None, "facility_key": normalize_key(entry.facility) or None,
        "batch_id": entry.batch_id,
    }
    for page in entry.pages:
        source = dict(meta, page=page.number, first_page=page.number == first,
                      text=page.text.translate(_CLEAN),
                      words=[w.as_dict() for w in page.words])
        yield f"{entry.document_id}:{page.number}", source


class ElasticIndex:
    """:class:`search.SearchIndex` on an Elasticsearch 9.x cluster behind an alias."""

    def __init__(self, url: str, index_name: str, *, request_timeout: float = 30.0,
                 basic_auth: tuple[str, str] | None = None,
                 client: Elasticsearch | None = None) -> None:
        self.alias = index_name
        self._es = client or Elasticsearch(url, request_timeout=request_timeout,
                                           basic_auth=basic_auth, retry_on_timeout=True,
                                           max_retries=2)
        with _vendor_errors("prepare the index"):
            self._ensure()

    def _ensure(self) -> None:
        self._es.indices.put_index_template(
            name=f"{self.alias}-template", index_patterns=[f"{self.alias}-*"],
            template=TEMPLATE, priority=100)
        if self._es.indices.exists_alias(name=self.alias):
            return
        first = f"{self.alias}-initial"
        # two processes may race here: creating an existing index is a harmless 400
        self._es.options(ignore_status=400).indices.create(index=first)
        self._es.indices.update_aliases(actions=[{"add": {"index": first, "alias": self.alias}}])

    # --- writes -------------------------------------------------------------------------

    def upsert(self, document: DocumentEntry) -> None:
        """Index the new pages, then drop pages the new version no longer has (no gap)."""
        with _vendor_errors("save the document"):
            self._bulk(self.alias, [document])
            self._es.delete_by_query(
                index=self.alias, refresh=True, conflicts="proceed",
                query={"bool": {
                    "filter": [{"term": {"document_id": document.document_id}}],
                    "must_not": [{"terms": {"page": [p.number for p in document.pages]}}],
                }})

    def upsert_many(self, documents: Iterable[DocumentEntry]) -> int:
        count = 0
        for document in documents:
            self.upsert(document)
            count += 1
        return count

    def _bulk(self, index: str, documents: Iterable[DocumentEntry], refresh: bool = True) -> int:
        count = 0

        def actions() -> Iterator[Dsl]:
            nonlocal count
            for entry in documents:
                count += 1
                for page_id, source in page_sources(entry):
                    yield {"_index": index, "_id": page_id, "_source": source}

        helpers.bulk(self._es, actions(), chunk_size=BULK_CHUNK, refresh=refresh)
        return count

    def delete(self, document_id: str) -> None:
        with _vendor_errors("delete the document"):
            self._es.delete_by_query(index=self.alias, refresh=True, conflicts="proceed",
                                     query={"term": {"document_id": document_id}})

    def expunge_deleted(self) -> None:
        """Force-merge away the segments holding deleted pages. Elasticsearch only expunges
        a segment whose deleted share is above ``index.merge.policy.expunge_deletes_allowed``
        (10 % by default), so one destroyed chart in a large segment would stay: the setting
        is put to 0 first (dynamic, idempotent). Waits for the merge; SearchUnavailable if
        it did not finish in time or a shard failed (the merge goes on in the cluster, and
        a second call finds less to do)."""
        with _vendor_errors("expunge deleted pages"):
            self._es.indices.put_settings(
                index=self.alias, settings={"index.merge.policy.expunge_deletes_allowed": 0})
            response = self._es.options(request_timeout=EXPUNGE_TIMEOUT).indices.forcemerge(
                index=self.alias, only_expunge_deletes=True, wait_for_completion=True)
        failed = (response.body.get("_shards") or {}).get("failed", 0)
        if failed:
            raise SearchUnavailable(f"Elasticsearch could not expunge deleted pages: {failed} "
                                    f"shard(s) failed ({response.body['_shards']})")

    def rebuild(self, documents: Iterable[DocumentEntry]) -> int:
        """Load a fresh index, swap the alias in one atomic action, drop the old index."""
        new = f"{self.alias}-{uuid.uuid4().hex[:12]}"
        with _vendor_errors("rebuild the index"):
            old = list(self._es.indices.get_alias(name=self.alias).body)
            self._es.indices.create(index=new, settings={"refresh_interval": "-1"})
            try:
                count = self._bulk(new, documents, refresh=False)
                self._es.indices.put_settings(index=new, settings={"refresh_interval": "1s"})
                self._es.indices.refresh(index=new)
                self._es.indices.update_aliases(actions=[
                    *({"remove": {"index": name, "alias": self.alias}} for name in old),
                    {"add": {"index": new, "alias": self.alias}},
                ])
            except BaseException:
                self._es.options(ignore_status=404).indices.delete(index=new)
                raise
            for name in old:
                self._es.options(ignore_status=404).indices.delete(index=name)
        return count

    # --- reads --------------------------------------------------------------------------

    def count(self) -> int:
        with _vendor_errors("count documents"):
            return int(self._es.count(index=self.alias,
                                      query={"term": {"first_page": True}})["count"])

    def document_ids(self) -> set[str]:
        ids: set[str] = set()
        after: list[Any] | None = None
        with _vendor_errors("list documents"):
            while True:
                page = self._es.search(
                    index=self.alias, size=1000, query={"term": {"first_page": True}},
                    sort=[{"document_id": "asc"}], source=False,
                    fields=["document_id"], search_after=after)
                hits = page["hits"]["hits"]
                ids.update(h["fields"]["document_id"][0] for h in hits)
                if len(hits) < 1000:
                    return ids
                after = hits[-1]["sort"]

    def search(self, query: SearchQuery) -> SearchResult:
        return results.with_fuzzy_fallback(self._search, query)

    def _search(self, parsed: ParsedQuery, query: SearchQuery) -> SearchResult:
        with _vendor_errors("search"):
            response = self._es.search(index=self.alias, **search_body(parsed, query))
        if response.get("timed_out"):  # partial results past the budget: refused, not shown
            raise QueryTooCostly(
                f"The search took longer than {TIME_BUDGET:.0f} s and was stopped: narrow it "
                "(fewer fuzzy~ or prefix* words, a patient, a type or a date).")
        matcher = WordMatcher(parsed, _english_stem)
        hits = [_hit(h, matcher) for h in response["hits"]["hits"]]
        aggs = response.get("aggregations", {})
        total = round(aggs.get("documents", {}).get("value", 0))
        facets = {name: {str(b.get("key_as_string", b["key"])): round(b["docs"]["value"])
                         for b in aggs.get(name, {}).get("buckets", [])}
                  for name in _FACETS}
        # the cardinality count is exact-ish up to its precision threshold, HyperLogLog above
        return SearchResult(total=max(total, query.offset + len(hits)), hits=tuple(hits),
                            facets=facets, total_estimated=total > EXACT_TOTAL_LIMIT)

    def close(self) -> None:
        self._es.close()


def search_body(parsed: ParsedQuery, query: SearchQuery) -> Dsl:
    """Collapse pages per document (best 3 as inner hits) and count documents per facet."""
    sort: list[Any] = ["_score", {"document_id": "asc"}]
    if query.sort != "relevance":
        order = "asc" if query.sort == "date_asc" else "desc"
        sort = [{"service_date": {"order": order, "missing": "_last"}}, *sort]
    docs = {"cardinality": {"field": "document_id", "precision_threshold": EXACT_TOTAL_LIMIT}}
    return {
        "query": to_dsl(parsed),
        "from_": query.offset,
        "size": query.limit,
        "sort": sort,
        "source": ["document_id", "mrn", "doc_type", "service_date"],
        "collapse": {"field": "document_id", "inner_hits": {
            "name": "pages", "size": results.PAGES_PER_DOCUMENT,
            "sort": ["_score", {"page": "asc"}], "_source": ["page", "text", "words"],
            "highlight": HIGHLIGHT}},
        "aggs": {"documents": docs, **{
            name: {"terms": {"field": field, "size": 100}, "aggs": {"docs": docs}}
            for name, field in _FACETS.items()}},
        "track_total_hits": True,
        "timeout": f"{TIME_BUDGET:.0f}s",  # the per-query time budget (shard_pool's too)
    }


# The engine marks what it matched (stems, fuzzy and prefix terms included) with
# the interface's \x02/\x03 markers; the page text had those removed at indexing,
# so a page cannot forge one. A fragment whose marks do not wrap whole words (the
# osmem stand-in gets offsets wrong after a char filter) or that marks nothing falls
# back to the shared Python highlighter.
HIGHLIGHT: Dsl = {
    "pre_tags": [MARK_START], "post_tags": [MARK_END], "encoder": "default",
    "number_of_fragments": 1, "fragment_size": 200, "no_match_size": 0,
    "require_field_match": False,
    "fields": {"text.exact": {}, "text": {}},
}


def _hit(hit: Dsl, matcher: WordMatcher) -> results.Hit:
    pages = [
        results.StoredPage(float(p.get("_score") or 0.0), p["_source"]["page"],
                           p["_source"].get("text", ""),
                           json.dumps(p["_source"].get("words") or []),
                           engine_snippet=_engine_snippet(p.get("highlight") or {}))
        for p in hit["inner_hits"]["pages"]["hits"]["hits"]
    ]
    return results.make_hit(hit["_source"], pages, matcher)


def _engine_snippet(highlight: Dsl) -> str:
    for field in ("text.exact", "text"):
        fragments = highlight.get(field) or []
        if fragments and well_formed(fragments[0]):
            return " ".join(fragments[0].split())
    return ""


def _english_stem(word: str) -> str:
    """Snippets mark inflections ("medications" for "medication") with a light stemmer."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word
