"""Sharding of the embedded index: which shard holds a document, the folder layout,
and merging the shards' answers into one :class:`SearchResult`.

A document goes to shard ``key % N`` with a stable 64-bit key of its id, every page
with it, so the shards' totals and facet counts simply add up. Each shard ranks with
its own BM25 statistics (as Elasticsearch's query-then-fetch does): scores differ
slightly from one big index, but the same index answers the same query the same way.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from search.interface import Hit, SearchQuery, SearchResult, SearchUnavailable

# 2: the sharded layout (shard-0, shard-1, ... under the index folder). 1 was one
# Tantivy index in the folder itself (before 2026-11-26).
SCHEMA_VERSION = "2"
SCHEMA_FILE = "chartvault-schema"
SHARDS_FILE = "chartvault-shards"
MAX_SHARDS = 64


@dataclass(frozen=True)
class ShardResult:
    """One shard's answer: its first offset+limit documents (hits built), its total
    and facets (document counts, which add across shards)."""

    total: int
    hits: tuple[Hit, ...]
    facets: Mapping[str, Mapping[str, int]]


def doc_key(document_id: str) -> int:
    """A stable 64-bit key per document (not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.blake2b(document_id.encode(), digest_size=8).digest(), "big")


def shard_of(document_id: str, shards: int) -> int:
    return doc_key(document_id) % shards


def shard_path(index: Path, number: int) -> Path:
    return index / f"shard-{number}"


def check_layout(path: Path, shards: int) -> bool:
    """True when ``path`` holds a sharded index of ``shards`` shards, False when it holds
    no index yet. Raises :class:`SearchUnavailable` (saying how to rebuild) for an index
    of another version or another shard count: misreading it would lose documents."""
    version_file, shards_file = path / SCHEMA_FILE, path / SHARDS_FILE
    version = version_file.read_text().strip() if version_file.exists() else None
    if (path / "meta.json").exists():
        raise SearchUnavailable(
            f"The search index at {path} is one unsharded index from an older version of "
            "Chartvault; move the folder away (or delete it) and run `chartvault reindex` "
            f"to build it again as {shards} shards.")
    if version is None:
        return False
    if version != SCHEMA_VERSION:
        raise SearchUnavailable(
            f"The search index at {path} was built by another version of Chartvault; "
            "move the folder away and run `chartvault reindex`.")
    built = int(shards_file.read_text()) if shards_file.exists() else None
    if built != shards:
        raise SearchUnavailable(
            f"The search index at {path} has {built} shards but CHARTVAULT_SEARCH_SHARDS "
            f"is {shards}: set it back to {built}, or move the folder away and run "
            "`chartvault reindex`.")
    return True


def write_layout(path: Path, shards: int) -> None:
    """Mark ``path`` as a sharded index, last (readers trust the marks, not the folders)."""
    (path / SHARDS_FILE).write_text(f"{shards}\n")
    (path / SCHEMA_FILE).write_text(SCHEMA_VERSION + "\n")


def merge(answers: Sequence[ShardResult], query: SearchQuery) -> SearchResult:
    """The shards' answers as one result: hits merged by score (or date), totals and
    facet counts summed, then ``query``'s page cut. Ties keep shard order, so the
    same answers always merge the same way."""
    if query.sort == "relevance":
        ranked = heapq.merge(*(a.hits for a in answers), key=lambda h: -h.score)
    else:
        ranked = heapq.merge(*(a.hits for a in answers), key=_date_key(query.sort),
                             reverse=query.sort == "date")
    hits = list(ranked)[query.offset:query.offset + query.limit]
    return SearchResult(total=sum(a.total for a in answers), hits=tuple(hits),
                        facets=_sum_facets(a.facets for a in answers))


def _date_key(sort: str):  # noqa: ANN202 - a key function
    missing = date.max if sort == "date_asc" else date.min  # undated documents last
    return lambda h: h.service_date or missing


def _sum_facets(facets: Iterable[Mapping[str, Mapping[str, int]]]
                ) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for shard in facets:
        for name, counts in shard.items():
            bucket = out.setdefault(name, {})
            for value, count in counts.items():
                bucket[value] = bucket.get(value, 0) + count
    return {name: dict(sorted(counts.items(), key=lambda vc: (-vc[1], vc[0])))
            for name, counts in out.items()}
