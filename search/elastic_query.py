"""Translate a :class:`ParsedQuery` into the Elasticsearch query DSL (plain dicts).

Fields (see ``elastic_index.TEMPLATE``): ``text`` uses the ``english`` analyzer
(stemming: "medications" finds "medication"); ``text.exact`` splits on anything
but letters and digits and lower-cases, exactly like the query parser, and
carries phrases, prefixes and fuzzy terms (OCR noise: "hypertensoin" is one
transposition from "hypertension" but not from its stem); ``name`` is the
patient's name, analyzed the same way.
"""

from __future__ import annotations

from typing import Any

from search.query import AnyOf, Filters, Node, ParsedQuery, Phrase, Prefix, Term, normalize_key

Dsl = dict[str, Any]


def _should(queries: list[Dsl]) -> Dsl:
    if len(queries) == 1:
        return queries[0]
    return {"bool": {"should": queries, "minimum_should_match": 1}}


def _node(node: Node) -> Dsl:
    if isinstance(node, AnyOf):
        return _should([_node(option) for option in node.options])
    if isinstance(node, Phrase):
        phrase = " ".join(node.words)
        return _should([{"match_phrase": {field: phrase}} for field in ("text.exact", "name")])
    if isinstance(node, Prefix):
        return _should([{"prefix": {field: {"value": node.text}}}
                        for field in ("text.exact", "name")])
    if node.fuzzy:
        return _should([
            {"fuzzy": {field: {"value": node.text, "fuzziness": node.fuzzy,
                               "transpositions": True, "prefix_length": 0}}}
            for field in ("text.exact", "name")
        ])
    return _term(node)


def _term(node: Term) -> Dsl:
    return _should([
        {"term": {"text.exact": {"value": node.text, "boost": 1.5}}},
        {"match": {"text": {"query": node.text}}},
        {"term": {"name": {"value": node.text, "boost": 2.0}}},
    ])


def _filters(filters: Filters) -> list[Dsl]:
    out: list[Dsl] = []
    if filters.mrn:
        out.append({"term": {"mrn_key": filters.mrn.upper()}})
    if filters.doc_type:
        out.append({"term": {"doc_type_key": filters.doc_type.lower()}})
    if filters.facility:
        out.append({"term": {"facility_key": normalize_key(filters.facility)}})
    if filters.dates:
        bounds: dict[str, str] = {"format": "yyyy-MM-dd"}
        if filters.dates.start:
            bounds["gte"] = filters.dates.start.isoformat()
        if filters.dates.end:
            bounds["lte"] = filters.dates.end.isoformat()
        out.append({"range": {"service_date": bounds}})
    return out


def to_dsl(parsed: ParsedQuery) -> Dsl:
    """One bool query: every ``must`` node, no ``must_not`` node, filters unscored."""
    must = [_node(n) for n in parsed.must] or [{"match_all": {}}]
    body: Dsl = {"must": must, "filter": _filters(parsed.filters)}
    must_not = [_node(n) for n in parsed.must_not]
    if parsed.filters.exclude:
        must_not.append({"terms": {"document_id": sorted(parsed.filters.exclude)}})
    if must_not:
        body["must_not"] = must_not
    return {"bool": body}
