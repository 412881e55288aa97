"""One shard of the embedded search backend: a Tantivy index in a local folder.

One Tantivy document per page, carrying its document's metadata. A shard searches
itself and returns its own top documents in rank order, its total and its
facets (:class:`search.shards.ShardRanking`), then builds the hits of those that the
merged page shows (:class:`Ranked`); :mod:`search.tantivy_index` routes writes to
shards and merges their answers. Tantivy exceptions are translated here:
anything the engine raises is :class:`SearchUnavailable`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import tantivy
from tantivy import Document, Index, Occur, Order, Query, SchemaBuilder

from search import results
from search.highlight import WordMatcher
from search.interface import DocumentEntry, Hit, SearchQuery, SearchUnavailable
from search.query import AnyOf, Node, ParsedQuery, Phrase, normalize_key
from search.shards import ShardRanking, doc_key
from search.tantivy_query import stem, to_tantivy

log = logging.getLogger(__name__)

EXACT_TOTAL_LIMIT = 10_000  # above this many matching pages, total is a HyperLogLog estimate
# Above this many matching pages, facet counts are page counts scaled by documents/pages:
# per-bucket distinct counting was 80% of the time of a query matching 700k pages (1M bench).
# Not lower: the scaling assumes every value has the same pages per document, which real
# archives do not (one-page lab results, long discharge summaries); at 10k it saved 3.4 ms
# median for 10k-50k-page queries (1M bench) and no query kind's p95 reached 20 ms with it.
EXACT_FACET_PAGES = 50_000
# Pages fetched by the first ranking pass: results up to this size need no second pass
# for their exact total (1M bench: mix p95 21.2 -> 18.3 ms CPU; phrases 39.5 -> 27.8 ms).
FIRST_FETCH = 1000
# These limits are for the whole index: a shard of N holds 1/N of the pages, so it applies
# 1/N of each (the same totals stay exact, the same facets estimated, as with one index).


def build_schema() -> tantivy.Schema:
    sb = SchemaBuilder()
    sb.add_text_field("document_id", stored=True, tokenizer_name="raw")
    sb.add_unsigned_field("doc_key", stored=False, indexed=True, fast=True)
    sb.add_boolean_field("first_page", indexed=True)
    sb.add_text_field("mrn", stored=True, tokenizer_name="raw")
    sb.add_text_field("mrn_key", tokenizer_name="raw")
    sb.add_text_field("patient_name", stored=True, tokenizer_name="raw")
    sb.add_text_field("name", tokenizer_name="default")
    sb.add_text_field("date_of_birth", stored=True, tokenizer_name="raw")
    sb.add_text_field("doc_type", stored=True, fast=True, tokenizer_name="raw")
    sb.add_text_field("doc_type_key", tokenizer_name="raw")
    sb.add_date_field("service_date", stored=True, indexed=True, fast=True)
    sb.add_integer_field("year", indexed=True, fast=True)
    sb.add_text_field("facility", stored=True, fast=True, tokenizer_name="raw")
    sb.add_text_field("facility_key", tokenizer_name="raw")
    sb.add_text_field("batch_id", stored=True, tokenizer_name="raw")
    sb.add_integer_field("page", stored=True, indexed=True, fast=True)
    sb.add_text_field("text", stored=True, tokenizer_name="en_stem")
    sb.add_text_field("exact", tokenizer_name="default")
    sb.add_bytes_field("words", stored=True, indexed=False)
    return sb.build()


def page_documents(entry: DocumentEntry) -> Iterator[Document]:
    first = min((p.number for p in entry.pages), default=None)
    for page in entry.pages:
        doc = Document()
        doc.add_text("document_id", entry.document_id)
        doc.add_unsigned("doc_key", doc_key(entry.document_id))
        doc.add_boolean("first_page", page.number == first)
        for name, value in _metadata(entry).items():
            if value:
                doc.add_text(name, value)
        if entry.service_date:
            d = entry.service_date
            doc.add_date("service_date", datetime(d.year, d.month, d.day))
            doc.add_integer("year", d.year)
        doc.add_integer("page", page.number)
        doc.add_text("text", page.text)
        doc.add_text("exact", page.text)
        doc.add_bytes("words", json.dumps([w.as_dict() for w in page.words]).encode())
        yield doc


def _metadata(entry: DocumentEntry) -> dict[str, str]:
    return {
        "mrn": entry.mrn,
        "mrn_key": entry.mrn.upper(),
        "patient_name": entry.patient_name,
        "name": entry.patient_name,
        "date_of_birth": entry.date_of_birth.isoformat() if entry.date_of_birth else "",
        "doc_type": entry.doc_type,
        "doc_type_key": entry.doc_type.lower(),
        "facility": entry.facility,
        "facility_key": normalize_key(entry.facility),
        "batch_id": entry.batch_id,
    }


@contextmanager
def _vendor_errors(action: str) -> Iterator[None]:
    try:
        yield
    except BaseException as exc:
        # pyo3 turns a Rust panic into PanicException, a BaseException: translate it too
        if isinstance(exc, ValueError | OSError | RuntimeError) or _is_panic(exc):
            raise SearchUnavailable(f"The search index could not {action}: {exc}") from exc
        raise


def _is_panic(exc: BaseException) -> bool:
    return type(exc).__name__ == "PanicException"


class TantivyShard:
    """One Tantivy folder: a shard of :class:`search.tantivy_index.TantivyIndex`.

    Holds no lock: the index around it serializes writers. A searcher process opens
    the same folder read-only and calls :meth:`rank`.

    Every read first looks at the shard's ``meta.json``, which Tantivy replaces on each
    commit (of any process), and reloads when it changed. So whatever a process
    committed before a read began is in that read: a chart marked indexed is found by
    the next search of every process. Tantivy's own reload, a watcher thread that
    polls every 500 ms, is off.
    """

    def __init__(self, path: Path, *, share: int = 1, writer_heap: int = 128_000_000) -> None:
        """``share``: how many shards the index is split into (scales the limits above)."""
        self.path = Path(path)
        self._share = share
        self._writer_heap = writer_heap
        self._seen = self._meta()  # before the reader loads, as in reload()
        with _vendor_errors("be opened"):
            self._index = Index(build_schema(), path=str(self.path), reuse=True)
            self._index.config_reader("manual")

    # --- writes (the caller holds the index's writer lock) -------------------------------

    @contextmanager
    def writer(self, action: str) -> Iterator[tantivy.IndexWriter]:
        """A writer committed (and its merges finished) on success, rolled back on error;
        this shard's reader is reloaded after the commit."""
        with _vendor_errors(action):
            writer = self._index.writer(self._writer_heap, 1)
            try:
                yield writer
                writer.commit()
                writer.wait_merging_threads()  # finishes merges and frees the writer
            except BaseException:
                writer.rollback()
                raise
            finally:
                del writer
        self.reload()

    def collect_garbage(self) -> None:
        """Delete the files no segment of the last commit uses (the caller holds the lock)."""
        with _vendor_errors("collect unused files"):
            writer = self._index.writer(self._writer_heap, 1)
            try:
                writer.garbage_collect_files()
            finally:
                writer.wait_merging_threads()

    def reload(self) -> None:
        """Read the last commit. ``meta.json`` is read before the reload: a commit landing
        in between is reloaded again at the next read, never missed."""
        seen = self._meta()
        with _vendor_errors("reload"):
            self._index.reload()
        self._seen = seen

    def meta_json(self) -> dict:
        """The last commit's ``meta.json`` (its segments, their deletes); {} if absent."""
        raw = self._meta()
        return json.loads(raw) if raw else {}

    @property
    def schema(self) -> tantivy.Schema:
        return self._index.schema

    def searcher(self) -> tantivy.Searcher:
        """A searcher on the last commit of any process."""
        self._fresh()
        with _vendor_errors("be read"):
            return self._index.searcher()

    def _meta(self) -> bytes | None:
        try:
            return (self.path / "meta.json").read_bytes()  # a few KB: schema, segments
        except OSError:
            return None  # the folder went away: the reload says why

    def _fresh(self) -> None:
        """Reload if any process committed since the last reload."""
        if self._meta() != self._seen:
            self.reload()

    # --- reads --------------------------------------------------------------------------

    def count(self) -> int:
        self._fresh()
        with _vendor_errors("be read"):
            searcher = self._index.searcher()
            return searcher.search(self._first_pages(), limit=1, count=True).count

    def document_ids(self) -> set[str]:
        self._fresh()
        with _vendor_errors("be read"):
            searcher = self._index.searcher()
            total = searcher.search(self._first_pages(), limit=1, count=True).count
            hits = searcher.search(self._first_pages(), limit=max(total, 1)).hits
            return {searcher.doc(addr).get_first("document_id") for _, addr in hits}

    def _first_pages(self) -> Query:
        return Query.term_query(self._index.schema, "first_page", True)

    def rank(self, parsed: ParsedQuery, query: SearchQuery) -> tuple[ShardRanking, Ranked]:
        """This shard's first ``query.offset + query.limit`` documents in rank order, with
        its total and facets (which add up across shards); their hits are built later,
        by :meth:`Ranked.fetch`, for the documents the merged page shows."""
        self._fresh()
        with _vendor_errors("be searched"):
            searcher = self._index.searcher()
            tq = to_tantivy(self._index.schema, parsed)
            groups, order, pages, exact = self._groups(searcher, tq, query)
            ranked = Ranked(searcher, groups, WordMatcher(parsed, stem))
            if pages == 0:
                return ShardRanking(0, {name: {} for name in _FACETS}, ()), ranked
            wanted = query.offset + query.limit
            least = min(len(groups), wanted)
            total, facets = self._count(searcher, tq, parsed, groups, pages, exact, least)
            estimated = exact is None and pages > self._part(EXACT_TOTAL_LIMIT)
        return ShardRanking(total, facets, tuple(order[:wanted]), estimated), ranked

    def _count(self, searcher: tantivy.Searcher, tq: Query, parsed: ParsedQuery,
               groups: list[results.Group], pages: int, exact: int | None, least: int
               ) -> tuple[int, dict[str, dict[str, int]]]:
        """Matching documents (at least ``least``) and documents per facet value: exact
        up to this shard's part of EXACT_TOTAL_LIMIT matching pages, estimated above."""
        exact_total, exact_facets = self._part(EXACT_TOTAL_LIMIT), self._part(EXACT_FACET_PAGES)
        if exact is not None and exact <= self._part(FIRST_FETCH) and _has_phrase(parsed):
            # Every matching page was seen: facets from the first pages of those
            # documents, cheaper than checking the phrase's word positions again.
            aggs = searcher.aggregate(self._documents(groups), _aggregations(False, False))
            return max(exact, least), _facets(aggs, 1.0)
        spec = _aggregations(exact is None and pages > exact_total, pages <= exact_facets)
        if exact is None and pages <= exact_total:
            # The exact total in the same pass: one bucket per matching document, all of
            # them, as there are no more documents than pages. A pass of its own cost
            # 1.5x as much (1M bench, 1,000-10,000 pages: p95 15.0 -> 9.5 ms).
            spec["keys"] = {"terms": {"field": "doc_key", "size": exact_total}}
        aggs = searcher.aggregate(tq, spec)
        if exact is not None:
            total = exact
        elif "keys" in aggs:
            total = len(aggs["keys"]["buckets"])
        else:
            total = round(aggs["documents"]["value"])
        total = max(total, least)
        return total, _facets(aggs, total / pages)

    def _part(self, limit: int) -> int:
        return max(1, limit // self._share)

    def _documents(self, groups: list[results.Group]) -> Query:
        """The first page of each of these documents."""
        schema = self._index.schema
        keys = [(Occur.Should, Query.term_query(schema, "doc_key", g.key)) for g in groups]
        return Query.boolean_query([(Occur.Must, Query.boolean_query(keys)),
                                    (Occur.Must, self._first_pages())])

    def _groups(self, searcher: tantivy.Searcher, tq: Query, query: SearchQuery
                ) -> tuple[list[results.Group], list, int, int | None]:
        """Documents in rank order: every one when every matching page was seen (then the
        last value is their number), else at least offset+limit; the value each is ordered
        by (score, or service date in ns); and the matching page count."""
        wanted = query.offset + query.limit
        limit = max(self._part(FIRST_FETCH), wanted * 4)
        by_date = query.sort != "relevance"
        while True:
            found = searcher.search(
                tq, limit=limit, count=True,
                order_by_field="service_date" if by_date else None,
                order=Order.Asc if query.sort == "date_asc" else Order.Desc)
            addrs = [addr for _, addr in found.hits]
            keys = searcher.fast_field_values("doc_key", addrs) if addrs else []
            scores = [0.0 if by_date else float(s) for s, _ in found.hits]
            groups = results.group(zip(keys, scores, addrs, strict=True))
            if by_date:  # a document's date: the sort value of its first page in the hits
                dates: dict = {}
                for key, (value, _) in zip(keys, found.hits, strict=True):
                    dates.setdefault(key, value)
                order = [dates[g.key] for g in groups]
            else:
                order = [g.score for g in groups]
            if limit >= found.count:
                return groups, order, found.count, len(groups)
            if len(groups) >= wanted:
                return groups[:wanted], order[:wanted], found.count, None
            limit *= 4


@dataclass(frozen=True)
class Ranked:
    """One search's ranking, kept by the shard (its searcher: the documents' addresses
    are only valid in it) until the hits of the documents shown are built."""

    searcher: tantivy.Searcher
    groups: list[results.Group]
    matcher: WordMatcher  # shared by the hits: it remembers its word decisions

    def fetch(self, positions: Iterable[int]) -> tuple[Hit, ...]:
        """The hits (snippets, word boxes) of the documents at these rank positions."""
        with _vendor_errors("be read"):
            return tuple(self._hit(self.groups[i]) for i in positions)

    def _hit(self, group: results.Group) -> Hit:
        stored = [(score, self.searcher.doc(addr).to_dict()) for score, addr in group.pages]
        fields = {name: values[0] for name, values in stored[0][1].items() if values}
        pages = [results.StoredPage(score, d["page"][0], d.get("text", [""])[0],
                                    d["words"][0] if d.get("words") else b"[]")
                 for score, d in stored]
        return results.make_hit(_entry_fields(fields), pages, self.matcher)


def _has_phrase(parsed: ParsedQuery) -> bool:
    def phrase(node: Node) -> bool:
        return isinstance(node, Phrase) or (
            isinstance(node, AnyOf) and any(phrase(o) for o in node.options))
    return any(phrase(node) for node in parsed.must)


def _entry_fields(fields: dict) -> dict:
    sd = fields.get("service_date")
    return {
        "document_id": fields["document_id"],
        "mrn": fields.get("mrn", ""),
        "doc_type": fields.get("doc_type", ""),
        "service_date": sd.date() if isinstance(sd, datetime) else sd if isinstance(sd, date)
        else None,
    }


_FACETS = {"doc_type": "doc_type", "year": "year", "facility": "facility"}
_DOCS = {"cardinality": {"field": "doc_key"}}


def _aggregations(estimate_total: bool, distinct_facets: bool) -> dict:
    aggs: dict = {"documents": _DOCS} if estimate_total else {}
    for name, field in _FACETS.items():
        aggs[name] = {"terms": {"field": field, "size": 100}}
        if distinct_facets:
            aggs[name]["aggs"] = {"docs": _DOCS}
    return aggs


def _facets(aggs: dict, docs_per_page: float) -> dict[str, dict[str, int]]:
    """Documents per value: counted distinctly, or (large results) estimated from pages."""
    out: dict[str, dict[str, int]] = {}
    for name in _FACETS:
        out[name] = {
            str(b["key"]): round(b["docs"]["value"]) if "docs" in b
            else max(1, round(b["doc_count"] * docs_per_page))
            for b in aggs.get(name, {}).get("buckets", []) if b["key"] != ""
        }
    return out
