"""Backend-neutral result pieces: query validation and grouping pages into documents."""

from __future__ import annotations

import pytest

from search.interface import QuerySyntaxError, SearchQuery
from search.results import group, parse


def test_group_keeps_rank_order_and_three_best_pages() -> None:
    hits = [("a", 9.0, 1), ("b", 8.0, 1), ("a", 7.0, 2), ("a", 6.0, 3), ("a", 5.0, 4),
            ("c", 4.0, 1)]
    groups = group(hits)
    assert [g.key for g in groups] == ["a", "b", "c"]
    assert groups[0].pages == [(9.0, 1), (7.0, 2), (6.0, 3)]
    assert groups[0].score == 9.0


def test_mrn_and_doc_type_arguments_fold_into_the_filters() -> None:
    parsed = parse(SearchQuery("asthma", mrn="tst000123", doc_type="Lab"))
    assert (parsed.filters.mrn, parsed.filters.doc_type) == ("TST000123", "lab")
    same = parse(SearchQuery("mrn:TST000123 asthma", mrn="TST000123"))
    assert same.filters.mrn == "TST000123"


def test_conflicting_mrn_is_refused() -> None:
    with pytest.raises(QuerySyntaxError, match="two different mrn"):
        parse(SearchQuery("mrn:TST000999 asthma", mrn="TST000123"))


def test_blank_text_needs_a_filter() -> None:
    assert not parse(SearchQuery("", mrn="TST000123")).has_text
    with pytest.raises(QuerySyntaxError, match="Type something"):
        parse(SearchQuery("  "))


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 201}, {"offset": -1},
                                    {"sort": "name"}])
def test_paging_is_checked(kwargs: dict) -> None:
    with pytest.raises(QuerySyntaxError):
        parse(SearchQuery("asthma", **kwargs))
