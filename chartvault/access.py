"""Who saw which patient's chart: access events, break-the-glass, disclosures.

Service functions for the web page and the command line. Each one that grants
access records its audit event in the caller's session, so the access and its
record commit together. PHI (the reason text, the recipient) goes to the audit
trail and the catalog only, never to a log.

- :func:`open_document`: every read of a document (view, download, print); a
  restricted document needs a reason ("break the glass").
- :func:`set_restricted`: mark a document restricted (or lift it), audited.
- :func:`record_search`: a search, with the MRNs its results touched.
- :func:`record_disclosure`: a release of information (recipient, purpose).
- :func:`access_report`: every access to one patient's documents, with the
  accounting of disclosures of the last six years.
- :func:`break_glass_events` / :func:`review_break_glass`: the privacy officer's list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, or_, select
from sqlalchemy.orm import Session

from chartvault import audit
from chartvault.audit_models import Disclosure
from chartvault.errors import BadInput, NotFound, PermissionDenied
from chartvault.models import AuditEvent, Document, utcnow

READ_ACTIONS = ("view", "download", "print")
ACCESS_ACTIONS = (*READ_ACTIONS, "search", "break_glass", "disclose")
DISCLOSURE_YEARS = 6  # HIPAA 45 CFR 164.528: an accounting covers the six years before
MIN_REASON = 5
MAX_TEXT = 500


class ReasonRequired(PermissionDenied):
    """A restricted document is opened only with a reason (break the glass)."""

    code = "break_glass_reason_required"


def _text(value: str | None, what: str, *, required: bool = False, minimum: int = 1
          ) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise BadInput(f"{what} is required")
        return None
    if len(value) < minimum:
        raise BadInput(f"{what} must be at least {minimum} characters")
    if len(value) > MAX_TEXT:
        raise BadInput(f"{what} must be at most {MAX_TEXT} characters")
    return value


def break_glass(session: Session, actor: str, document_id: str, reason: str, *,
                client: str | None = None) -> Document:
    """Record that ``actor`` breaks the glass of a restricted document, once, with the
    reason; the reads that follow (``open_document(..., glass_broken=True)``) are
    ``view`` events marked ``break_glass`` and do not repeat it. NotFound for an unknown
    document, BadInput without a reason (an unrestricted document needs no glass;
    breaking it is recorded all the same)."""
    doc = session.get(Document, document_id)
    if doc is None or doc.destroyed_at is not None:
        raise NotFound(f"document {document_id} does not exist")
    reason = _text(reason, "the reason", required=True, minimum=MIN_REASON)
    audit.record(session, actor, "break_glass", object_type="document", object_id=doc.id,
                 mrn=doc.mrn, client=client, detail={"reason": reason, "attempted": "view"})
    return doc


def open_document(session: Session, actor: str, document_id: str, *, action: str = "view",
                  reason: str | None = None, purpose: str | None = None,
                  client: str | None = None, page: int | None = None,
                  glass_broken: bool = False, extra: dict[str, Any] | None = None
                  ) -> Document:
    """Grant one read of a document and record it; returns the document.

    ``action`` is view, download or print. A restricted document without a
    ``reason`` raises :class:`ReasonRequired` (403) after recording the refusal
    (which commits the session, so the refusal survives the failed request);
    with one, a ``break_glass`` event carrying the reason is recorded before the
    read itself. ``glass_broken``: the caller recorded this reader's :func:`break_glass`
    for the document already (the web session): the read is one ``view`` marked
    ``break_glass``, without a second ``break_glass`` event. Raises :class:`NotFound`
    for an unknown or destroyed document, :class:`BadInput` for an unknown action or
    an over-long text.
    """
    if action not in READ_ACTIONS:
        raise BadInput(f"unknown access action {action!r}: use {', '.join(READ_ACTIONS)}")
    doc = session.get(Document, document_id)
    if doc is None or doc.destroyed_at is not None:
        raise NotFound(f"document {document_id} does not exist")
    purpose = _text(purpose, "the purpose")
    detail: dict[str, Any] = {}
    if purpose:
        detail["purpose"] = purpose
    if page is not None:
        detail["page"] = page
    detail.update(extra or {})
    if doc.restricted and glass_broken:
        detail["break_glass"] = True
    elif doc.restricted:
        reason = _text(reason, "the reason", minimum=MIN_REASON)
        if reason is None:
            audit.record(session, actor, "break_glass_refused", object_type="document",
                         object_id=doc.id, mrn=doc.mrn, client=client,
                         detail={"attempted": action})
            # The refusal is on record even though the caller's read fails.
            session.commit()
            raise ReasonRequired(
                "this document is restricted: give a reason to open it (it is recorded "
                "and reviewed by the privacy officer)")
        audit.record(session, actor, "break_glass", object_type="document", object_id=doc.id,
                     mrn=doc.mrn, client=client,
                     detail={"reason": reason, "attempted": action, **detail})
        detail["break_glass"] = True
    audit.record(session, actor, action, object_type="document", object_id=doc.id,
                 mrn=doc.mrn, client=client, detail=detail)
    return doc


def set_restricted(session: Session, actor: str, document_id: str, restricted: bool, *,
                   reason: str, client: str | None = None) -> Document:
    """Mark a document restricted (e.g. behavioral health) or lift it; audited.

    Raises :class:`NotFound` for an unknown document, :class:`BadInput` without a reason.
    """
    doc = session.get(Document, document_id)
    if doc is None or doc.destroyed_at is not None:
        raise NotFound(f"document {document_id} does not exist")
    reason = _text(reason, "the reason", required=True)
    if doc.restricted != restricted:
        doc.restricted = restricted
        audit.record(session, actor, "restrict" if restricted else "unrestrict",
                     object_type="document", object_id=doc.id, mrn=doc.mrn, client=client,
                     detail={"reason": reason})
    return doc


def record_search(session: Session, actor: str, query: str, *, mrns: Iterable[str] = (),
                  hits: int = 0, filters: dict[str, Any] | None = None,
                  purpose: str | None = None, client: str | None = None) -> AuditEvent:
    """Record a search and the MRNs whose documents its results showed.

    The access report of a patient lists every search that showed one of
    their documents. ``mrn`` of the event is set when exactly one patient was hit.
    """
    touched = sorted(set(mrns))
    detail: dict[str, Any] = {"query": query, "hits": hits, "mrns": touched}
    if filters:
        detail["filters"] = filters
    purpose = _text(purpose, "the purpose")
    if purpose:
        detail["purpose"] = purpose
    return audit.record(session, actor, "search", object_type="query",
                        mrn=touched[0] if len(touched) == 1 else None, client=client,
                        detail=detail)


def record_disclosure(session: Session, actor: str, document_id: str, *, recipient: str,
                      purpose: str, description: str = "", client: str | None = None
                      ) -> Disclosure:
    """Record a release of information: a ``disclose`` event plus a catalog row.

    Call it in the same session that serves the download. Raises
    :class:`NotFound` for an unknown document, :class:`BadInput` without a
    recipient or purpose.
    """
    doc = session.get(Document, document_id)
    if doc is None or doc.destroyed_at is not None:
        raise NotFound(f"document {document_id} does not exist")
    recipient = _text(recipient, "the recipient", required=True)
    purpose = _text(purpose, "the purpose", required=True)
    description = _text(description, "the description") or ""
    event = audit.record(session, actor, "disclose", object_type="document", object_id=doc.id,
                         mrn=doc.mrn, client=client,
                         detail={"recipient": recipient, "purpose": purpose,
                                 "description": description})
    disclosure = Disclosure(document_id=doc.id, mrn=doc.mrn, recipient=recipient,
                            purpose=purpose, description=description, disclosed_by=actor,
                            disclosed_at=event.at, audit_seq=event.seq)
    session.add(disclosure)
    session.flush()
    return disclosure


# reports ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    client: str | None
    purpose: str | None
    reason: str | None  # break-the-glass reason
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at.isoformat(), "actor": self.actor,
                "action": self.action, "object_type": self.object_type,
                "object_id": self.object_id, "client": self.client, "purpose": self.purpose,
                "reason": self.reason}


@dataclass(frozen=True)
class DisclosureEntry:
    id: str
    at: datetime
    document_id: str
    recipient: str
    purpose: str
    description: str
    disclosed_by: str
    audit_seq: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "document_id": self.document_id,
                "recipient": self.recipient, "purpose": self.purpose,
                "description": self.description, "disclosed_by": self.disclosed_by,
                "audit_seq": self.audit_seq}


@dataclass(frozen=True)
class AccessReport:
    mrn: str
    since: datetime | None
    until: datetime | None
    entries: tuple[AccessEntry, ...] = field(default=())
    disclosures: tuple[DisclosureEntry, ...] = field(default=())

    @property
    def users(self) -> list[str]:
        return sorted({e.actor for e in self.entries})

    def as_dict(self) -> dict[str, Any]:
        return {"mrn": self.mrn,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
                "users": self.users, "entries": [e.as_dict() for e in self.entries],
                "disclosures": [d.as_dict() for d in self.disclosures]}


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _entry(event: AuditEvent) -> AccessEntry:
    detail = dict(event.detail or {})
    return AccessEntry(seq=event.seq, at=_aware(event.at), actor=event.actor,
                       action=event.action, object_type=event.object_type,
                       object_id=event.object_id, client=event.client,
                       purpose=detail.get("purpose"), reason=detail.get("reason"),
                       detail=detail)


def access_report(session: Session, mrn: str, *, since: datetime | None = None,
                  until: datetime | None = None, now: datetime | None = None
                  ) -> AccessReport:
    """Every view, download, print, break-the-glass and disclosure of the patient's
    documents, and every search whose results showed them, oldest first; with the
    accounting of disclosures of the last six years (before ``now``)."""
    needle = f'"{mrn}"'
    query = select(AuditEvent).where(
        AuditEvent.action.in_(ACCESS_ACTIONS + ("break_glass_refused",)),
        or_(AuditEvent.mrn == mrn,
            (AuditEvent.action == "search")
            & cast(AuditEvent.detail, String).contains(needle, autoescape=True)))
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    entries = []
    for event in session.scalars(query.order_by(AuditEvent.seq)):
        # the text match above is a pre-filter; a search counts only when its result
        # list really held the MRN (not when the query text merely mentions it)
        if event.mrn != mrn and mrn not in (event.detail or {}).get("mrns", ()):
            continue
        entries.append(_entry(event))
    return AccessReport(mrn=mrn, since=since, until=until, entries=tuple(entries),
                        disclosures=tuple(accounting_of_disclosures(session, mrn, now=now)))


def accounting_of_disclosures(session: Session, mrn: str, *, now: datetime | None = None,
                              years: int = DISCLOSURE_YEARS) -> list[DisclosureEntry]:
    """Disclosures of the patient's documents in the ``years`` before ``now``, oldest first."""
    now = now or utcnow()
    start = now - timedelta(days=round(365.25 * years))
    rows = session.scalars(select(Disclosure).where(
        Disclosure.mrn == mrn, Disclosure.disclosed_at >= start,
        Disclosure.disclosed_at <= now).order_by(Disclosure.disclosed_at, Disclosure.id))
    return [DisclosureEntry(id=d.id, at=_aware(d.disclosed_at), document_id=d.document_id,
                            recipient=d.recipient, purpose=d.purpose,
                            description=d.description, disclosed_by=d.disclosed_by,
                            audit_seq=d.audit_seq) for d in rows]


