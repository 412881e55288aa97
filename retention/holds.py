"""Legal holds: place by MRN, document id or saved search; release with who and why.

A hold is recorded in the catalog first (from then on the code refuses to
destroy what it covers), then applied as an S3 legal hold to every stored
version of every covered document. A hold on a patient also covers documents
of that patient ingested later: :func:`retention.apply.apply_retention` checks
the active holds when each new document is finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from archive import ObjectStore, open_store
from chartvault import audit
from chartvault.db import session_scope
from chartvault.errors import BadInput, NotFound, PolicyRefusal
from chartvault.models import Document, LegalHold, new_id, utcnow
from chartvault.settings import Settings
from retention.apply import sync_holds
from retention.models import HoldScope

MAX_SEARCH_DOCUMENTS = 10_000


@dataclass(frozen=True)
class HoldView:
    id: str
    case_id: str
    reason: str
    mrns: tuple[str, ...]
    document_ids: tuple[str, ...]
    query: str | None
    placed_by: str
    placed_at: datetime
    released_by: str | None
    released_at: datetime | None
    release_reason: str | None
    documents_covered: int

    @property
    def active(self) -> bool:
        return self.released_at is None

    def as_dict(self) -> dict:
        return {"id": self.id, "case_id": self.case_id, "reason": self.reason,
                "mrns": list(self.mrns), "document_ids": list(self.document_ids),
                "query": self.query, "placed_by": self.placed_by, "placed_at": self.placed_at,
                "released_by": self.released_by, "released_at": self.released_at,
                "release_reason": self.release_reason, "active": self.active,
                "documents_covered": self.documents_covered}


def _clean(values: Iterable[str]) -> list[str]:
    return sorted({v.strip() for v in values if v and v.strip()})


def search_document_ids(settings: Settings, query: str) -> list[str]:
    """The ids of every document a saved search matches (resolved when the hold is placed)."""
    from search import SearchQuery, open_index

    index = open_index(settings)
    ids: list[str] = []
    try:
        while len(ids) < MAX_SEARCH_DOCUMENTS:
            page = index.search(SearchQuery(text=query, limit=200, offset=len(ids)))
            ids += [hit.document_id for hit in page.hits]
            if not page.hits or len(ids) >= page.total:
                break
    finally:
        index.close()
    return ids


def place_hold(settings: Settings, *, actor: str, case_id: str, reason: str,
               mrns: Sequence[str] = (), document_ids: Sequence[str] = (),
               query: str | None = None, store: ObjectStore | None = None) -> HoldView:
    """Record a hold and apply it to every stored version of what it covers.

    ``query`` is a saved search in the clerk query language, resolved now to the
    documents it matches. BadInput without a case id, a reason or any scope.
    """
    case_id, reason = (case_id or "").strip(), (reason or "").strip()
    if not case_id or not reason:
        raise BadInput("a legal hold needs a case id and a reason", code="hold_incomplete")
    mrns, docs = _clean(mrns), _clean(document_ids)
    if query and query.strip():
        docs = sorted(set(docs) | set(search_document_ids(settings, query.strip())))
    if not mrns and not docs:
        raise BadInput("a legal hold needs at least one MRN, document id or matching search",
                       code="hold_empty")
    hold_id = new_id()
    with session_scope(settings) as session:
        known = set(session.scalars(select(Document.id).where(Document.id.in_(docs))))
        unknown = sorted(set(docs) - known)
        if unknown:
            raise NotFound(f"no document with id {unknown[0]}", code="document_not_found")
        session.add(LegalHold(id=hold_id, case_id=case_id, reason=reason, placed_by=actor,
                              scope={"mrns": mrns, "documents": docs,
                                     "query": query.strip() if query else None}))
        session.flush()
        session.add_all([HoldScope(hold_id=hold_id, kind="mrn", value=m) for m in mrns]
                        + [HoldScope(hold_id=hold_id, kind="document", value=d) for d in docs])
        audit.record(session, actor, "hold_place", object_type="legal_hold", object_id=hold_id,
                     detail={"case_id": case_id, "mrns": len(mrns), "documents": len(docs),
                             "query": bool(query)})
    sync_holds(settings, covered_ids(settings, hold_id), store=store or open_store(settings))
    return get_hold(settings, hold_id)


def release_hold(settings: Settings, hold_id: str, *, actor: str, reason: str,
                 store: ObjectStore | None = None) -> HoldView:
    """Release one hold; documents still covered by another active hold stay held."""
    reason = (reason or "").strip()
    if not reason:
        raise BadInput("releasing a legal hold needs a reason", code="hold_incomplete")
    with session_scope(settings) as session:
        hold = _hold(session, hold_id)
        if hold.released_at is not None:
            raise PolicyRefusal(f"hold {hold_id} was already released", code="hold_released")
        hold.released_at, hold.released_by, hold.release_reason = utcnow(), actor, reason
        for scope in session.scalars(select(HoldScope).where(HoldScope.hold_id == hold_id)):
            scope.active = False
        audit.record(session, actor, "hold_release", object_type="legal_hold",
                     object_id=hold_id, detail={"case_id": hold.case_id})
    sync_holds(settings, covered_ids(settings, hold_id), store=store or open_store(settings))
    return get_hold(settings, hold_id)


def covered_ids(settings: Settings, hold_id: str) -> list[str]:
    """Ids of the live documents a hold's scope names (whether or not it is active)."""
    with session_scope(settings) as session:
        return list(session.scalars(_covered(hold_id, Document.id)))


def _covered(hold_id: str, *columns):  # noqa: ANN002, ANN202
    mrns = select(HoldScope.value).where(HoldScope.hold_id == hold_id, HoldScope.kind == "mrn")
    docs = select(HoldScope.value).where(HoldScope.hold_id == hold_id,
                                         HoldScope.kind == "document")
    return select(*columns).where(Document.destroyed_at.is_(None),
                                  or_(Document.mrn.in_(mrns), Document.id.in_(docs)))


def _hold(session: Session, hold_id: str) -> LegalHold:
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound(f"no legal hold {hold_id}", code="hold_not_found")
    return hold


def _view(session: Session, hold: LegalHold) -> HoldView:
    covered = session.scalar(_covered(hold.id, func.count()).select_from(Document)) or 0
    scope = hold.scope or {}
    return HoldView(id=hold.id, case_id=hold.case_id, reason=hold.reason,
                    mrns=tuple(scope.get("mrns", ())), document_ids=tuple(scope.get(
                        "documents", ())), query=scope.get("query"), placed_by=hold.placed_by,
                    placed_at=hold.placed_at, released_by=hold.released_by,
                    released_at=hold.released_at, release_reason=hold.release_reason,
                    documents_covered=covered)


def get_hold(settings: Settings, hold_id: str) -> HoldView:
    with session_scope(settings) as session:
        return _view(session, _hold(session, hold_id))


def list_holds(settings: Settings, *, include_released: bool = True) -> list[HoldView]:
    """Every hold, newest first, with how many live documents each covers."""
    with session_scope(settings) as session:
        query = select(LegalHold).order_by(LegalHold.placed_at.desc())
        if not include_released:
            query = query.where(LegalHold.released_at.is_(None))
        return [_view(session, hold) for hold in session.scalars(query)]
