"""What a reader may see of the charts, decided in one place for every door.

The rule. A *restricted* document (``audit restrict``) opens only after the
reader gives a reason (break the glass, :func:`chartvault.access.open_document`).
Until then, for that reader:

- a search that has words to look for (or a type, date or facility filter) answers
  exactly as if the document did not exist: it is left out of the hits, the total
  and the facet counts, so the answer for a word on a restricted page is the same
  as for a word that is on no page at all (the query is not an oracle);
- a listing of one patient's documents (an MRN and nothing else) shows it as a
  :class:`Stub`: its id and that it is restricted, with no type, date, page,
  snippet, patient name or facet contribution, so the reader can break the glass;
- its page images, thumbnails and downloads are refused (403).

Every answer is audited once, in the same transaction as the read (one
``search`` event with the query text, or one ``view`` of the patient).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chartvault import access, audit
from chartvault.db import session_scope
from chartvault.models import Document, Patient
from chartvault.settings import Settings
from search import Hit, SearchIndex, SearchQuery
from search.results import parse


@dataclass(frozen=True)
class Reader:
    """Who reads: the audit actor (``web:NAME``, ``api:NAME``, ``cli:NAME``), the client
    address, and the restricted documents this reader has broken the glass for (in this
    web session; none for the API and the command line, which give a reason per read)."""

    actor: str
    client: str | None = None
    granted: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Stub:
    """A document the reader may not open yet: nothing but its id."""

    document_id: str
    restricted: bool = True


@dataclass(frozen=True)
class SearchAnswer:
    total: int
    total_estimated: bool
    hits: tuple[Hit, ...]
    facets: dict[str, dict[str, int]]
    stubs: tuple[Stub, ...] = ()
    names: dict[str, str] = field(default_factory=dict)  # MRN -> patient name, hits only

    def as_dict(self, plain=lambda s: s) -> dict[str, Any]:  # noqa: ANN001
        """The API's and the CLI's JSON shape (``plain`` renders a snippet's marks)."""
        return {"total": self.total, "total_estimated": self.total_estimated,
                "hits": [{"document_id": h.document_id, "mrn": h.mrn, "page": h.page,
                          "score": round(h.score, 4), "type": h.doc_type,
                          "service_date": h.service_date, "snippet": plain(h.snippet),
                          "pages": [p.page for p in h.pages]} for h in self.hits],
                "restricted": [{"document_id": s.document_id, "restricted": True}
                               for s in self.stubs],
                "facets": {k: dict(v) for k, v in self.facets.items()}}


def hidden_documents(session: Session, reader: Reader) -> frozenset[str]:
    """The restricted documents this reader has not broken the glass for."""
    ids = session.scalars(select(Document.id).where(Document.restricted.is_(True),
                                                    Document.destroyed_at.is_(None)))
    return frozenset(ids) - reader.granted


def may_open(session: Session, reader: Reader, document_id: str) -> bool:
    """Whether the reader may see this document's pages without giving a reason now."""
    doc = session.get(Document, document_id)
    return doc is None or not doc.restricted or document_id in reader.granted


def _listing_mrn(query: SearchQuery) -> str | None:
    """The MRN when the query lists one patient's documents and asks nothing else."""
    parsed = parse(query)
    filters = parsed.filters
    if parsed.has_text or parsed.must_not or filters.doc_type or filters.facility \
            or filters.dates or not filters.mrn:
        return None
    return filters.mrn


def search(settings: Settings, index: SearchIndex, reader: Reader, query: SearchQuery, *,
           purpose: str | None = None) -> SearchAnswer:
    """Run ``query`` under the rule (see the module) and record one ``search`` event.

    Raises :class:`~search.QuerySyntaxError` (422) for a bad query and
    :class:`~search.SearchUnavailable` (503) when the index is down; nothing is
    recorded then, as nothing was shown.
    """
    listing = _listing_mrn(query)
    with session_scope(settings) as session:
        hidden = hidden_documents(session, reader)
    result = index.search(replace(query, exclude_ids=hidden | query.exclude_ids))
    filters = {k: v for k, v in (("mrn", query.mrn), ("type", query.doc_type)) if v}
    with session_scope(settings) as session:
        stubs: tuple[Stub, ...] = ()
        if listing is not None and hidden:
            stubs = tuple(Stub(i) for i in session.scalars(
                select(Document.id).where(Document.id.in_(hidden), Document.mrn == listing)
                .order_by(Document.id)))
        mrns = {h.mrn for h in result.hits}
        names = dict(session.execute(select(Patient.mrn, Patient.name)
                                     .where(Patient.mrn.in_(mrns))).all()) if mrns else {}
        access.record_search(session, reader.actor, query.text, mrns=sorted(mrns),
                             hits=result.total, filters=filters or None, purpose=purpose,
                             client=reader.client)
    return SearchAnswer(total=result.total, total_estimated=result.total_estimated,
                        hits=result.hits, facets={k: dict(v) for k, v in
                                                  result.facets.items()},
                        stubs=stubs, names={k: v for k, v in names.items() if v})


def patient_documents(session: Session, reader: Reader, mrn: str
                      ) -> tuple[list[Document], list[Stub]]:
    """One patient's documents the reader may see, and stubs for the rest; one
    ``view`` event of the patient. The caller renders them in this session."""
    docs = list(session.scalars(select(Document).where(
        Document.mrn == mrn, Document.destroyed_at.is_(None))))
    shown = [d for d in docs if not d.restricted or d.id in reader.granted]
    stubs = [Stub(d.id) for d in sorted(docs, key=lambda d: d.id)
             if d.restricted and d.id not in reader.granted]
    audit.record(session, reader.actor, "view", object_type="patient", object_id=mrn,
                 mrn=mrn, client=reader.client,
                 detail={"documents": len(shown), "restricted": len(stubs)})
    return shown, stubs
