"""The sharded Tantivy index: routing, merging, searcher processes, layout checks."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from search import (
    DocumentEntry,
    PageEntry,
    QueryTooCostly,
    SearchQuery,
    SearchUnavailable,
    check_drift,
)
from search.shards import IndexLayoutError, shard_of, shard_path
from search.tantivy_index import TantivyIndex
from search.tantivy_shard import TantivyShard

TYPES = ("lab", "note", "billing")


def _doc(n: int) -> DocumentEntry:
    """Document n: 1-3 pages saying "common", some "common common" (a higher score)."""
    texts = [f"common word page {p} of document {n}" + " common" * (n % 4)
             for p in range(1 + n % 3)]
    return DocumentEntry(
        document_id=f"doc-{n:03d}", mrn=f"TST{n:06d}", doc_type=TYPES[n % 3],
        pages=tuple(PageEntry(i + 1, t) for i, t in enumerate(texts)),
        service_date=date(2015 + n % 4, 1 + n % 12, 1), facility=("North", "South")[n % 2])


DOCS = [_doc(n) for n in range(60)]


def _ids_in(path: Path, n: int) -> set[str]:
    return TantivyShard(shard_path(path, n)).document_ids()


@pytest.fixture
def sharded(tmp_path: Path):  # noqa: ANN201
    index = TantivyIndex(tmp_path / "index", shards=2)
    index.upsert_many(DOCS)
    yield index
    index.close()


def test_documents_spread_over_shards_by_a_stable_hash(sharded: TantivyIndex,
                                                        tmp_path: Path) -> None:
    shard0, shard1 = _ids_in(tmp_path / "index", 0), _ids_in(tmp_path / "index", 1)
    assert shard0 and shard1 and not shard0 & shard1
    assert shard0 | shard1 == {d.document_id for d in DOCS}
    assert all(shard_of(i, 2) == 0 for i in shard0)
    assert shard_of("doc-000", 2) == shard_of("doc-000", 2)  # no salted hash()
    assert sharded.count() == 60


@pytest.mark.parametrize("text", ["common", '"common word"', "comm*", "commn~", "mrn:TST000007"])
def test_totals_facets_and_documents_match_one_shard(sharded: TantivyIndex, tmp_path: Path,
                                                     text: str) -> None:
    single = TantivyIndex(tmp_path / "single", shards=1)
    single.upsert_many(DOCS)
    one, two = (i.search(SearchQuery(text, limit=200)) for i in (single, sharded))
    single.close()
    assert two.total == one.total
    assert two.facets == one.facets
    assert {h.document_id for h in two.hits} == {h.document_id for h in one.hits}


def test_paging_walks_every_document_once_in_rank_order(sharded: TantivyIndex) -> None:
    everything = sharded.search(SearchQuery("common", limit=200)).hits
    pages = [sharded.search(SearchQuery("common", limit=7, offset=o)).hits
             for o in range(0, 63, 7)]
    walked = [h.document_id for page in pages for h in page]
    assert walked == [h.document_id for h in everything]
    assert len(walked) == 60
    scores = [h.score for h in everything]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("sort", ["date", "date_asc"])
def test_date_sort_merges_shards_by_date(sharded: TantivyIndex, sort: str) -> None:
    dates = [h.service_date for h in sharded.search(SearchQuery("common", limit=60,
                                                                sort=sort)).hits]
    assert dates == sorted(dates, reverse=sort == "date")
    first = sharded.search(SearchQuery("common", limit=5, offset=5, sort=sort)).hits
    assert [h.service_date for h in first] == dates[5:10]


def test_delete_removes_from_the_shard_that_holds_it(sharded: TantivyIndex,
                                                     tmp_path: Path) -> None:
    victim = "doc-007"
    home = shard_of(victim, 2)
    other = _ids_in(tmp_path / "index", 1 - home)
    sharded.delete(victim)
    assert victim not in _ids_in(tmp_path / "index", home)
    assert _ids_in(tmp_path / "index", 1 - home) == other
    assert sharded.search(SearchQuery("mrn:TST000007")).total == 0  # searchers reloaded


def test_rebuild_replaces_every_shard(sharded: TantivyIndex, tmp_path: Path) -> None:
    assert sharded.rebuild(DOCS[:10]) == 10
    assert sharded.document_ids() == {d.document_id for d in DOCS[:10]}
    assert sum(len(_ids_in(tmp_path / "index", n)) for n in range(2)) == 10
    assert sharded.search(SearchQuery("common", limit=50)).total == 10


def test_drift_check_reads_every_shard(sharded: TantivyIndex) -> None:
    catalog = {d.document_id for d in DOCS[1:]} | {"doc-999"}
    report = check_drift(sharded, catalog, sample=5)
    assert report.missing_from_index == ("doc-999",)
    assert report.unknown_in_index == ("doc-000",)


def test_searches_are_identical_in_processes_and_in_this_process(sharded: TantivyIndex,
                                                                 tmp_path: Path) -> None:
    inline = TantivyIndex(tmp_path / "index", shards=2, parallel=False)
    for text in ("common", "comm*", '"word page"'):
        assert sharded.search(SearchQuery(text)) == inline.search(SearchQuery(text))
    inline.close()


def _pids(index: TantivyIndex) -> list[int | None]:
    return index._pool.pids()  # noqa: SLF001 - the processes are what this test is about


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # exited and reaped: no zombie
    return False


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _gone(pid)


def test_a_dead_searcher_is_restarted_and_the_query_answered(sharded: TantivyIndex) -> None:
    before = sharded.search(SearchQuery("common"))
    pids = _pids(sharded)
    os.kill(pids[1], signal.SIGKILL)
    time.sleep(0.2)
    assert sharded.search(SearchQuery("common")) == before
    after = _pids(sharded)
    assert after[0] == pids[0] and after[1] not in (None, pids[1])
    assert _gone(pids[1])  # reaped when found dead: no zombie


def test_a_hung_searcher_fails_the_query_quickly_then_is_replaced(sharded: TantivyIndex) -> None:
    """Past the time budget the search is stopped and refused as too costly (422)."""
    sharded.search(SearchQuery("common"))
    pool = sharded._pool  # noqa: SLF001
    pool.reply_timeout = 0.5
    stuck = pool.pids()[0]
    os.kill(stuck, signal.SIGSTOP)
    try:
        start = time.monotonic()
        with pytest.raises(QueryTooCostly, match="took longer than"):
            sharded.search(SearchQuery("common"))
        assert time.monotonic() - start < 10
        assert _wait_gone(stuck)
    finally:
        if not _gone(stuck):
            os.kill(stuck, signal.SIGCONT)
    assert sharded.search(SearchQuery("common")).total == 60


def test_a_stuck_search_does_not_hold_up_the_others(sharded: TantivyIndex) -> None:
    """Issue 22 finding 8: one search held every shard's lock for its whole run, so a
    costly query stalled everyone's. A search stuck in its lane (its searchers stopped)
    leaves the next search a lane of its own."""
    expected = sharded.search(SearchQuery("common"))
    pool = sharded._pool  # noqa: SLF001
    pool.reply_timeout = 120  # the stuck search waits long; the other must not
    stuck = [pid for pid in pool.pids(0) if pid is not None]
    for pid in stuck:
        os.kill(pid, signal.SIGSTOP)
    outcome: list[object] = []
    blocked = threading.Thread(target=lambda: outcome.append(
        sharded.search(SearchQuery("comm*"))), daemon=True)
    try:
        blocked.start()
        time.sleep(0.5)  # let it take lane 0 (a later start only makes this test weaker)
        done = threading.Event()
        answers: list[object] = []

        def other() -> None:
            answers.append(sharded.search(SearchQuery("common")))
            done.set()

        threading.Thread(target=other, daemon=True).start()
        assert done.wait(60), "a search waited behind a stuck one"
        assert answers == [expected] and blocked.is_alive()
    finally:
        for pid in stuck:
            os.kill(pid, signal.SIGCONT)
    blocked.join(60)
    assert outcome and outcome[0].total == expected.total


def test_concurrent_callers_get_their_own_answers(sharded: TantivyIndex) -> None:
    texts = ["common", "mrn:TST000003", "comm*", '"word page"', "type:lab common"]
    expected = {t: sharded.search(SearchQuery(t)) for t in texts}
    failures: list[str] = []

    def caller(k: int) -> None:
        for i in range(20):
            text = texts[(k + i) % len(texts)]
            if sharded.search(SearchQuery(text)) != expected[text]:
                failures.append(text)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures


def test_indexes_on_one_folder_share_searchers_and_see_each_others_writes(
        sharded: TantivyIndex, tmp_path: Path) -> None:
    sharded.search(SearchQuery("common"))
    other = TantivyIndex(tmp_path / "index", shards=2)  # as the web app opens per request
    other.upsert(DocumentEntry("doc-new", "TST999999", "note", (PageEntry(1, "zebra"),)))
    assert other.search(SearchQuery("zebra")).total == 1
    assert _pids(other) == _pids(sharded)
    other.close()  # the first index still uses the searchers
    assert sharded.search(SearchQuery("zebra")).total == 1


def test_close_stops_the_searchers(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index", shards=2)
    index.upsert_many(DOCS[:5])
    index.search(SearchQuery("common"))
    pids = _pids(index)
    index.close()
    index.close()  # idempotent
    assert all(_wait_gone(pid) for pid in pids if pid)


def test_an_unsharded_index_from_an_older_version_is_refused(tmp_path: Path) -> None:
    old = tmp_path / "index"
    old.mkdir()
    TantivyShard(old)  # the pre-shard layout: one Tantivy index in the folder itself
    (old / "chartvault-schema").write_text("1\n")
    with pytest.raises(SearchUnavailable, match="older version.*chartvault reindex"):
        TantivyIndex(old)


def test_another_shard_count_is_refused(tmp_path: Path) -> None:
    TantivyIndex(tmp_path / "index", shards=2).close()
    with pytest.raises(SearchUnavailable, match="CHARTVAULT_SEARCH_SHARDS"):
        TantivyIndex(tmp_path / "index", shards=3)


def test_a_searcher_dying_mid_search_is_replaced_and_the_search_run_again(
        sharded: TantivyIndex) -> None:
    before = sharded.search(SearchQuery("common"))
    victim = _pids(sharded)[0]
    os.kill(victim, signal.SIGSTOP)  # it will not answer the next request...
    answer: list = []
    searching = threading.Thread(target=lambda: answer.append(
        sharded.search(SearchQuery("common"))))
    searching.start()
    time.sleep(0.3)
    os.kill(victim, signal.SIGKILL)  # ...and dies with it pending
    searching.join(timeout=30)
    assert answer == [before]
    assert victim not in _pids(sharded)


def test_an_error_on_one_shard_leaves_no_reply_behind(sharded: TantivyIndex,
                                                      tmp_path: Path) -> None:
    expected = sharded.search(SearchQuery("common"))
    broken = shard_path(tmp_path / "index", 1)
    sharded.search(SearchQuery("zebra"))
    # a shard that fails: its folder gone, which its searcher finds at the next search
    moved = broken.with_name("moved")
    broken.rename(moved)
    with pytest.raises(SearchUnavailable):
        sharded.search(SearchQuery("common"))
    moved.rename(broken)
    assert sharded.search(SearchQuery("common")) == expected


def test_opening_and_searching_never_wait_for_a_writer(sharded: TantivyIndex,
                                                       tmp_path: Path) -> None:
    from search.locking import exclusive

    with exclusive(tmp_path / "index.writer.lock"):  # a long rebuild elsewhere
        reader = TantivyIndex(tmp_path / "index", shards=2, lock_timeout=0.2)
        assert reader.search(SearchQuery("common")).total == 60
        reader.close()


_CRASHING_PARENT = """
import os, signal, sys
from pathlib import Path
from search import SearchQuery
from search.tantivy_index import TantivyIndex
index = TantivyIndex(Path(sys.argv[1]), shards=2)
index.search(SearchQuery("common"))
print(*index._pool.pids(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no atexit, no close: a crash
"""


def test_searchers_of_a_crashed_parent_exit(sharded: TantivyIndex, tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _CRASHING_PARENT, str(tmp_path / "index")],
                          capture_output=True, text=True, timeout=120)
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) == 2, done.stderr
    assert all(_wait_gone(pid) for pid in pids)  # no orphans left behind


def test_a_script_without_a_main_guard_can_search_in_parallel(sharded: TantivyIndex,
                                                               tmp_path: Path) -> None:
    # multiprocessing's spawn and forkserver would run this script again in each searcher
    import subprocess
    import sys

    script = tmp_path / "no_guard.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\nfrom search import SearchQuery\n"
        "from search.tantivy_index import TantivyIndex\n"
        "index = TantivyIndex(Path(sys.argv[1]), shards=2)\n"
        "print(index.search(SearchQuery('common')).total, index._pool.pids()[0] is not None)\n")
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "index")],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["60", "True"], done.stderr


def test_a_shard_of_n_applies_one_nth_of_the_counting_limits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import search.tantivy_shard as module
    from search import results

    single = TantivyIndex(tmp_path / "index", shards=1)
    single.upsert_many(DOCS)  # 120 pages: lab 1 page a document, note 2, billing 3
    single.close()
    monkeypatch.setattr(module, "EXACT_FACET_PAGES", 200)
    query = SearchQuery("common")
    facets = {share: TantivyShard(shard_path(tmp_path / "index", 0), share=share)
              .rank(results.parse(query), query)[0].facets["doc_type"] for share in (1, 2)}
    assert facets[1] == {"lab": 20, "note": 20, "billing": 20}  # 120 <= 200: counted
    assert facets[2] == {"lab": 10, "note": 20, "billing": 30}  # 120 > 100: pages scaled


def test_a_searcher_dying_between_ranking_and_fetching_reruns_the_search(
        sharded: TantivyIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    import search.shard_pool as pool_module

    expected = sharded.search(SearchQuery("common"))
    victim = _pids(sharded)[0]
    real_choose, calls = pool_module.choose, []

    def choose_then_kill(*args):  # noqa: ANN002, ANN202 - fault injection around the real one
        if not calls:
            os.kill(victim, signal.SIGKILL)
            while Path(f"/proc/{victim}/stat").read_text().split()[2] != "Z":
                time.sleep(0.01)  # dead, not yet reaped
        calls.append(1)
        return real_choose(*args)

    monkeypatch.setattr(pool_module, "choose", choose_then_kill)
    assert sharded.search(SearchQuery("common")) == expected
    assert len(calls) == 2 and victim not in _pids(sharded)


def test_reindex_sets_an_unreadable_index_aside_and_builds_a_new_one(
        cv_env: dict[str, str]) -> None:
    """Upgrading from the unsharded layout: `chartvault reindex` keeps the old folder
    (renamed beside it) and builds the sharded one; searches work again."""
    from click.testing import CliRunner

    from chartvault.cli import main
    from chartvault.settings import get_settings
    from search import open_index

    index = get_settings().index_path
    index.mkdir(parents=True)
    TantivyShard(index)  # the pre-shard layout
    (index / "chartvault-schema").write_text("1\n")
    with pytest.raises(IndexLayoutError, match="chartvault reindex"):
        open_index(get_settings())
    done = CliRunner().invoke(main, ["reindex"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    aside = [p for p in index.parent.iterdir() if p.name.startswith("index.set-aside-")]
    assert len(aside) == 1 and (aside[0] / "meta.json").exists()
    assert str(aside[0]) in done.output and "reindexed 0 document(s)" in done.output
    reopened = open_index(get_settings(), one_shot=True)
    assert reopened.count() == 0
    reopened.close()
    again = CliRunner().invoke(main, ["reindex"], catch_exceptions=False)
    assert again.exit_code == 0 and "moved to" not in again.output  # readable: kept


def test_an_estimated_shard_total_makes_the_merged_total_estimated() -> None:
    from search.shards import ShardRanking, choose, merge

    exact = ShardRanking(3, {"doc_type": {"lab": 3}}, (2.0, 1.0, 0.5))
    estimated = ShardRanking(12_000, {"doc_type": {"lab": 9_000, "note": 3_000}},
                             (1.5,), estimated=True)
    query = SearchQuery("common", limit=2)
    for rankings, flagged in (([exact, exact], False), ([exact, estimated], True)):
        chosen = choose(rankings, query)
        hits = {n: [f"hit-{n}-{i}" for i in at] for n, at in
                {n: [i for m, i in chosen if m == n] for n, _ in chosen}.items()}
        result = merge(rankings, chosen, hits)  # type: ignore[arg-type]
        assert result.total_estimated is flagged
        assert result.total == sum(r.total for r in rankings)
