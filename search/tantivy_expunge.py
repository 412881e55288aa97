"""Physically remove deleted pages from a Tantivy shard.

A delete in Tantivy only marks the page in a bitset beside its segment: the page's text
stays in the segment's files until the segment is merged away, and tantivy-py (0.27)
exposes no merge. So the documents that share a segment with deleted pages are written
again (deleted and re-added from their own stored fields, which hold every field the
index is built from): the old segments are left with no live page, Tantivy drops them
at the commit, and their files are collected. Documents in segments without deletes are
not touched, so the cost is that of the segments that held deleted pages.

The work is done in rounds of at most REWRITE_CHUNK documents, one commit each, under
the index's writer lock, which the caller releases between rounds: other writers wait
one round, not the whole expunge (a 50,000-page segment takes ~30 s). Each round reads
what it writes back under the lock, so no write of another process is lost.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime

import tantivy
from tantivy import Query

from chartvault.types import WordBox
from search.interface import DocumentEntry, PageEntry
from search.tantivy_shard import TantivyShard, _vendor_errors, page_documents

log = logging.getLogger(__name__)


REWRITE_CHUNK = 500  # documents a round: ~1-2 s of the writer lock (bench/RESULTS.md)


def targets(shard: TantivyShard) -> set[str]:
    """The ids of the shard's segments that hold deleted pages now."""
    return {seg["segment_id"] for seg in shard.meta_json().get("segments", [])
            if (seg.get("deletes") or {}).get("num_deleted_docs", 0) > 0}


def expunge_round(shard: TantivyShard, segments: set[str]) -> bool:
    """Write again up to REWRITE_CHUNK documents that still have live pages in these
    segments (by id); when none is left, collect the unused files and return True. The
    caller holds the writer lock. Raises SearchUnavailable on any engine error."""
    meta = shard.meta_json()
    listed = [seg["segment_id"] for seg in meta.get("segments", [])]
    wanted = {n for n, segment_id in enumerate(listed) if segment_id in segments}
    ids: list[str] = []
    if wanted:
        searcher = shard.searcher()
        with _vendor_errors("find the pages to expunge"):
            ids = _documents_in(searcher, meta, wanted, REWRITE_CHUNK)
    if not ids:
        shard.collect_garbage()
        return True
    with shard.writer("expunge deleted pages") as writer:
        for document_id in ids:  # one in memory at a time
            entry = _stored_entry(searcher, shard.schema, document_id)
            writer.delete_documents_by_term("document_id", document_id)
            if entry is not None:
                for doc in page_documents(entry):
                    writer.add_document(doc)
    log.info("search shard: documents written again", extra={
        "shard": shard.path.name, "documents": len(ids)})
    return False


def _documents_in(searcher: tantivy.Searcher, meta: dict, segments: set[int],
                  limit: int) -> list[str]:
    """Up to ``limit`` ids of documents with a live page in these segments (by ordinal).
    The searcher numbers segments in meta.json's order; that is checked against each
    segment's live count, and if it does not hold, every document of the shard is taken,
    whatever ``limit`` (one long round, never wrong: the segments are emptied by it)."""
    live = searcher.num_docs
    hits = searcher.search(Query.all_query(), limit=max(live, 1)).hits if live else []
    by_segment: dict[int, list] = defaultdict(list)
    for _, addr in hits:
        by_segment[addr.segment_ord].append(addr)
    expected = [s["max_doc"] - (s.get("deletes") or {}).get("num_deleted_docs", 0)
                for s in meta.get("segments", [])]
    counted = [len(by_segment.get(n, ())) for n in range(len(expected))]
    if searcher.num_segments != len(expected) or counted != expected:
        log.warning("search shard: segment order not as expected; rewriting every document")
        segments, limit = set(by_segment), live + 1
    ids: dict[str, None] = {}
    for n in sorted(segments):
        for addr in by_segment.get(n, ()):
            ids.setdefault(searcher.doc(addr).get_first("document_id"))
            if len(ids) >= limit:
                return list(ids)
    return list(ids)


def _stored_entry(searcher: tantivy.Searcher, schema: tantivy.Schema, document_id: str
                  ) -> DocumentEntry | None:
    """The document as it was indexed, from its pages' stored fields."""
    query = Query.term_query(schema, "document_id", document_id)
    count = searcher.search(query, limit=1, count=True).count
    if not count:
        return None
    stored = [searcher.doc(addr).to_dict()
              for _, addr in searcher.search(query, limit=count).hits]
    first = {name: values[0] for name, values in stored[0].items() if values}
    pages = tuple(sorted((_page(d) for d in stored), key=lambda p: p.number))
    return DocumentEntry(
        document_id=document_id, mrn=first.get("mrn", ""), doc_type=first.get("doc_type", ""),
        pages=pages, patient_name=first.get("patient_name", ""),
        date_of_birth=_date(first.get("date_of_birth")),
        service_date=_date(first.get("service_date")),
        facility=first.get("facility", ""), batch_id=first.get("batch_id", ""))


def _page(fields: dict) -> PageEntry:
    words = fields.get("words") or [b"[]"]
    return PageEntry(number=fields["page"][0], text=(fields.get("text") or [""])[0],
                     words=tuple(_boxes(words[0])))


def _boxes(raw: bytes) -> Iterator[WordBox]:
    for box in json.loads(raw):
        yield WordBox(**box)


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        return date.fromisoformat(value)
    return None
