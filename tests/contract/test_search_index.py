"""One contract for every SearchIndex backend (Tantivy here; Elasticsearch on osmem).

All names, MRNs and page texts are synthetic.
"""

from __future__ import annotations

from datetime import date

import pytest
from conftest_search import backend_name, es_stand_in_url, search_index  # noqa: F401

from chartvault.types import WordBox
from search import (
    DocumentEntry,
    PageEntry,
    QuerySyntaxError,
    SearchIndex,
    SearchQuery,
    SearchResult,
)


def _boxes(text: str) -> tuple[WordBox, ...]:
    return tuple(WordBox(word, 40 * i, 100, 38, 20, 91.5) for i, word in enumerate(text.split()))


def _doc(document_id: str, mrn: str, doc_type: str, service_date: date | None,
         *texts: str, facility: str = "North Clinic", name: str = "Testpatient, Alice"
         ) -> DocumentEntry:
    pages = tuple(PageEntry(n, text, _boxes(text)) for n, text in enumerate(texts, 1))
    return DocumentEntry(document_id=document_id, mrn=mrn, doc_type=doc_type, pages=pages,
                         patient_name=name, date_of_birth=date(1970, 1, 2),
                         service_date=service_date, facility=facility, batch_id="batch-1")


CORPUS = (
    _doc("doc-a", "TST000123", "discharge", date(2019, 3, 4),
         "Discharge summary. Admitted with chest pain.",
         "History of hypertension, started on metformin 500 mg twice daily.",
         "Follow up appointment in two weeks."),
    _doc("doc-b", "TST000123", "lab", date(2019, 7, 15),
         "Laboratory results: hemoglobin normal, potassium elevated.",
         facility="South Hospital"),
    _doc("doc-c", "TST000456", "radiology", date(2021, 1, 20),
         "Chest x-ray shows no acute findings. Mild pain reported.",
         name="Testpatient, Bob"),
    _doc("doc-d", "TST000456", "billing", date(2018, 11, 2),
         "Invoice for services rendered. Insurance billing code attached."),
    _doc("doc-e", "TST000789", "discharge", date(2020, 5, 9),
         "Asthma exacerbation treated with inhaler; smoking cessation counseling.",
         "Medications reviewed at discharge.", name="Testpatient, Carol"),
)


@pytest.fixture
def loaded(search_index: SearchIndex) -> SearchIndex:  # noqa: F811
    for entry in CORPUS:
        search_index.upsert(entry)
    return search_index


def ids(result: SearchResult) -> list[str]:
    return [hit.document_id for hit in result.hits]


def find(index: SearchIndex, text: str, **kwargs: object) -> SearchResult:
    return index.search(SearchQuery(text, **kwargs))  # type: ignore[arg-type]


def test_upsert_then_search_finds_the_page(loaded: SearchIndex) -> None:
    result = find(loaded, "metformin")
    assert result.total == 1
    hit = result.hits[0]
    assert (hit.document_id, hit.mrn, hit.doc_type) == ("doc-a", "TST000123", "discharge")
    assert hit.service_date == date(2019, 3, 4)
    assert hit.page == 2
    assert "\x02metformin\x03" in hit.snippet
    assert [w.text for w in hit.pages[0].words] == ["metformin"]


def test_best_pages_first_at_most_three(loaded: SearchIndex) -> None:
    pages = {h.document_id: [p.page for p in h.pages] for h in find(loaded, "discharge").hits}
    assert pages["doc-e"] == [2]  # only page 2 of doc-e says "discharge"
    assert pages["doc-a"] == [1]
    many = find(loaded, "testpatient OR follow OR history OR chest").hits
    assert all(1 <= len(h.pages) <= 3 for h in many)


def test_upsert_again_replaces_every_page(loaded: SearchIndex) -> None:
    loaded.upsert(_doc("doc-a", "TST000123", "discharge", date(2019, 3, 4),
                       "Corrected single page: warfarin dosage."))
    assert find(loaded, "metformin").total == 0
    assert find(loaded, "appointment").total == 0  # old page 3 is gone too
    result = find(loaded, "warfarin")
    assert ids(result) == ["doc-a"] and result.hits[0].page == 1
    assert loaded.count() == len(CORPUS)


def test_a_small_result_has_an_exact_total(loaded: SearchIndex) -> None:
    result = find(loaded, "metformin")
    assert (result.total, result.total_estimated) == (1, False)


def test_upsert_is_idempotent(loaded: SearchIndex) -> None:
    loaded.upsert(CORPUS[0])
    loaded.upsert(CORPUS[0])
    assert find(loaded, "metformin").total == 1
    assert loaded.count() == len(CORPUS)


