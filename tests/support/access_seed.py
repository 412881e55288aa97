"""A patient with an open and a restricted document, in the catalog and the index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

MRN = "TST615011"
NAME = "TESTPATIENT, Restricted R."


@dataclass(frozen=True)
class Seeded:
    open_id: str
    restricted_id: str
    batch_id: str


def seed_patient(settings) -> Seeded:  # noqa: ANN001
    """Two indexed one-page documents of :data:`MRN`: a progress note about metformin and
    a restricted behavioral-health note about creatinine (and metformin)."""
    from chartvault.db import session_scope
    from chartvault.models import Batch, Document, Page, Patient, new_id
    from search import DocumentEntry, PageEntry, open_index

    batch_id, open_id, restricted_id = new_id(), new_id(), new_id()
    texts = {open_id: "Progress note. Metformin 500 mg twice daily.",
             restricted_id: "Behavioral health note. Creatinine normal. Metformin held."}
    types = {open_id: "progress_notes", restricted_id: "behavioral_health"}
    with session_scope(settings) as session:
        session.add(Patient(mrn=MRN, name=NAME, date_of_birth=date(1970, 5, 6)))
        session.add(Batch(id=batch_id, created_by="test", source="cli"))
        session.flush()
        for doc_id, text in texts.items():
            session.add(Document(
                id=doc_id, batch_id=batch_id, mrn=MRN, doc_type=types[doc_id],
                filename=f"{types[doc_id]}.pdf", mime="application/pdf",
                original_key=f"documents/{doc_id}/original.pdf", original_version="1",
                sha256="0" * 64, size=1, page_count=1, status="indexed",
                service_date=date(2024, 2, 3), facility="North Clinic",
                restricted=doc_id == restricted_id))
            session.add(Page(document_id=doc_id, number=1, status="done", text=text,
                             confidence=90.0))
    index = open_index(settings)
    try:
        for doc_id, text in texts.items():
            index.upsert(DocumentEntry(
                document_id=doc_id, mrn=MRN, doc_type=types[doc_id],
                pages=(PageEntry(1, text),), patient_name=NAME, batch_id=batch_id,
                service_date=date(2024, 2, 3), facility="North Clinic"))
    finally:
        index.close()
    return Seeded(open_id, restricted_id, batch_id)


def store_files(settings, document_id: str) -> None:  # noqa: ANN001
    """Put the document's original, page 1 image and thumbnail into the store, with
    their catalog keys, so every viewer and download route serves real bytes."""
    from io import BytesIO

    from sqlalchemy import select

    from archive import keys, ledger, open_store
    from chartvault.db import session_scope
    from chartvault.models import Document, Page

    store = open_store(settings)
    image = keys.page_file_key(document_id, 1, "large", ".png")  # as ocr/pipeline.py
    thumb = keys.page_file_key(document_id, 1, "small", ".jpg")
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        for key, kind, body, kind_type, page in (
                (doc.original_key, "original", b"%PDF-1.4 original", "application/pdf", None),
                (image, "page-image-large", b"\x89PNG page", "image/png", 1),
                (thumb, "page-image-small", b"RIFF thumb", "image/jpeg", 1)):
            row = ledger.put(store, key, BytesIO(body), kind=kind,
                             owner=ledger.Owner.document(document_id), content_type=kind_type,
                             page=page)
            if kind == "original":
                doc.original_version = row.version_id
            session.add(row)
        session.scalar(select(Page).where(Page.document_id == document_id)).image_key = image
