"""Tantivy-specific behaviour: cross-process writers, reopening, damaged input."""

from __future__ import annotations

import multiprocessing
from datetime import date
from pathlib import Path

import pytest

from chartvault.types import WordBox
from search import DocumentEntry, PageEntry, SearchQuery, SearchUnavailable
from search.locking import exclusive
from search.tantivy_index import TantivyIndex


def _entry(document_id: str, text: str = "routine follow up visit") -> DocumentEntry:
    return DocumentEntry(document_id=document_id, mrn="TST000123", doc_type="note",
                         pages=(PageEntry(1, text), PageEntry(2, "second page")))


def _writer_process(path: str, prefix: str, count: int) -> None:
    index = TantivyIndex(Path(path), lock_timeout=120)
    for i in range(count):
        index.upsert(_entry(f"{prefix}-{i:03d}", f"worker {prefix} document {i}"))
    index.close()


def test_two_processes_upserting_concurrently_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "index"
    TantivyIndex(path).close()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer_process, args=(str(path), p, 50)) for p in "ab"]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
        assert w.exitcode == 0
    index = TantivyIndex(path)
    assert index.count() == 100
    assert index.document_ids() == {f"{p}-{i:03d}" for p in "ab" for i in range(50)}
    assert index.search(SearchQuery("worker b document", limit=200)).total == 50


def _deleter_process(path: str, document_id: str) -> None:
    index = TantivyIndex(Path(path))
    index.delete(document_id)
    index.close()


def _in_another_process(target, *args) -> None:  # noqa: ANN001
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    process.join(timeout=120)
    assert process.exitcode == 0


@pytest.mark.parametrize("parallel", [True, False], ids=["searcher-processes", "in-process"])
def test_what_another_process_committed_is_in_the_next_search(tmp_path: Path,
                                                              parallel: bool) -> None:
    """A chart marked indexed is found by the next search of every process (the web app,
    the CLI): no wait for a reload. Tantivy's own reload would lag up to 500 ms."""
    path = tmp_path / "index"
    reader = TantivyIndex(path, parallel=parallel)
    try:
        assert reader.search(SearchQuery("worker")).total == 0  # its readers are loaded
        _in_another_process(_writer_process, str(path), "w", 3)
        assert reader.search(SearchQuery("worker", limit=10)).total == 3
        assert reader.document_ids() == {"w-000", "w-001", "w-002"}
        _in_another_process(_deleter_process, str(path), "w-001")
        assert {h.document_id for h in reader.search(SearchQuery("worker")).hits} == {
            "w-000", "w-002"}
        assert reader.count() == 2
    finally:
        reader.close()