def test_delete_removes_every_page(loaded: SearchIndex) -> None:
    loaded.delete("doc-a")
    for word in ("chest", "metformin", "appointment"):
        assert "doc-a" not in ids(find(loaded, word))
    assert find(loaded, "", mrn="TST000123").total == 1
    assert "doc-a" not in loaded.document_ids()
    loaded.delete("doc-a")  # deleting a missing document is not an error
    loaded.delete("never-existed")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"chest pain"', {"doc-a"}),
        ("chest pain", {"doc-a", "doc-c"}),
        ("invo*", {"doc-d"}),
        ("hemo* OR asthma", {"doc-b", "doc-e"}),
        ("chest -acute", {"doc-a"}),
        ("chest -ray", {"doc-a"}),
        ("medication", {"doc-e"}),  # stemmed: "Medications"
        ("mrn:tst000456", {"doc-c", "doc-d"}),
        ("mrn:TST000456 chest", {"doc-c"}),
        ("type:discharge", {"doc-a", "doc-e"}),
        ("type:DISCHARGE asthma", {"doc-e"}),
        ('facility:"south  hospital"', {"doc-b"}),
        ("date:2019", {"doc-a", "doc-b"}),
        ("date:2019-01..2019-06", {"doc-a"}),
        ("date:2019-03-04", {"doc-a"}),
        ("date:2020.. discharge", {"doc-e"}),
        ("date:..2018-12", {"doc-d"}),
        ("testpatient bob", {"doc-c"}),
        ("testpat*", {"doc-a", "doc-b", "doc-c", "doc-d", "doc-e"}),
        ("o'brien", set()),
    ],
)
def test_query_language(loaded: SearchIndex, text: str, expected: set[str]) -> None:
    result = find(loaded, text)
    assert set(ids(result)) == expected
    assert result.total == len(expected)


@pytest.mark.parametrize(("typo", "document_id", "word"),
                         [("hypertensoin", "doc-a", "hypertension"),
                          ("metfromin", "doc-a", "metformin"),
                          ("inhalr", "doc-e", "inhaler")])
def test_misspellings_find_the_page(loaded: SearchIndex, typo: str, document_id: str,
                                    word: str) -> None:
    result = find(loaded, typo)
    assert ids(result) == [document_id]
    assert f"\x02{word}" in result.hits[0].snippet


def test_explicit_fuzzy(loaded: SearchIndex) -> None:
    assert ids(find(loaded, "potasium~")) == ["doc-b"]


def test_mrn_and_doc_type_arguments(loaded: SearchIndex) -> None:
    assert set(ids(find(loaded, "chest", mrn="TST000456"))) == {"doc-c"}
    assert set(ids(find(loaded, "", doc_type="lab"))) == {"doc-b"}


def test_excluded_documents_leave_no_trace(loaded: SearchIndex) -> None:
    """What a reader may not see (access_rules) is out of the hits, total and facets,
    also when the fuzzy fallback runs: the answer equals a search without them."""
    excluded = frozenset({"doc-a"})
    for text in ("metformin", "metformn", "chest", "mrn:TST000123"):
        result = loaded.search(SearchQuery(text=text, exclude_ids=excluded))
        assert "doc-a" not in {h.document_id for h in result.hits}, text
        assert result.total == len(result.hits), text
        assert sum(result.facets["doc_type"].values()) == result.total, text
    assert loaded.search(SearchQuery(text="metformin", exclude_ids=excluded)).total == 0
    assert loaded.search(SearchQuery(text="chest", exclude_ids=excluded)).total == 1


def test_facets_count_documents(loaded: SearchIndex) -> None:
    facets = find(loaded, "testpatient").facets
    assert facets["doc_type"] == {"discharge": 2, "lab": 1, "radiology": 1, "billing": 1}
    assert facets["year"] == {"2018": 1, "2019": 2, "2020": 1, "2021": 1}
    assert facets["facility"] == {"North Clinic": 4, "South Hospital": 1}


def test_phrase_facets_count_documents_not_pages(loaded: SearchIndex) -> None:
    loaded.upsert(_doc("doc-k1", "TST000321", "operative", date(2022, 2, 3),
                       "Arthroscopy of the left knee.", "Left knee dressing changed.",
                       facility="South Hospital"))
    loaded.upsert(_doc("doc-k2", "TST000322", "radiology", date(2023, 4, 5),
                       "Left knee x-ray: no fracture.", "Right knee normal."))
    result = find(loaded, '"left knee"')
    assert result.total == 2
    assert result.facets["doc_type"] == {"operative": 1, "radiology": 1}
    assert result.facets["year"] == {"2022": 1, "2023": 1}
    assert result.facets["facility"] == {"South Hospital": 1, "North Clinic": 1}


