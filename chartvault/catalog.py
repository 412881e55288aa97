"""Read models over the catalog, shared by the CLI, the web page and the API."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chartvault.errors import NotFound
from chartvault.models import Batch, Document, Page, QuarantineEntry

TERMINAL = ("indexed", "failed", "destroyed")


def document_view(session: Session, document_id: str) -> dict[str, Any]:
    doc = session.get(Document, document_id)
    if doc is None:
        raise NotFound(f"document {document_id} does not exist")
    pages = session.scalars(select(Page).where(Page.document_id == doc.id).order_by(Page.number))
    return {
        "id": doc.id, "batch_id": doc.batch_id, "mrn": doc.mrn, "type": doc.doc_type,
        "service_date": doc.service_date, "facility": doc.facility, "filename": doc.filename,
        "mime": doc.mime, "sha256": doc.sha256, "size": doc.size, "status": doc.status,
        "error": doc.error, "needs_review": doc.needs_review, "pages": doc.page_count,
        "mean_confidence": _round(doc.mean_confidence), "retention_class": doc.retention_class,
        "retain_until": doc.retain_until, "hold": doc.hold, "restricted": doc.restricted,
        "retention": retention_reason(doc),
        "created_at": doc.created_at, "indexed_at": doc.indexed_at,
        "destroyed_at": doc.destroyed_at,
        "page_list": [
            {"page": p.number, "status": p.status, "confidence": _round(p.confidence),
             "source": p.source, "flag": p.flag, "error": p.error, "rotation": p.rotation}
            for p in pages],
    }


def retention_reason(doc: Document) -> dict[str, Any]:
    """Which rule set the document's date, and how long the store locks it."""
    return {"basis": doc.retention_basis, "class": doc.retention_class,
            "rule": doc.retention_rule, "trigger": doc.retention_trigger,
            "trigger_date": doc.retention_trigger_date, "retain_until": doc.retain_until,
            "policy_version": doc.policy_version, "locked_until": doc.locked_until,
            "why": _why(doc)}


def _why(doc: Document) -> str:
    lock = (f"; locked in the store until {doc.locked_until}" if doc.locked_until
            else "; not locked in the store")
    if doc.retention_basis == "intake_default":
        return (f"intake default until {doc.retain_until}: the facts its policy needs "
                f"({(doc.retention_trigger or 'a date').replace('_', ' ')}) are not known "
                f"yet{lock}")
    if doc.retention_basis == "legacy":
        return (f"set before the object ledger ({doc.retain_until}); `chartvault retention "
                f"recompute` gives it its policy date{lock}")
    rule = ("the minors' rule" if doc.retention_rule == "minors"
            else f"class {doc.retention_class}")
    trigger = (doc.retention_trigger or "").replace("_", " ")
    return (f"{rule}: {trigger} {doc.retention_trigger_date} → {doc.retain_until} "
            f"(policy {(doc.policy_version or '')[:12]}){lock}")


RESTRICTED_STUB = "restricted document"


def _listed(d: Document, pages_done: int) -> dict[str, Any]:
    """A document in a batch listing; a restricted one is a stub (its id and progress,
    no name, patient or type: it opens, with a reason, in the viewer)."""
    if d.restricted:
        return {"id": d.id, "filename": RESTRICTED_STUB, "mrn": None, "type": None,
                "status": d.status, "pages": d.page_count, "pages_done": pages_done,
                "needs_review": d.needs_review, "error": None, "restricted": True}
    return {"id": d.id, "filename": d.filename, "mrn": d.mrn, "type": d.doc_type,
            "status": d.status, "pages": d.page_count, "pages_done": pages_done,
            "needs_review": d.needs_review, "error": d.error, "restricted": False}


def batch_view(session: Session, batch_id: str) -> dict[str, Any]:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"batch {batch_id} does not exist")
    docs = list(session.scalars(select(Document).where(Document.batch_id == batch_id)
                                .order_by(Document.created_at)))
    quarantined = list(session.scalars(select(QuarantineEntry).where(
        QuarantineEntry.batch_id == batch_id)))
    pages_done = dict(session.execute(
        select(Page.document_id, func.count()).where(
            Page.document_id.in_([d.id for d in docs]), Page.status != "pending")
        .group_by(Page.document_id)).all())
    counts = Counter(d.status for d in docs)
    # a released (or discarded) file is quarantined no more
    counts["quarantined"] = sum(1 for q in quarantined if q.resolved_at is None)
    return {
        "id": batch.id, "source": batch.source, "created_by": batch.created_by,
        "created_at": batch.created_at, "counts": dict(counts),
        "done": all(d.status in TERMINAL for d in docs),
        "documents": [_listed(d, pages_done.get(d.id, 0)) for d in docs],
        "quarantine": [
            {"id": q.id, "filename": q.filename, "code": q.code, "reason": q.reason,
             "resolution": q.resolution} for q in quarantined],
    }


def statuses(session: Session, document_ids: list[str]) -> dict[str, str]:
    if not document_ids:
        return {}
    return dict(session.execute(select(Document.id, Document.status).where(
        Document.id.in_(document_ids))).all())


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
