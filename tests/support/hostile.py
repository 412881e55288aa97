"""A document whose every shown field carries markup, for the XSS tests (web and browser)."""

from __future__ import annotations


def insert_hostile_document(settings, payload: str) -> str:  # noqa: ANN001
    """Catalog rows and index entry of an indexed document whose OCR text, file name,
    error, facility and patient name are ``payload``; returns its id."""
    from chartvault.db import session_scope
    from chartvault.models import Batch, Document, Page, Patient, new_id
    from search import DocumentEntry, PageEntry, open_index

    doc_id, batch_id = new_id(), new_id()
    with session_scope(settings) as session:
        session.add(Patient(mrn="TSTXSS001", name=payload[:150]))
        session.add(Batch(id=batch_id, created_by="test", source="cli"))
        session.flush()
        session.add(Document(id=doc_id, batch_id=batch_id, mrn="TSTXSS001",
                             doc_type="progress_notes", filename=payload[:200],
                             mime="application/pdf", original_key=f"documents/{doc_id}/x.pdf",
                             original_version="1", sha256="0" * 64, size=1, page_count=1,
                             status="indexed", needs_review=True, error=payload,
                             facility=payload[:100]))
        session.add(Page(document_id=doc_id, number=1, status="done", text=payload,
                         confidence=40.0, flag="low_confidence"))
    open_index(settings).upsert(DocumentEntry(
        document_id=doc_id, mrn="TSTXSS001", doc_type="progress_notes",
        pages=(PageEntry(1, payload),), batch_id=batch_id, facility=payload[:100]))
    return doc_id