def test_pagination_over_documents(loaded: SearchIndex) -> None:
    every = find(loaded, "testpatient", limit=5, sort="date")
    assert every.total == 5
    pages = [find(loaded, "testpatient", limit=2, offset=o, sort="date") for o in (0, 2, 4)]
    assert [len(p.hits) for p in pages] == [2, 2, 1]
    assert all(p.total == 5 for p in pages)
    assert [i for p in pages for i in ids(p)] == ids(every)


def test_sort_by_service_date(loaded: SearchIndex) -> None:
    newest = ids(find(loaded, "testpatient", sort="date"))
    assert newest == ["doc-c", "doc-e", "doc-b", "doc-a", "doc-d"]
    assert ids(find(loaded, "testpatient", sort="date_asc")) == newest[::-1]


def test_relevance_ranks_the_denser_page_first(loaded: SearchIndex) -> None:
    loaded.upsert(_doc("doc-f", "TST000999", "lab", None,
                       "potassium potassium potassium recheck potassium"))
    assert ids(find(loaded, "potassium"))[0] == "doc-f"


def test_count_and_document_ids(loaded: SearchIndex) -> None:
    assert loaded.count() == 5
    assert loaded.document_ids() == {d.document_id for d in CORPUS}


def test_rebuild_replaces_everything(loaded: SearchIndex) -> None:
    fresh = [_doc("doc-x", "TST000321", "consult", date(2022, 2, 2), "Cardiology consult.")]
    assert loaded.rebuild(iter(fresh)) == 1
    assert loaded.document_ids() == {"doc-x"}
    assert loaded.count() == 1
    assert find(loaded, "metformin").total == 0
    assert ids(find(loaded, "cardiology")) == ["doc-x"]
    loaded.upsert(CORPUS[0])  # still writable after the swap
    assert loaded.count() == 2


def test_empty_index(search_index: SearchIndex) -> None:  # noqa: F811
    assert search_index.count() == 0
    assert search_index.document_ids() == set()
    result = find(search_index, "anything")
    assert (result.total, result.hits) == (0, ())


@pytest.mark.parametrize("text", ['"chest pain', "foo:bar", "date:2019-13", "", "-chest"])
def test_bad_syntax_is_query_syntax_error(loaded: SearchIndex, text: str) -> None:
    with pytest.raises(QuerySyntaxError):
        find(loaded, text)


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"offset": -1}, {"sort": "size"}])
def test_bad_paging_is_query_syntax_error(loaded: SearchIndex, kwargs: dict) -> None:
    with pytest.raises(QuerySyntaxError):
        find(loaded, "chest", **kwargs)


def test_ocr_text_cannot_forge_highlights(search_index: SearchIndex) -> None:  # noqa: F811
    search_index.upsert(_doc("doc-z", "TST000111", "note", None,
                             "evil \x02forged\x03 marker next to asthma"))
    snippet = find(search_index, "asthma").hits[0].snippet
    assert snippet.count("\x02") == 1 and "\x02asthma\x03" in snippet


@pytest.mark.integration
def test_elasticsearch_rebuild_swaps_the_alias_and_drops_the_old_index(
        es_stand_in_url: str) -> None:  # noqa: F811
    import uuid

    from search.elastic_index import ElasticIndex

    alias = f"cv-swap-{uuid.uuid4().hex[:8]}"
    index = ElasticIndex(es_stand_in_url, alias)
    index.upsert(CORPUS[0])
    before = set(index._es.indices.get_alias(name=alias).body)
    index.rebuild(CORPUS[1:3])
    after = set(index._es.indices.get_alias(name=alias).body)
    assert len(before) == len(after) == 1 and before != after
    assert not index._es.indices.exists(index=sorted(before)[0])
    assert index.document_ids() == {"doc-b", "doc-c"}
    index.close()


