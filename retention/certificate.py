"""Certificates of destruction, as JSON and PDF, kept permanently in the store.

Both are built from the catalog alone (the destruction row and its items), so
building them again gives the same bytes; they are written once under
``archive.keys.certificate_key`` with permanent retention and never replaced.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select

from archive import ObjectStore, certificate_key, open_store
from chartvault import audit
from chartvault.db import session_scope
from chartvault.errors import NotFound, PolicyRefusal
from chartvault.models import Destruction, utcnow
from chartvault.settings import Settings
from retention.apply import store_datetime
from retention.models import DestructionItem, PolicyVersion
from retention.policy import PERMANENT

STATEMENT = (
    "The records listed below were destroyed in the normal course of business, in "
    "accordance with the retention schedule identified below, after their retention "
    "periods had ended and while no legal hold applied to them. Destruction was "
    "approved by a records manager and confirmed by a second, different authorised "
    "person before it was carried out.")


def _method(store: ObjectStore) -> str:
    kind = {"FilesystemStore": "the encrypted local object store",
            "S3Store": "the S3 object store (Object Lock bucket)"}.get(
        type(store).__name__, f"the object store ({type(store).__name__})")
    return (f"Permanent deletion of every stored version of each record (original and "
            f"derived files) from {kind}; removal of the page text from the catalog and "
            "of the record's entries from the search index.")


def _iso(value: date | datetime | None) -> str | None:
    """ISO 8601; catalog times are UTC (SQLite hands them back without a zone)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat() if value is not None else None


def certificate_data(settings: Settings, destruction_id: str, method: str) -> dict[str, Any]:
    """The certificate's content, from the catalog (same input, same output)."""
    with session_scope(settings) as session:
        dest = session.get(Destruction, destruction_id)
        if dest is None:
            raise NotFound(f"no destruction {destruction_id}", code="destruction_not_found")
        items = list(session.scalars(select(DestructionItem).where(
            DestructionItem.destruction_id == destruction_id).order_by(
            DestructionItem.service_date, DestructionItem.document_id)))
        policy = session.get(PolicyVersion, dest.policy_version or "")
    done = [i for i in items if i.status == "destroyed"]
    dates = [i.service_date for i in done if i.service_date]
    return {
        "certificate_id": dest.id,
        "title": "Certificate of Destruction",
        "facility": settings.facility_name,
        "statement": STATEMENT,
        "date_of_destruction": _iso(dest.executed_at.date() if dest.executed_at else None),
        "executed_at": _iso(dest.executed_at),
        "method": method,
        "policy": {"version": dest.policy_version, "name": policy.name if policy else None},
        "proposed_by": dest.proposed_by, "proposed_at": _iso(dest.proposed_at),
        "approved_by": dest.approved_by, "approved_at": _iso(dest.approved_at),
        "confirmed_by": dest.confirmed_by, "confirmed_at": _iso(dest.confirmed_at),
        "executed_by": dest.executed_by,
        "inclusive_dates": {"from": _iso(min(dates)) if dates else None,
                            "to": _iso(max(dates)) if dates else None},
        "record_count": len(done),
        "page_count": sum(i.page_count for i in done),
        "records": [{"document_id": i.document_id, "mrn": i.mrn, "document_type": i.doc_type,
                     "service_date": _iso(i.service_date), "page_count": i.page_count,
                     "retain_until": _iso(i.retain_until),
                     "policy_version": i.policy_version} for i in done],
        "not_destroyed": [{"document_id": i.document_id, "reason": i.reason}
                          for i in items if i.status == "skipped"],
    }


def certificate_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")