@dataclass(frozen=True)
class BreakGlassEntry:
    access: AccessEntry
    mrn: str | None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.access.as_dict(), "mrn": self.mrn, "reviewed_by": self.reviewed_by,
                "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
                "review_note": self.review_note}


def break_glass_events(session: Session, *, since: datetime | None = None,
                       until: datetime | None = None, unreviewed_only: bool = False
                       ) -> list[BreakGlassEntry]:
    """Every break-the-glass access (with its reason), newest first, with its review."""
    query = select(AuditEvent).where(AuditEvent.action == "break_glass")
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    found = list(session.scalars(query.order_by(AuditEvent.seq.desc())))
    reviews = {}
    if found:
        for review in session.scalars(select(AuditEvent).where(
                AuditEvent.action == "break_glass_review",
                AuditEvent.object_id.in_([str(e.seq) for e in found]))
                .order_by(AuditEvent.seq)):
            reviews[review.object_id] = review
    result = []
    for event in found:
        review = reviews.get(str(event.seq))
        if unreviewed_only and review is not None:
            continue
        result.append(BreakGlassEntry(
            access=_entry(event), mrn=event.mrn,
            reviewed_by=review.actor if review else None,
            reviewed_at=_aware(review.at) if review else None,
            review_note=(review.detail or {}).get("note") if review else None))
    return result


def review_break_glass(session: Session, actor: str, seq: int, note: str = "") -> AuditEvent:
    """The privacy officer marks a break-the-glass access reviewed (an audit event too)."""
    event = session.scalar(select(AuditEvent).where(AuditEvent.seq == seq))
    if event is None or event.action != "break_glass":
        raise NotFound(f"audit event {seq} is not a break-the-glass access")
    note = _text(note, "the note") or ""
    return audit.record(session, actor, "break_glass_review", object_type="audit_event",
                        object_id=str(seq), mrn=event.mrn, detail={"note": note})