@pytest.mark.integration
def test_elasticsearch_flags_a_total_above_its_exact_count_as_estimated(
        es_stand_in_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    import uuid

    import search.elastic_index as module

    index = module.ElasticIndex(es_stand_in_url, f"cv-est-{uuid.uuid4().hex[:8]}")
    index.rebuild(CORPUS)
    assert find(index, "testpatient").total_estimated is False
    monkeypatch.setattr(module, "EXACT_TOTAL_LIMIT", 2)  # the cardinality's exact range
    result = find(index, "testpatient")
    index.close()
    assert result.total > 2 and result.total_estimated is True


# A word with no run of 4 letters found anywhere else in the index. The Tantivy store is
# LZ4-compressed: the word's tail may be a back-reference to a run seen before it (its
# " page" was), so the files are searched for its head, which is stored as it is.
MARKER = "Qwzyxplorvant"


def _files_with(folder, word: str) -> list[str]:  # noqa: ANN001
    head = word[:8]
    needles = (head.encode(), head.lower().encode(), head.upper().encode())
    return sorted(str(p) for p in folder.rglob("*")
                  if p.is_file() and any(n in p.read_bytes() for n in needles))


def _terms(index: SearchIndex, word: str) -> list:
    """The marker's entries in the Tantivy term dictionaries (deleted pages' terms too)."""
    return [t for shard in index._shards  # type: ignore[attr-defined]
            for t in shard.searcher().terms_with_prefix("exact", word.lower())]


def _answers(index: SearchIndex) -> list:
    """What searches show of the live charts, but the scores (BM25 counts deleted pages
    until they are expunged)."""
    return [(r.total, sorted((h.document_id, h.mrn, h.doc_type, h.service_date,
                              sorted((p.page, p.snippet, p.words) for p in h.pages))
                             for h in r.hits), r.facets)
            for r in (find(index, text) for text in ("chest", "metformin", "testpatient",
                                                     "discharge", "TST000123"))]


def test_expunge_removes_deleted_pages_and_keeps_the_rest(search_index: SearchIndex,  # noqa: F811
                                                           backend_name: str) -> None:  # noqa: F811
    # one load: the marked chart shares its segment with a live chart, so deleting it
    # alone leaves its text in the segment's files
    marked = _doc("doc-gone", "TST000999", "note", date(1999, 1, 2),
                  f"Destroyed record {MARKER} page one.", f"page two {MARKER} again")
    search_index.rebuild([*CORPUS, marked])
    assert ids(find(search_index, MARKER)) == ["doc-gone"]
    search_index.delete("doc-gone")
    before = _answers(search_index)
    tantivy = backend_name == "tantivy"
    if tantivy:
        folder = search_index.path  # type: ignore[attr-defined]
        assert _files_with(folder, MARKER), "the deleted page's text should still be on disk"
        assert _terms(search_index, MARKER)
    search_index.expunge_deleted()
    search_index.expunge_deleted()  # idempotent: nothing left to expunge
    if tantivy:
        assert _files_with(folder, MARKER) == []
        assert _terms(search_index, MARKER) == []
    assert find(search_index, MARKER).total == 0
    assert _answers(search_index) == before  # the live charts: same hits, pages and boxes
    assert search_index.document_ids() == {d.document_id for d in CORPUS}


def test_expunge_on_an_empty_or_clean_index_is_a_no_op(search_index: SearchIndex) -> None:  # noqa: F811
    search_index.expunge_deleted()
    search_index.upsert(CORPUS[0])
    search_index.expunge_deleted()
    assert ids(find(search_index, "metformin")) == ["doc-a"]


@pytest.mark.integration
def test_elasticsearch_expunge_merges_every_segment_with_deletes(es_stand_in_url: str) -> None:  # noqa: F811
    # Elasticsearch skips a segment under 10 % deleted by default: one destroyed chart in a
    # large segment would stay. (The osmem stand-in keeps no segments, so what the merge
    # does is Elasticsearch's; that it is asked for without the 10 % floor is checked here.)
    import uuid

    from search.elastic_index import ElasticIndex

    index = ElasticIndex(es_stand_in_url, f"cv-exp-{uuid.uuid4().hex[:8]}")
    index.rebuild(CORPUS)
    index.delete("doc-a")
    index.expunge_deleted()
    settings = index._es.indices.get_settings(index=index.alias).body
    index.close()
    (only,) = settings.values()
    assert only["settings"]["index"]["merge"]["policy"]["expunge_deletes_allowed"] == "0"


@pytest.mark.integration
def test_elasticsearch_expunge_that_cannot_run_is_search_unavailable(
        es_stand_in_url: str) -> None:  # noqa: F811
    # fails closed: destruction must not record an expunge that did not happen
    import uuid

    from search import SearchUnavailable
    from search.elastic_index import ElasticIndex

    index = ElasticIndex(es_stand_in_url, f"cv-gone-{uuid.uuid4().hex[:8]}")
    index.upsert(CORPUS[0])
    for name in index._es.indices.get_alias(name=index.alias).body:
        index._es.indices.delete(index=name)  # the index (and its alias) went away
    with pytest.raises(SearchUnavailable, match="could not expunge deleted pages"):
        index.expunge_deleted()
    index.close()
