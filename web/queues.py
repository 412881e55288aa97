"""Work queues of the clerks: quarantined files and documents to review."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import or_, select

from chartvault.db import session_scope
from chartvault.errors import BadInput, NotFound
from chartvault.models import Document, Page, QuarantineEntry
from web.common import actor, client, record, settings, store
from web.intake import parse_date
from web.permissions import requires

bp = Blueprint("queues", __name__)


@bp.get("/quarantine")
@requires("quarantine")
def quarantine():  # noqa: ANN201
    with session_scope(settings()) as db:
        open_entries = list(db.scalars(select(QuarantineEntry).where(
            QuarantineEntry.resolved_at.is_(None)).order_by(QuarantineEntry.created_at.desc())
            .limit(200)))
        resolved = list(db.scalars(select(QuarantineEntry).where(
            QuarantineEntry.resolved_at.is_not(None))
            .order_by(QuarantineEntry.resolved_at.desc()).limit(20)))
        record(db, "view", object_type="quarantine",
               detail={"open": len(open_entries), "resolved": len(resolved)})
    from ingest.quarantine import releasable

    can_release = {e.id for e in open_entries if releasable(e.code, e.object_key)}
    return render_template("quarantine.html", entries=open_entries, resolved=resolved,
                           can_release=can_release)


@bp.post("/quarantine/<entry_id>/discard")
@requires("quarantine")
def discard(entry_id: str):  # noqa: ANN201
    from ingest.quarantine import discard as discard_entry

    discard_entry(settings(), store(), entry_id, actor(),
                  request.form.get("reason", "").strip())
    with session_scope(settings()) as db:
        record(db, "quarantine_discard", object_type="quarantine", object_id=entry_id)
    flash("Entry discarded.")
    return redirect(url_for("queues.quarantine"), 303)


@bp.post("/quarantine/<entry_id>/release")
@requires("quarantine")
def release(entry_id: str):  # noqa: ANN201
    """Take the kept bytes in again with corrected details (e.g. the right MRN)."""
    from ingest import IntakeOptions
    from ingest.quarantine import release as release_entry
    from ocr.tasks import enqueue_document

    options = IntakeOptions(actor=actor(), source="web", client=client(),
                            mrn=request.form.get("mrn", "").strip() or None,
                            doc_type=request.form.get("type", "").strip() or None,
                            service_date=parse_date(request.form.get("service_date")))
    try:
        outcome = release_entry(settings(), store(), entry_id, options, enqueue_document)
    except BadInput as exc:
        flash(f"Still refused: {exc.message}")
        return redirect(url_for("queues.quarantine"), 303)
    with session_scope(settings()) as db:
        record(db, "quarantine_release", object_type="quarantine", object_id=entry_id,
               detail={"outcome": outcome.status})
        batch_id = db.get(QuarantineEntry, entry_id).batch_id
    flash(f"Released: {outcome.status}.")
    return redirect(url_for("batches.show", batch_id=batch_id), 303)


@bp.get("/review")
@requires("review")
def review():  # noqa: ANN201
    with session_scope(settings()) as db:
        docs = list(db.scalars(select(Document).where(
            or_(Document.needs_review.is_(True), Document.status == "failed"),
            Document.destroyed_at.is_(None)).order_by(Document.created_at.desc()).limit(200)))
        flagged = {}
        if docs:
            for page in db.scalars(select(Page).where(
                    Page.document_id.in_([d.id for d in docs]), Page.flag.is_not(None))):
                flagged.setdefault(page.document_id, []).append(page)
        record(db, "view", object_type="review", detail={"documents": len(docs)})
    return render_template("review.html", docs=docs, flagged=flagged)


@bp.post("/review/<document_id>/done")
@requires("review")
def reviewed(document_id: str):  # noqa: ANN201
    with session_scope(settings()) as db:
        doc = db.get(Document, document_id)
        if doc is None:
            raise NotFound(f"document {document_id} does not exist")
        doc.needs_review = False
        record(db, "review_done", object_type="document", object_id=document_id,
               mrn=doc.mrn)
    flash("Marked as reviewed.")
    return redirect(url_for("queues.review"), 303)
