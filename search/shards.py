"""Sharding of the embedded index: which shard holds a document, the folder layout,
and merging the shards' answers into one :class:`SearchResult`.

A document goes to shard ``key % N`` with a stable 64-bit key of its id, every page
with it, so the shards' totals and facet counts simply add up. A search has two
phases, like Elasticsearch's query-then-fetch: every shard ranks its documents
(:class:`ShardRanking`), the rankings are merged, and only the shards holding the
documents shown build their hits (snippets, word boxes), each its own share. Each
shard scores with its own BM25 statistics, so scores differ slightly from one big
index's, but the same index answers the same query the same way.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path

from search.interface import Hit, SearchQuery, SearchResult, SearchUnavailable

# 2: the sharded layout (shard-0, shard-1, ... under the index folder). 1 was one
# Tantivy index in the folder itself (before 2026-11-26).
SCHEMA_VERSION = "2"
SCHEMA_FILE = "chartvault-schema"
SHARDS_FILE = "chartvault-shards"
MAX_SHARDS = 64


class IndexLayoutError(SearchUnavailable):
    """The index folder holds an index this code must not read (an older layout, another
    shard count). The index is derived data: ``chartvault reindex`` sets the folder aside
    and builds it again from the catalog."""


@dataclass(frozen=True)
class ShardRanking:
    """One shard's answer to the query phase: the values its first offset+limit documents
    are ordered by (score, or service date), its total and its facets (document counts,
    which add across shards). Hits are fetched afterwards, for the documents shown."""

    total: int
    facets: Mapping[str, Mapping[str, int]]
    order: tuple[float, ...]
    estimated: bool = False  # the total is an estimate (see SearchResult.total_estimated)


def doc_key(document_id: str) -> int:
    """A stable 64-bit key per document (not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.blake2b(document_id.encode(), digest_size=8).digest(), "big")


def shard_of(document_id: str, shards: int) -> int:
    return doc_key(document_id) % shards


def shard_path(index: Path, number: int) -> Path:
    return index / f"shard-{number}"


def check_layout(path: Path, shards: int) -> bool:
    """True when ``path`` holds a sharded index of ``shards`` shards, False when it holds
    no index yet. Raises :class:`IndexLayoutError` (saying how to rebuild) for an index
    of another version or another shard count: misreading it would lose documents."""
    version_file, shards_file = path / SCHEMA_FILE, path / SHARDS_FILE
    version = version_file.read_text().strip() if version_file.exists() else None
    if (path / "meta.json").exists():
        raise IndexLayoutError(
            f"The search index at {path} is one unsharded index from an older version of "
            f"Chartvault; run `chartvault reindex` to build it again as {shards} shards "
            "(it sets the old folder aside).")
    if version is None:
        return False
    if version != SCHEMA_VERSION:
        raise IndexLayoutError(
            f"The search index at {path} was built by another version of Chartvault; "
            "run `chartvault reindex` (it sets the old folder aside).")
    built = int(shards_file.read_text()) if shards_file.exists() else None
    if built != shards:
        raise IndexLayoutError(
            f"The search index at {path} has {built} shards but CHARTVAULT_SEARCH_SHARDS "
            f"is {shards}: set it back to {built}, or run `chartvault reindex` (it sets "
            "the old folder aside).")
    return True


def set_aside(path: Path, now: datetime) -> Path:
    """Rename an index folder this code cannot read to ``<name>.set-aside-<UTC time>``
    beside it (kept, not deleted: the operator decides), so a new one can be built."""
    target = path.with_name(f"{path.name}.set-aside-{now:%Y%m%dT%H%M%S%fZ}")
    path.rename(target)
    return target


def write_layout(path: Path, shards: int) -> None:
    """Mark ``path`` as a sharded index, last (readers trust the marks, not the folders)."""
    (path / SHARDS_FILE).write_text(f"{shards}\n")
    (path / SCHEMA_FILE).write_text(SCHEMA_VERSION + "\n")


def choose(rankings: Sequence[ShardRanking], query: SearchQuery) -> list[tuple[int, int]]:
    """``(shard, rank position in that shard)`` of the documents on ``query``'s page:
    the shards' rankings merged by score (or date). Ties keep shard order, so the same
    rankings always merge the same way."""
    descending = query.sort != "date_asc"
    streams = [[(value, n, i) for i, value in enumerate(r.order)]
               for n, r in enumerate(rankings)]
    merged = heapq.merge(*streams, key=lambda t: t[0], reverse=descending)
    return [(n, i) for _, n, i in islice(merged, query.offset, query.offset + query.limit)]


def positions(chosen: Sequence[tuple[int, int]]) -> dict[int, list[int]]:
    """The chosen rank positions of each shard, in merged order."""
    out: dict[int, list[int]] = {}
    for n, i in chosen:
        out.setdefault(n, []).append(i)
    return out


def merge(rankings: Sequence[ShardRanking], chosen: Sequence[tuple[int, int]],
          hits: Mapping[int, Sequence[Hit]]) -> SearchResult:
    """One result: the chosen documents' hits in merged order (``hits[shard]`` in the
    order of that shard's :func:`positions`), totals and facet counts summed."""
    taken = {n: iter(h) for n, h in hits.items()}
    return SearchResult(total=sum(r.total for r in rankings),
                        hits=tuple(next(taken[n]) for n, _ in chosen),
                        facets=_sum_facets(r.facets for r in rankings),
                        total_estimated=any(r.estimated for r in rankings))


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
