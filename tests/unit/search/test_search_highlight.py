"""Snippets and word boxes are decided from the parsed query, the same for every backend."""

from __future__ import annotations

from search.highlight import WordMatcher, matched_box_indices, snippet, within_distance
from search.query import parse_query


def _matcher(text: str) -> WordMatcher:
    return WordMatcher(parse_query(text), stem=lambda w: w.rstrip("s"))


def test_marks_exact_stemmed_prefix_fuzzy_and_phrase_words() -> None:
    text = "Chest pain. Medications: metformin; invoice attached; hypertension noted."
    out = snippet(text, _matcher('"chest pain" medication invo* hypertensoin~2'))
    assert out == ("\x02Chest\x03 \x02pain\x03. \x02Medications\x03: metformin; "
                   "\x02invoice\x03 attached; \x02hypertension\x03 noted.")


def test_phrase_words_alone_are_not_marked() -> None:
    assert "\x02" not in snippet("pain in the chest", _matcher('"chest pain"'))


def test_excluded_words_are_not_marked() -> None:
    assert snippet("asthma and copd", _matcher("asthma -copd")) == "\x02asthma\x03 and copd"


def test_long_page_gets_a_window_around_the_densest_matches() -> None:
    words = [f"w{i}" for i in range(200)]
    words[150] = "asthma"
    out = snippet(" ".join(words), _matcher("asthma"), width=10)
    assert out.startswith("… ") and out.endswith(" …")
    assert "\x02asthma\x03" in out
    assert len(out.split()) <= 12


def test_no_match_gives_the_start_of_the_page() -> None:
    assert snippet("alpha beta gamma", _matcher("zeta"), width=2) == "alpha beta …"


def test_forged_marks_in_ocr_text_are_removed() -> None:
    out = snippet("\x02fake\x03 asthma", _matcher("asthma"))
    assert out == "fake \x02asthma\x03"


def test_empty_page() -> None:
    assert snippet("", _matcher("asthma")) == ""
    assert snippet(" -- ", _matcher("asthma")) == ""


def test_boxes_of_matched_words_including_phrases_across_boxes() -> None:
    texts = ["Chest", "pain,", "chest", "x-ray", "asthma"]
    chosen = matched_box_indices(texts, _matcher('"chest pain" asthma'))
    assert [texts[i] for i in chosen] == ["Chest", "pain,", "asthma"]
    assert matched_box_indices([], _matcher("asthma")) == []


def test_within_distance_counts_a_swap_as_one() -> None:
    assert within_distance("hypertensoin", "hypertension", 1)
    assert within_distance("metfromin", "metformin", 1)
    assert within_distance("inhalr", "inhaler", 1)
    assert not within_distance("insulin", "inhaler", 2)
    assert not within_distance("a", "abcd", 2)
    assert within_distance("", "ab", 2)


def test_engine_highlights_are_used_only_when_marks_wrap_whole_words() -> None:
    from search.highlight import well_formed

    assert well_formed("Chest pain, \x02hypertension\x03: noted")
    assert well_formed("\x02o\x03'\x02brien\x03")
    assert not well_formed("Chest pain,\x02 hypertensio\x03n: noted")  # offsets off
    assert not well_formed("Chest\x03 \x02pain\x03")  # unbalanced
    assert not well_formed("no marks at all")
    assert not well_formed("")
