"""The Elasticsearch backend translates vendor failures; no server needed for these."""

from __future__ import annotations

import socket
from datetime import date

import pytest

from search import DocumentEntry, PageEntry, SearchQuery, SearchUnavailable
from search.elastic_index import TEMPLATE, ElasticIndex, page_sources, search_body
from search.query import parse_query


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_cluster_is_search_unavailable() -> None:
    with pytest.raises(SearchUnavailable, match="Elasticsearch could not"):
        ElasticIndex(f"http://127.0.0.1:{_free_port()}", "cv-pages", request_timeout=2)


def test_pages_are_ids_document_colon_page_and_marks_are_stripped() -> None:
    entry = DocumentEntry("doc-1", "tst000123", "Lab", (PageEntry(1, "a \x02b\x03"),
                                                       PageEntry(2, "c")),
                          service_date=date(2019, 3, 4), facility=" North  Clinic ")
    pages = list(page_sources(entry))
    assert [page_id for page_id, _ in pages] == ["doc-1:1", "doc-1:2"]
    first = pages[0][1]
    assert first["text"] == "a  b " and first["first_page"] and not pages[1][1]["first_page"]
    assert (first["mrn_key"], first["doc_type_key"], first["facility_key"]) == (
        "TST000123", "lab", "north clinic")
    assert (first["service_date"], first["year"]) == ("2019-03-04", 2019)
    assert set(first) <= set(TEMPLATE["mappings"]["properties"])  # dynamic: strict


def test_search_body_collapses_pages_and_sorts_by_date() -> None:
    body = search_body(parse_query("asthma"), SearchQuery("asthma", offset=20, sort="date"))
    assert body["collapse"]["field"] == "document_id"
    assert body["collapse"]["inner_hits"]["size"] == 3
    assert body["from_"] == 20
    assert body["sort"][0] == {"service_date": {"order": "desc", "missing": "_last"}}
    assert body["aggs"]["documents"]["cardinality"]["field"] == "document_id"


def test_search_body_carries_the_time_budget() -> None:
    """Issue 22 finding 8: the server stops a search past the budget (a timed-out answer
    is refused as query_too_costly, not shown partial)."""
    from search.interface import TIME_BUDGET

    body = search_body(parse_query("asthma"), SearchQuery("asthma"))
    assert body["timeout"] == f"{TIME_BUDGET:.0f}s"
