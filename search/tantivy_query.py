"""Translate a :class:`ParsedQuery` into Tantivy ``Query`` objects (never ``parse_query``).

``Index.parse_query("invo*")`` silently matches nothing in tantivy 0.27, and its
syntax is not the clerk's, so queries are built with the Query API. Fields (see
``tantivy_index.build_schema``): ``text`` is English-stemmed (recall: "medications"
finds "medication"), ``exact`` is lower-cased only (phrases, prefixes and fuzzy
matching: "hypertensoin" is one swap from "hypertension" but not from its stem
"hypertens"), ``name`` is the patient's name.
"""

from __future__ import annotations

from datetime import datetime

import tantivy
from tantivy import FieldType, Occur, Query, Schema

from search.query import AnyOf, Filters, Node, ParsedQuery, Phrase, Prefix, Term, normalize_key

_ANALYZER = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.remove_long(40))
    .filter(tantivy.Filter.lowercase())
    .filter(tantivy.Filter.stemmer("english"))
    .build()
)  # the same chain as tantivy's built-in "en_stem" tokenizer


def stem(word: str) -> str:
    analyzed = _ANALYZER.analyze(word)
    return analyzed[0] if analyzed else word


def _should(queries: list[Query]) -> Query:
    if len(queries) == 1:
        return queries[0]
    return Query.boolean_query([(Occur.Should, q) for q in queries])


def _node(schema: Schema, node: Node) -> Query:
    if isinstance(node, AnyOf):
        return _should([_node(schema, option) for option in node.options])
    if isinstance(node, Phrase):
        return _should([Query.phrase_query(schema, "exact", list(node.words)),
                        Query.phrase_query(schema, "name", list(node.words))])
    if isinstance(node, Prefix):
        return _should([Query.fuzzy_term_query(schema, field, node.text, distance=0, prefix=True)
                        for field in ("exact", "name")])
    if node.fuzzy:
        return _should([Query.fuzzy_term_query(schema, field, node.text, distance=node.fuzzy,
                                               transposition_cost_one=True)
                        for field in ("exact", "name")])
    return _term(schema, node)


def _term(schema: Schema, node: Term) -> Query:
    return _should([
        Query.boost_query(Query.term_query(schema, "exact", node.text), 1.5),
        Query.term_query(schema, "text", stem(node.text)),
        Query.boost_query(Query.term_query(schema, "name", node.text), 2.0),
    ])


def _day(value) -> datetime:  # noqa: ANN001 - a date
    return datetime(value.year, value.month, value.day)


def _filters(schema: Schema, filters: Filters) -> list[Query]:
    out: list[Query] = []
    if filters.mrn:
        out.append(Query.term_query(schema, "mrn_key", filters.mrn.upper()))
    if filters.doc_type:
        out.append(Query.term_query(schema, "doc_type_key", filters.doc_type.lower()))
    if filters.facility:
        out.append(Query.term_query(schema, "facility_key", normalize_key(filters.facility)))
    if filters.dates:
        start, end = filters.dates.start, filters.dates.end
        out.append(Query.range_query(
            schema, "service_date", FieldType.Date,
            _day(start) if start else None, _day(end) if end else None,
            include_lower=True, include_upper=True))
    return out


def to_tantivy(schema: Schema, parsed: ParsedQuery) -> Query:
    """One boolean query: every ``must`` node, no ``must_not`` node, all filters."""
    clauses: list[tuple[Occur, Query]] = [(Occur.Must, _node(schema, n)) for n in parsed.must]
    clauses += [(Occur.MustNot, _node(schema, n)) for n in parsed.must_not]
    clauses += [(Occur.Must, Query.const_score_query(f, 0.0))
                for f in _filters(schema, parsed.filters)]
    if parsed.filters.exclude:
        clauses.append((Occur.MustNot, Query.term_set_query(
            schema, "document_id", sorted(parsed.filters.exclude))))
    if not parsed.must:
        clauses.append((Occur.Must, Query.all_query()))
    return Query.boolean_query(clauses)
