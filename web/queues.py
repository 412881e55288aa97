"""Work queues of the clerks: quarantined files and documents to review."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import or_, select

from chartvault.db import session_scope
from chartvault.errors import NotFound, PolicyRefusal
from chartvault.models import Document, Page, QuarantineEntry, utcnow
from web.common import actor, record, settings, store
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
    return render_template("quarantine.html", entries=open_entries, resolved=resolved)


def _open_entry(db, entry_id: str) -> QuarantineEntry:  # noqa: ANN001
    entry = db.get(QuarantineEntry, entry_id)
    if entry is None:
        raise NotFound(f"quarantine entry {entry_id} does not exist")
    if entry.resolved_at is not None:
        raise PolicyRefusal("this entry was already resolved", code="already_resolved")
    return entry


@bp.post("/quarantine/<entry_id>/discard")
@requires("quarantine")
def discard(entry_id: str):  # noqa: ANN201
    with session_scope(settings()) as db:
        entry = _open_entry(db, entry_id)
        entry.resolved_at, entry.resolved_by, entry.resolution = utcnow(), actor(), "discarded"
        record(db, "quarantine_discard", object_type="quarantine", object_id=entry_id)
    flash("Entry discarded (its bytes stay in the store under retention).")
    return redirect(url_for("queues.quarantine"), 303)


@bp.post("/quarantine/<entry_id>/release")
@requires("quarantine")
def release(entry_id: str):  # noqa: ANN201
    """Take the kept bytes in again with corrected details (e.g. the right MRN)."""
    from ingest.service import IncomingFile, IntakeOptions, ingest_files
    from ocr.tasks import enqueue_document

    with session_scope(settings()) as db:
        entry = _open_entry(db, entry_id)
        key, version, name = entry.object_key, entry.object_version, entry.filename
    if not key:
        raise NotFound("the bytes of this file were not kept: upload it again",
                       code="quarantine_no_bytes")
    options = IntakeOptions(actor=actor(), source="web",
                            mrn=request.form.get("mrn", "").strip() or None,
                            doc_type=request.form.get("type", "").strip() or None,
                            service_date=parse_date(request.form.get("service_date")))
    with tempfile.TemporaryDirectory(prefix="chartvault-release-") as tmp:
        path = Path(tmp) / "released.upload"
        with store().get(key, version) as src, path.open("wb") as dst:
            while chunk := src.read(256 * 1024):
                dst.write(chunk)
        result = ingest_files(settings(), store(), [IncomingFile(path, name)], options,
                              enqueue_document)
    outcome = result.outcomes[0]
    with session_scope(settings()) as db:
        entry = _open_entry(db, entry_id)
        if outcome.status in ("queued", "duplicate"):
            entry.resolved_at, entry.resolved_by = utcnow(), actor()
            entry.resolution = "released"
        record(db, "quarantine_release", object_type="quarantine", object_id=entry_id,
               detail={"batch": result.batch_id, "outcome": outcome.status})
    if outcome.status in ("queued", "duplicate"):
        flash(f"Released into batch {result.batch_id}.")
        return redirect(url_for("batches.show", batch_id=result.batch_id), 303)
    flash(f"Still refused: {outcome.reason}")
    return redirect(url_for("queues.quarantine"), 303)


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
