"""What ``SearchIndex.expunge_deleted`` costs on the embedded index (issue 20, item 5).

    .venv/bin/python bench/expunge_bench.py --pages 100000

Loads the search bench's synthetic corpus (``bench/search_bench.py``: 250 words a page,
1-8 pages a document, no word boxes) into a fresh Tantivy index with the default shard
count in one rebuild (so each shard is one large segment, the worst case: a deleted
chart shares its segment with every other chart of its shard), deletes one document,
and times the expunge, then a second (nothing left to do), and each round that held the
writer lock (the longest an index write waits).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100_000)
    args = parser.parse_args()
    from search_bench import Corpus

    from search import tantivy_expunge
    from search.tantivy_index import DEFAULT_SHARDS, TantivyIndex

    rounds: list[float] = []  # each round holds the writer lock: what a writer may wait
    real_round = tantivy_expunge.expunge_round

    def timed_round(shard, segments):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        try:
            return real_round(shard, segments)
        finally:
            rounds.append(time.perf_counter() - started)

    tantivy_expunge.expunge_round = timed_round

    with tempfile.TemporaryDirectory(prefix="cv-expunge-") as tmp:
        index = TantivyIndex(Path(tmp) / "index", parallel=False)
        started = time.perf_counter()
        documents = index.rebuild(Corpus(seed=7).documents(args.pages))
        loaded = time.perf_counter() - started
        index.delete("bench-00000010")
        started = time.perf_counter()
        index.expunge_deleted()
        first = time.perf_counter() - started
        started = time.perf_counter()
        index.expunge_deleted()
        again = time.perf_counter() - started
        kept = index.count()
        index.close()
    print(f"{args.pages} pages, {documents} documents, {DEFAULT_SHARDS} shards: "
          f"load {loaded:.1f} s")
    print(f"expunge after deleting one document: {first:.1f} s "
          f"({args.pages / DEFAULT_SHARDS / first:,.0f} pages a second rewritten); "
          f"again: {again * 1000:.1f} ms; documents left {kept}")
    print(f"rounds of {tantivy_expunge.REWRITE_CHUNK} documents under the writer lock: "
          f"{len(rounds)}, longest {max(rounds):.2f} s, "
          f"median {sorted(rounds)[len(rounds) // 2]:.2f} s")


if __name__ == "__main__":
    main()
