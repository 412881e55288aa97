"""check_drift compares the catalog's ids with the index's."""

from __future__ import annotations

from pathlib import Path

import pytest

from search import DocumentEntry, PageEntry, SearchUnavailable
from search.drift import DriftReport, check_drift
from search.tantivy_index import TantivyIndex


class _FakeIndex:
    def __init__(self, ids: set[str]) -> None:
        self.ids = ids

    def document_ids(self) -> set[str]:
        return set(self.ids)


class _DownIndex:
    def document_ids(self) -> set[str]:
        raise SearchUnavailable("down")


def test_no_drift() -> None:
    report = check_drift(_FakeIndex({"a", "b"}), {"a", "b"}, sample=10)  # type: ignore[arg-type]
    assert report == DriftReport(2, 2, (), ())
    assert report.ok


def test_missing_and_unknown_are_listed_sorted_and_sampled() -> None:
    index = _FakeIndex({"a", "x", "y", "z"})
    report = check_drift(index, {"a", "d", "c", "b"}, sample=2)  # type: ignore[arg-type]
    assert (report.catalog_count, report.index_count) == (4, 4)
    assert report.missing_from_index == ("b", "c")
    assert report.unknown_in_index == ("x", "y")
    assert (report.missing_count, report.unknown_count) == (3, 3)
    assert not report.ok


def test_sample_zero_gives_counts_only() -> None:
    report = check_drift(_FakeIndex({"x"}), {"a"}, sample=0)  # type: ignore[arg-type]
    assert report.missing_from_index == () and report.missing_count == 1
    with pytest.raises(ValueError):
        check_drift(_FakeIndex(set()), set(), sample=-1)  # type: ignore[arg-type]


def test_unreachable_index_is_search_unavailable() -> None:
    with pytest.raises(SearchUnavailable):
        check_drift(_DownIndex(), {"a"}, sample=5)  # type: ignore[arg-type]


def test_against_a_real_index_after_a_delete(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index")
    for doc_id in ("doc-1", "doc-2", "doc-3"):
        index.upsert(DocumentEntry(doc_id, "TST000123", "note", (PageEntry(1, "text"),)))
    index.delete("doc-2")
    report = check_drift(index, {"doc-1", "doc-2"}, sample=10)
    assert report.missing_from_index == ("doc-2",)
    assert report.unknown_in_index == ("doc-3",)
    assert (report.catalog_count, report.index_count) == (2, 2)
