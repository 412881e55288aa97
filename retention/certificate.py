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

from archive import ObjectStore, certificate_key, ledger, open_store
from archive.ledger import Owner
from chartvault import audit
from chartvault.db import session_scope
from chartvault.errors import NotFound, PolicyRefusal
from chartvault.models import Destruction, utcnow
from chartvault.policy import PERMANENT
from chartvault.settings import Settings
from retention.models import DestructionItem, PolicyVersion

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
                     "policy_version": i.policy_version,
                     "objects": [{k: o.get(k) for k in ("key", "version", "sha256")}
                                 for o in (i.objects or [])]} for i in done],
        "not_destroyed": [{"document_id": i.document_id, "reason": i.reason}
                          for i in items if i.status == "skipped"],
        # still listed: a copy could not go yet; retried at the next execution
        "waiting": [{"document_id": i.document_id, "reason": i.reason}
                    for i in items if i.status in ("pending", "deleting", "waiting")],
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
    versions = [[para(r["document_id"], "Small"), para(o["key"], "Small"),
                 para(o["version"], "Small"), para(o["sha256"], "Small")]
                for r in data["records"] for o in r["objects"]]
    if versions:
        story += [Spacer(1, 4 * mm), para("Object versions deleted", "Heading2")]
        listing = Table([[para(h, "Small") for h in ("Document", "Key", "Version", "SHA-256")],
                         *versions], repeatRows=1,
                        colWidths=[34 * mm, 56 * mm, 30 * mm, 54 * mm])
        listing.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey)]))
        story.append(listing)
    if data["not_destroyed"]:
        story += [Spacer(1, 4 * mm), para("Listed but not destroyed", "Heading2")]
        story += [para(f"{r['document_id']}: {r['reason']}") for r in data["not_destroyed"]]
    if data["waiting"]:
        story += [Spacer(1, 4 * mm), para("Not yet destroyed (retried at the next execution)",
                                          "Heading2")]
        story += [para(f"{r['document_id']}: {r['reason']}") for r in data["waiting"]]
    story += [Spacer(1, 6 * mm), para(
        f"This certificate is kept permanently with its machine-readable twin "
        f"certificates/{data['certificate_id']}.json; the approvals and the destruction of "
        "each record are also events in the audit trail.", "Small")]
    pdf.build(story)
    return buffer.getvalue()


def write_certificate(settings: Settings, store: ObjectStore, destruction_id: str) -> str:
    """Finish an execution: stamp it, store JSON and PDF, mark it ``executed`` (or
    ``partial`` while records wait for a copy to go). Returns the PDF's key.

    Each certificate is written once and never replaced: an execution that destroys
    more after a partial one writes a further certificate (``{id}-2``, ...) listing
    everything destroyed so far. Idempotent: nothing new destroyed, nothing written.
    """
    with session_scope(settings) as session:
        dest = session.get(Destruction, destruction_id)
        if dest.status == "executed" and dest.certificate_key:
            return dest.certificate_key
        if dest.executed_at is None:
            dest.executed_at = utcnow().replace(microsecond=0)
        issued = ledger.objects_of(session, Owner("destruction", destruction_id),
                                   kinds=("certificate",))
        issued_pdfs = [r for r in issued if r.content_type == "application/pdf"]
        certified = (dest.items or {}).get("certified")
    data = certificate_data(settings, destruction_id, _method(store))
    status = "partial" if data["waiting"] else "executed"
    if issued_pdfs and certified == data["record_count"]:
        with session_scope(settings) as session:
            dest = session.get(Destruction, destruction_id)
            dest.status = status
            return dest.certificate_key
    name = destruction_id if not issued_pdfs else f"{destruction_id}-{len(issued_pdfs) + 1}"
    data["certificate_id"] = name
    rows = []
    for key, body, kind in ((certificate_key(name, ".json"), certificate_json(data),
                             "application/json"),
                            (certificate_key(name, ".pdf"), certificate_pdf(data),
                             "application/pdf")):
        # Retention as long as the store allows, and a legal hold no code path lifts.
        rows.append(ledger.put(store, key, io.BytesIO(body), kind="certificate",
                               owner=Owner("destruction", destruction_id), content_type=kind,
                               lock_until=PERMANENT, legal_hold=True))
    with session_scope(settings) as session:
        session.add_all(rows)
        dest = session.get(Destruction, destruction_id)
        dest.status, dest.certificate_key = status, rows[1].key
        dest.items = {**(dest.items or {}), "certified": data["record_count"]}
        audit.record(session, dest.executed_by or "system", "destruction_certificate",
                     object_type="destruction", object_id=destruction_id,
                     detail={"records": data["record_count"], "pages": data["page_count"],
                             "skipped": len(data["not_destroyed"]),
                             "waiting": len(data["waiting"]), "certificate": name,
                             "objects": sum(len(r["objects"]) for r in data["records"])})
    return rows[1].key


def certificate_bytes(settings: Settings, destruction_id: str, fmt: str = "pdf", *,
                      actor: str, store: ObjectStore | None = None) -> bytes:
    """The stored certificate (``fmt`` pdf or json); the download is audited."""
    if fmt not in ("pdf", "json"):
        raise NotFound(f"no certificate format {fmt!r}: pdf or json", code="bad_format")
    with session_scope(settings) as session:
        dest = session.get(Destruction, destruction_id)
        if dest is None:
            raise NotFound(f"no destruction {destruction_id}", code="destruction_not_found")
        if dest.status not in ("executed", "partial") or not dest.certificate_key:
            raise PolicyRefusal(f"destruction {destruction_id} is {dest.status}: no "
                                "certificate yet", code="no_certificate")
        wanted = "application/pdf" if fmt == "pdf" else "application/json"
        issued = [r for r in ledger.objects_of(session, Owner("destruction", destruction_id),
                                               kinds=("certificate",))
                  if r.content_type == wanted]
        # the newest certificate; one written before the ledger is found by its key
        key, version = ((issued[-1].key, issued[-1].version_id) if issued
                        else (certificate_key(destruction_id, f".{fmt}"), None))
        audit.record(session, actor, "download", object_type="certificate",
                     object_id=destruction_id, detail={"format": fmt, "key": key})
    store = store or open_store(settings)
    with store.get(key, version) as stream:
        return stream.read()