def test_writer_waits_for_the_lock_then_gives_up_with_search_unavailable(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index", lock_timeout=0.2)
    with exclusive(tmp_path / "index.writer.lock"):
        # flock locks are per open file description: a second open in this process conflicts
        with pytest.raises(SearchUnavailable, match="busy"):
            index.upsert(_entry("doc-1"))
    index.upsert(_entry("doc-1"))
    assert index.count() == 1


def test_reopened_index_keeps_its_documents(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index")
    index.upsert(_entry("doc-1"))
    index.close()
    assert TantivyIndex(tmp_path / "index").document_ids() == {"doc-1"}


def test_index_from_another_schema_version_is_refused(tmp_path: Path) -> None:
    TantivyIndex(tmp_path / "index").upsert(_entry("doc-1"))
    (tmp_path / "index" / "chartvault-schema").write_text("0\n")
    with pytest.raises(SearchUnavailable, match="reindex"):
        TantivyIndex(tmp_path / "index")


def test_ocr_text_cannot_forge_highlight_marks(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index")
    index.upsert(_entry("doc-1", "evil \x02forged\x03 marks near asthma"))
    snippet = index.search(SearchQuery("asthma")).hits[0].snippet
    assert snippet.count("\x02") == 1
    assert "\x02asthma\x03" in snippet


def test_matched_word_boxes_are_returned(tmp_path: Path) -> None:
    boxes = tuple(WordBox(w, 10 * i, 0, 9, 9, 90.0)
                  for i, w in enumerate(["Chest", "pain,", "at", "rest"]))
    index = TantivyIndex(tmp_path / "index")
    index.upsert(DocumentEntry("doc-1", "TST000123", "note",
                               (PageEntry(1, "Chest pain, at rest", boxes),)))
    page = index.search(SearchQuery('"chest pain"')).hits[0].pages[0]
    assert [w.text for w in page.words] == ["Chest", "pain,"]


def test_empty_document_has_no_pages_and_is_not_counted(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index")
    index.upsert(DocumentEntry("doc-1", "TST000123", "note", ()))
    assert index.count() == 0


def _spread(n: int) -> DocumentEntry:
    """Document n: 1-3 pages, each saying "common" (and "rare pair" on its last page)."""
    texts = [f"common word page {p} of document {n}" for p in range(1 + n % 3)]
    texts[-1] += " rare pair"
    return DocumentEntry(
        document_id=f"doc-{n:03d}", mrn=f"TST{n:06d}", doc_type=("lab", "note", "billing")[n % 3],
        pages=tuple(PageEntry(i + 1, t) for i, t in enumerate(texts)),
        service_date=date(2015 + n % 4, 1, 1), facility=("North", "South")[n % 2])


@pytest.mark.parametrize("first_fetch, exact_total, exact_facets", [
    (1000, 10_000, 50_000),  # every matching page seen by the ranking pass
    (4, 10_000, 50_000),     # exact total from one bucket per document, facets counted distinctly
    (4, 10, 50_000),         # estimated total (HyperLogLog: exact at this size)
    (4, 10, 20),             # facets from page counts scaled by documents per page
])
@pytest.mark.parametrize("text", ["common", '"rare pair"', "comm*", "commn~"])
def test_totals_and_facets_agree_with_a_plain_count_on_every_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, first_fetch: int,
        exact_total: int, exact_facets: int) -> None:
    import search.tantivy_shard as module

    docs = [_spread(n) for n in range(60)]
    # in this process: the patched limits do not reach searcher processes
    index = TantivyIndex(tmp_path / "index", parallel=False)
    index.upsert_many(docs)
    monkeypatch.setattr(module, "FIRST_FETCH", first_fetch)
    monkeypatch.setattr(module, "EXACT_TOTAL_LIMIT", exact_total)
    monkeypatch.setattr(module, "EXACT_FACET_PAGES", exact_facets)
    result = index.search(SearchQuery(text, limit=5))
    index.close()
    assert result.total == 60
    assert len(result.hits) == 5
    # a HyperLogLog total (and only that) is flagged as an estimate
    assert result.total_estimated == (first_fetch == 4 and exact_total == 10)
    if exact_facets > 100:  # counted, not scaled
        assert result.facets["doc_type"] == {"lab": 20, "note": 20, "billing": 20}
        assert result.facets["year"] == {str(y): 15 for y in range(2015, 2019)}
        assert result.facets["facility"] == {"North": 30, "South": 30}
    else:  # 120 pages of 60 documents, scaled: about right
        assert sum(result.facets["doc_type"].values()) == pytest.approx(60, abs=3)


def _segments(path: Path) -> dict[str, int]:
    """Segment id -> deleted pages, of a one-shard index."""
    import json

    meta = json.loads((path / "shard-0" / "meta.json").read_text())
    return {s["segment_id"]: (s.get("deletes") or {}).get("num_deleted_docs", 0)
            for s in meta["segments"]}


def test_expunge_rewrites_only_the_segments_that_held_deleted_pages(tmp_path: Path) -> None:
    path = tmp_path / "index"
    index = TantivyIndex(path, shards=1, parallel=False)
    index.upsert_many([_entry("old-1"), _entry("old-2", "untouched clinic letter")])
    index.upsert_many([_entry("gone"), _entry("kept", "neighbour of the destroyed chart")])
    before = _segments(path)
    assert len(before) == 2 and not any(before.values())
    index.delete("gone")
    dirty = {s for s, deleted in _segments(path).items() if deleted}
    assert len(dirty) == 1
    index.expunge_deleted()
    after = _segments(path)
    assert not any(after.values())
    assert set(before) - dirty <= set(after)  # the clean segment is the same segment
    assert not dirty & set(after)
    assert not any(p.name.startswith(next(iter(dirty)).replace("-", ""))
                   for p in (path / "shard-0").iterdir())  # and its files are gone
    assert index.document_ids() == {"old-1", "old-2", "kept"}
    hit = index.search(SearchQuery("neighbour")).hits[0]
    assert (hit.document_id, hit.page) == ("kept", 1)
    index.close()


def test_expunge_works_in_rounds_and_loses_no_write_made_between_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import contextmanager

    from search import tantivy_expunge, tantivy_index

    path = tmp_path / "index"
    index = TantivyIndex(path, shards=1, parallel=False)
    index.upsert_many([_entry(f"doc-{n}", f"chart number {n} visit") for n in range(6)])
    index.delete("doc-0")
    monkeypatch.setattr(tantivy_expunge, "REWRITE_CHUNK", 2)
    real_round = tantivy_expunge.expunge_round
    rounds: list[bool] = []
    real_exclusive = tantivy_index.exclusive
    released = 0

    def counting_round(shard, segments):  # noqa: ANN001, ANN202
        rounds.append(real_round(shard, segments))
        return rounds[-1]

    @contextmanager
    def exclusive_then_write(lock, timeout):  # noqa: ANN001, ANN202
        nonlocal released
        with real_exclusive(lock, timeout):
            yield
        released += 1
        if released == 2:  # after the first round, before the next: another writer
            index.upsert(_entry("doc-5", "amended chart five"))
            index.upsert(_entry("doc-new", "a chart indexed meanwhile"))

    monkeypatch.setattr(tantivy_expunge, "expunge_round", counting_round)
    monkeypatch.setattr(tantivy_index, "exclusive", exclusive_then_write)
    index.expunge_deleted()
    assert len(rounds) >= 3 and rounds[-1] and not any(rounds[:-1])  # 2 documents a round
    assert index.document_ids() == {"doc-1", "doc-2", "doc-3", "doc-4", "doc-5", "doc-new"}
    assert [h.document_id for h in index.search(SearchQuery("amended")).hits] == ["doc-5"]
    assert [h.document_id for h in index.search(SearchQuery("meanwhile")).hits] == ["doc-new"]
    assert not index.search(SearchQuery('"chart number 5"')).hits  # the old version is gone
    index.close()
