"""The clerk's query language: what parses to what, and that nothing else escapes."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.interface import QuerySyntaxError
from search.query import (
    AnyOf,
    DateRange,
    Filters,
    ParsedQuery,
    Phrase,
    Prefix,
    Term,
    parse_date_range,
    parse_query,
)


def test_words_are_anded_and_lowercased() -> None:
    assert parse_query("Hypertension  METFORMIN") == ParsedQuery(
        must=(Term("hypertension"), Term("metformin"))
    )


def test_phrase_prefix_fuzzy_and_exclude() -> None:
    parsed = parse_query('"Chest Pain" invo* metformin~ lisinopril~2 -smoker')
    assert parsed.must == (
        Phrase(("chest", "pain")),
        Prefix("invo"),
        Term("metformin", fuzzy=1),
        Term("lisinopril", fuzzy=2),
    )
    assert parsed.must_not == (Term("smoker"),)


def test_or_binds_tighter_than_and() -> None:
    parsed = parse_query("asthma OR copd inhaler")
    assert parsed.must == (AnyOf((Term("asthma"), Term("copd"))), Term("inhaler"))


def test_chained_or_and_lowercase_or_is_a_word() -> None:
    assert parse_query("a OR b OR c").must == (AnyOf((Term("a"), Term("b"), Term("c"))),)
    assert parse_query("a or b").must == (Term("a"), Term("or"), Term("b"))


def test_punctuation_inside_a_word_becomes_a_phrase() -> None:
    assert parse_query("O'Brien").must == (Phrase(("o", "brien")),)
    assert parse_query("12:30").must == (Phrase(("12", "30")),)


def test_single_word_in_quotes_is_a_term() -> None:
    assert parse_query('"asthma"').must == (Term("asthma"),)


def test_duplicates_collapse() -> None:
    assert parse_query("asthma asthma").must == (Term("asthma"),)


def test_field_filters() -> None:
    parsed = parse_query('mrn:tst000123 TYPE:Discharge facility:"North   Clinic" asthma')
    assert parsed.filters == Filters(mrn="TST000123", doc_type="discharge",
                                     facility="north clinic")
    assert parsed.must == (Term("asthma"),)


def test_filter_only_query_is_allowed() -> None:
    parsed = parse_query("mrn:TST000123")
    assert not parsed.has_text
    assert parsed.filters.mrn == "TST000123"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019", DateRange(date(2019, 1, 1), date(2019, 12, 31))),
        ("2019-03", DateRange(date(2019, 3, 1), date(2019, 3, 31))),
        ("2020-02", DateRange(date(2020, 2, 1), date(2020, 2, 29))),
        ("2019-03-04", DateRange(date(2019, 3, 4), date(2019, 3, 4))),
        ("2019-01..2019-06", DateRange(date(2019, 1, 1), date(2019, 6, 30))),
        ("2019..2020-01-15", DateRange(date(2019, 1, 1), date(2020, 1, 15))),
        ("2019-05..", DateRange(date(2019, 5, 1), None)),
        ("..2019-02", DateRange(None, date(2019, 2, 28))),
    ],
)
def test_dates(text: str, expected: DateRange) -> None:
    assert parse_date_range(text) == expected
    assert parse_query(f"date:{text}").filters.dates == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Type something"),
        ("   ", "Type something"),
        ('"chest pain', "quotation mark is not closed"),
        ('facility:"North', "quotation mark is not closed"),
        ("foo:bar", "Unknown field foo:"),
        ("date:2019-13", "not a real date"),
        ("date:2019-02-30", "not a real date"),
        ("date:19", "not a date"),
        ("date:2019-06..2019-01", "ends before it starts"),
        ("date:..", "needs a start or an end"),
        ("date:2019..2020..2021", "one .."),
        ("mrn:", "needs a value"),
        ("mrn:A mrn:B", "given twice"),
        ("-asthma", "besides -exclusions"),
        ("OR asthma", "OR needs a word"),
        ("asthma OR", "OR needs a word"),
        ("asthma OR OR copd", "OR needs a word"),
        ("in*voice", "only at the end"),
        ("i*", "at least 2 letters"),
        ("*", "only at the end"),
        ("asthma~3", "~ goes at the end"),
        ("-mrn:TST000123 asthma", "cannot be excluded"),
        ("mrn:A OR asthma", "OR cannot combine"),
        ("asthma OR -copd", "single word"),
        ("!!! ...", "at least one word"),
        ("x" * 1001, "too long"),
    ],
)
def test_syntax_errors_speak_to_the_clerk(text: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError, match=message.replace("*", r"\*").replace("..", r"\.\.")):
        parse_query(text)


def test_syntax_error_is_bad_input() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query("foo:bar")
    assert info.value.http_status == 422
    assert info.value.code == "query_syntax"


def test_fuzzy_fallback_only_touches_long_exact_words() -> None:
    parsed = parse_query('hypertensoin bp "chest pain" metfromin OR asa')
    fallback = parsed.fuzzy_fallback()
    assert fallback is not None
    assert fallback.must == (
        Term("hypertensoin", fuzzy=2),
        Term("bp"),
        Phrase(("chest", "pain")),
        AnyOf((Term("metfromin", fuzzy=2), Term("asa"))),
    )
    assert parse_query("bp asa").fuzzy_fallback() is None


_ALPHABET = st.sampled_from(list('ab -"*~:OR.12\t\n()') + ["mrn:", "date:", "type:", "x:", ".."])


@settings(max_examples=600, deadline=None)
@given(st.lists(_ALPHABET, max_size=25).map("".join))
def test_fuzz_structured_input_parses_or_raises_syntax_error(text: str) -> None:
    try:
        result = parse_query(text)
    except QuerySyntaxError as exc:
        assert exc.message
    else:
        assert isinstance(result, ParsedQuery)
        assert result.must or result.filters != Filters()


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_any_text_parses_or_raises_syntax_error(text: str) -> None:
    try:
        parse_query(text)
    except QuerySyntaxError:
        pass
