"""What became of every file of a batch, for the batch page, the API and `chartvault status`.

One row per file, or per part of a split stack: indexed (or still in OCR), quarantined
with its reason, failed with its reason, a duplicate of which document, released or
discarded from quarantine. A file that produced no document is listed all the same:
nothing received is left out of a batch's report.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from chartvault.catalog import RESTRICTED_STUB
from chartvault.db import session_scope
from chartvault.models import Document, QuarantineEntry
from chartvault.settings import Settings
from ingest.models import IntakeFile

# an intake_file status as a file's outcome, while it has no parts yet
_RECEIVING = {"staged": "waiting", "received": "receiving"}


def batch_outcomes(settings: Settings, batch_id: str) -> list[dict[str, Any]]:
    """Every file (and part) of ``batch_id`` in the order received, with its outcome:
    the document's own status once it has one (queued, ocr, indexed, failed)."""
    with session_scope(settings) as session:
        files = list(session.scalars(select(IntakeFile).where(IntakeFile.batch_id == batch_id)
                                     .order_by(IntakeFile.created_at)))
        rows = [_row(f, part) for f in files for part in (f.parts or [None])]
        ids = {r["document_id"] for r in rows if r["document_id"]}
        docs = {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(ids)))}
        open_entries = {e.id for e in session.scalars(select(QuarantineEntry).where(
            QuarantineEntry.batch_id == batch_id, QuarantineEntry.resolved_at.is_(None)))}
        for row in rows:
            doc = docs.get(row["document_id"])
            if doc is not None and doc.restricted:  # a stub: the file name may name the patient
                row.update(filename=RESTRICTED_STUB, reason=None, code=None, restricted=True)
            if row["outcome"] in ("queued", "released") and doc is not None:
                row["outcome"] = doc.status
                if doc.status == "failed" and not doc.restricted:
                    row["reason"] = doc.error
            if row["outcome"] == "quarantined" and row["quarantine_id"] not in open_entries:
                row["outcome"] = "released"  # resolved since; the part says how
    return rows


def summary(outcomes: list[dict[str, Any]]) -> dict[str, int]:
    """How many files (and parts) ended each way, e.g. ``{"indexed": 3, "failed": 1}``."""
    return dict(Counter(o["outcome"] for o in outcomes))


def _row(file: IntakeFile, part: dict | None) -> dict[str, Any]:
    part = part or {}
    status = part.get("status") or _RECEIVING.get(file.status, file.status)
    if status == "archived":
        status = "queued"
    return {"intake_file": file.id, "filename": file.filename, "pages": part.get("pages"),
            "outcome": status, "code": part.get("code", file.code),
            "reason": part.get("reason", file.reason), "document_id": part.get("document_id"),
            "duplicate_of": part.get("duplicate_of"),
            "quarantine_id": part.get("quarantine_id"),
            "warning": WARNING in (part.get("reason", file.reason) or "")}


WARNING = "; WARNING: "


def duplicate_reason(settings: Settings, earlier: tuple[str, str], mrn: str | None,
                     doc_type: str | None, service_date: object | None) -> str:
    """The duplicate's reason: which document holds these bytes and how it is filed, and a
    warning when the upload names another MRN, type or date (one of them is misfiled)."""
    document_id, reason = earlier
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        if doc is None:  # a split stack's record: its parts carry their own filing
            return reason
        kept = {"MRN": doc.mrn, "type": doc.doc_type, "service date": doc.service_date}
    reason += (f" (filed under MRN {kept['MRN']}, type {kept['type']}, service date "
               f"{kept['service date'] or 'none'})")
    given = {"MRN": mrn, "type": doc_type, "service date": service_date}
    differ = [f"{label} {value}" for label, value in given.items()
              if value and str(value).strip().lower() != str(kept[label] or "").strip().lower()]
    if differ:
        reason += (f"{WARNING}this upload names {', '.join(differ)}: one of the two is "
                   "misfiled; check both and correct the archived document if it is wrong")
    return reason