def certificate_pdf(data: dict[str, Any]) -> bytes:
    """A printable certificate; every value is escaped (document types are user input)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(buffer, pagesize=A4, invariant=1, title=data["title"],
                            author=data["facility"], leftMargin=18 * mm, rightMargin=18 * mm)

    small = styles["BodyText"].clone("Small", fontSize=7.5, leading=9)

    def para(text: object, style: str = "BodyText") -> Paragraph:
        chosen = small if style == "Small" else styles[style]
        return Paragraph(escape("" if text is None else str(text)), chosen)

    facts = [
        ["Facility", data["facility"]], ["Certificate", data["certificate_id"]],
        ["Date of destruction", data["date_of_destruction"]],
        ["Inclusive dates of service",
         f"{data['inclusive_dates']['from']} to {data['inclusive_dates']['to']}"],
        ["Records / pages", f"{data['record_count']} / {data['page_count']}"],
        ["Retention policy", f"{data['policy']['name'] or ''} (version "
                             f"{data['policy']['version']})"],
        ["Method", data["method"]],
        ["Proposed by", f"{data['proposed_by']} at {data['proposed_at']}"],
        ["Approved by", f"{data['approved_by']} at {data['approved_at']}"],
        ["Confirmed by", f"{data['confirmed_by']} at {data['confirmed_at']}"],
        ["Executed by", f"{data['executed_by']} at {data['executed_at']}"],
    ]
    story = [para(data["title"], "Title"), para(data["statement"]), Spacer(1, 4 * mm),
             Table([[para(k), para(v)] for k, v in facts], colWidths=[45 * mm, 125 * mm],
                   style=[("VALIGN", (0, 0), (-1, -1), "TOP")]),
             Spacer(1, 4 * mm), para("Records destroyed", "Heading2")]
    rows = [[para(h) for h in ("Document id", "MRN", "Type", "Date of service", "Pages")]]
    rows += [[para(r["document_id"], "Small"), para(r["mrn"]), para(r["document_type"]),
              para(r["service_date"]), para(r["page_count"])] for r in data["records"]]
    table = Table(rows, repeatRows=1, colWidths=[62 * mm, 30 * mm, 38 * mm, 28 * mm, 16 * mm])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey)]))
    story.append(table)
    if data["not_destroyed"]:
        story += [Spacer(1, 4 * mm), para("Listed but not destroyed", "Heading2")]
        story += [para(f"{r['document_id']}: {r['reason']}") for r in data["not_destroyed"]]
    story += [Spacer(1, 6 * mm), para(
        f"This certificate is kept permanently with its machine-readable twin "
        f"certificates/{data['certificate_id']}.json; the approvals and the destruction of "
        "each record are also events in the audit trail.", "Small")]
    pdf.build(story)
    return buffer.getvalue()


def _stored(store: ObjectStore, key: str) -> bool:
    return any(info.key == key for info in store.list_versions(key))


def write_certificate(settings: Settings, store: ObjectStore, destruction_id: str) -> str:
    """Finish an execution: stamp it, store JSON and PDF once, mark it executed.

    Returns the PDF's key. Idempotent: an existing certificate is never rewritten.
    """
    with session_scope(settings) as session:
        dest = session.get(Destruction, destruction_id)
        if dest.status == "executed" and dest.certificate_key:
            return dest.certificate_key
        if dest.executed_at is None:
            dest.executed_at = utcnow().replace(microsecond=0)
    data = certificate_data(settings, destruction_id, _method(store))
    forever = store_datetime(PERMANENT)
    pdf_key = certificate_key(destruction_id, ".pdf")
    for key, body, kind in ((certificate_key(destruction_id, ".json"), certificate_json(data),
                             "application/json"),
                            (pdf_key, certificate_pdf(data), "application/pdf")):
        if not _stored(store, key):
            # Retention as long as the store allows, and a legal hold no code path lifts.
            store.put(key, io.BytesIO(body), content_type=kind, retain_until=forever,
                      legal_hold=True)
    with session_scope(settings) as session:
        dest = session.get(Destruction, destruction_id)
        dest.status, dest.certificate_key = "executed", pdf_key
        audit.record(session, dest.executed_by or "system", "destruction_certificate",
                     object_type="destruction", object_id=destruction_id,
                     detail={"records": data["record_count"], "pages": data["page_count"],
                             "skipped": len(data["not_destroyed"])})
    return pdf_key


def certificate_bytes(settings: Settings, destruction_id: str, fmt: str = "pdf", *,
                      actor: str, store: ObjectStore | None = None) -> bytes:
    """The stored certificate (``fmt`` pdf or json); the download is audited."""
    if fmt not in ("pdf", "json"):
        raise NotFound(f"no certificate format {fmt!r}: pdf or json", code="bad_format")
    with session_scope(settings) as session:
        dest = session.get(Destruction, destruction_id)
        if dest is None:
            raise NotFound(f"no destruction {destruction_id}", code="destruction_not_found")
        if dest.status != "executed":
            raise PolicyRefusal(f"destruction {destruction_id} is {dest.status}: no "
                                "certificate yet", code="no_certificate")
        audit.record(session, actor, "download", object_type="certificate",
                     object_id=destruction_id, detail={"format": fmt})
    store = store or open_store(settings)
    with store.get(certificate_key(destruction_id, f".{fmt}")) as stream:
        return stream.read()
