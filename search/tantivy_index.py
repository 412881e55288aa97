"""The embedded search backend: Tantivy shards in a local folder.

The folder holds ``shard-0`` ... ``shard-<N-1>``, each its own Tantivy index; a
document lives, every page of it, in shard ``doc_key(id) % N`` (:mod:`search.shards`).
Writes from any process are serialized by an ``flock`` on ``<index>.writer.lock``
beside the folder (Tantivy allows one writer per index and fails rather than waits),
and every write commits before returning. A shard reloads at the start of any read
that follows a commit (:class:`~search.tantivy_shard.TantivyShard`), so an upsert is
visible on return to every process's next search. Searches run on every
shard at once in searcher processes (:mod:`search.shard_pool`), or one shard after
another in this process (``parallel=False``: one-shot commands, where starting
processes costs more than it saves, and one shard).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import tantivy

from chartvault.files import private_folder
from search import results, shard_pool, tantivy_expunge
from search.interface import DocumentEntry, SearchQuery, SearchResult
from search.locking import exclusive
from search.query import ParsedQuery
from search.shards import (
    MAX_SHARDS,
    IndexLayoutError,
    check_layout,
    choose,
    merge,
    positions,
    set_aside,
    shard_of,
    shard_path,
    write_layout,
)
from search.tantivy_shard import TantivyShard, page_documents

DEFAULT_SHARDS = 2


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".writer.lock")


def set_aside_unreadable(path: Path, shards: int, lock_timeout: float = 60.0) -> Path | None:
    """Before a rebuild: if ``path`` holds an index this code must not read (an older
    layout, another shard count), rename it aside under the writer lock and return where
    it went; None when the folder is readable or absent."""
    with exclusive(_lock_path(path), lock_timeout):
        try:
            check_layout(path, shards)
        except IndexLayoutError:
            return set_aside(path, datetime.now(UTC))
        return None


class TantivyIndex:
    """:class:`search.SearchIndex` on a folder of Tantivy shards; safe to share between
    processes and between threads."""

    def __init__(self, path: Path, *, shards: int = DEFAULT_SHARDS, parallel: bool = True,
                 lock_timeout: float = 60.0, writer_heap: int = 128_000_000) -> None:
        if not 1 <= shards <= MAX_SHARDS:
            raise ValueError(f"shards must be 1 to {MAX_SHARDS}")
        self.path = private_folder(Path(path))  # page text: the service's user only
        self._lock_path = _lock_path(self.path)
        self._lock_timeout = lock_timeout
        paths = [shard_path(self.path, n) for n in range(shards)]
        self._open_layout(len(paths))
        self._shards = [TantivyShard(p, share=shards, writer_heap=writer_heap) for p in paths]
        # processes only pay when there are shards to search at once
        self._pool = shard_pool.acquire(paths) if parallel and shards > 1 else None

    def _open_layout(self, count: int) -> None:
        if check_layout(self.path, count):
            return  # the common case, without the writer lock: searches never wait for it
        with exclusive(self._lock_path, self._lock_timeout):
            if not check_layout(self.path, count):
                for n in range(count):
                    private_folder(shard_path(self.path, n))
                    TantivyShard(shard_path(self.path, n))  # creates the empty index
                write_layout(self.path, count)

    # --- writes -------------------------------------------------------------------------

    @contextmanager
    def _writers(self, numbers: Iterable[int], action: str
                 ) -> Iterator[dict[int, tantivy.IndexWriter]]:
        """Writers of these shards under the writer lock; each shard commits on success
        (one after another: a reader may see one shard's commit before the next)."""
        with exclusive(self._lock_path, self._lock_timeout):
            with ExitStack() as stack:
                writers = {n: stack.enter_context(self._shards[n].writer(action))
                           for n in sorted(set(numbers))}
                yield writers

    def _shard_of(self, document_id: str) -> int:
        return shard_of(document_id, len(self._shards))

    def upsert(self, document: DocumentEntry) -> None:
        self.upsert_many([document])

    def upsert_many(self, documents: Iterable[DocumentEntry]) -> int:
        """Replace each document's pages, one commit per shard; returns how many documents."""
        by_shard: dict[int, list[DocumentEntry]] = defaultdict(list)
        for entry in documents:
            by_shard[self._shard_of(entry.document_id)].append(entry)
        with self._writers(by_shard, "save the document") as writers:
            for n, entries in by_shard.items():
                for entry in entries:
                    writers[n].delete_documents_by_term("document_id", entry.document_id)
                    for doc in page_documents(entry):
                        writers[n].add_document(doc)
        return sum(len(e) for e in by_shard.values())

    def delete(self, document_id: str) -> None:
        n = self._shard_of(document_id)
        with self._writers([n], "delete the document") as writers:
            writers[n].delete_documents_by_term("document_id", document_id)

    def expunge_deleted(self) -> None:
        """Rewrite what shares a segment with deleted pages, so no deleted page's text is
        left in the index's files (:mod:`search.tantivy_expunge`), in rounds under the
        writer lock (writers wait a round, searches go on). Pages deleted after it began
        are left to the next call."""
        for shard in self._shards:
            with exclusive(self._lock_path, self._lock_timeout):
                segments = tantivy_expunge.targets(shard)
            done = not segments
            while not done:  # in rounds: other writers get the lock in between
                with exclusive(self._lock_path, self._lock_timeout):
                    done = tantivy_expunge.expunge_round(shard, segments)

    def rebuild(self, documents: Iterable[DocumentEntry]) -> int:
        """Replace everything, one commit per shard. Each shard's writer indexes in its own
        Tantivy thread, so N shards index on N cores while this thread feeds them."""
        count = 0
        with self._writers(range(len(self._shards)), "be rebuilt") as writers:
            for writer in writers.values():
                writer.delete_all_documents()
            for entry in documents:
                writer = writers[self._shard_of(entry.document_id)]
                for doc in page_documents(entry):
                    writer.add_document(doc)
                count += 1
        return count

    # --- reads --------------------------------------------------------------------------

    def count(self) -> int:
        return sum(s.count() for s in self._shards)

    def document_ids(self) -> set[str]:
        return set().union(*(s.document_ids() for s in self._shards))

    def search(self, query: SearchQuery) -> SearchResult:
        return results.with_fuzzy_fallback(self._search, query)

    def _search(self, parsed: ParsedQuery, query: SearchQuery) -> SearchResult:
        # every shard ranks its first offset+limit documents: any of them may be on the page
        wanted = replace(query, limit=query.offset + query.limit, offset=0)
        if self._pool is not None:
            return self._pool.search(parsed, wanted, query)
        ranked = [s.rank(parsed, wanted) for s in self._shards]
        rankings = [ranking for ranking, _ in ranked]
        chosen = choose(rankings, query)
        hits = {n: ranked[n][1].fetch(at) for n, at in positions(chosen).items()}
        return merge(rankings, chosen, hits)

    def close(self) -> None:
        """Stop using the index (its searcher processes stop with the last user); idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            shard_pool.release(pool)
        self._shards = []

