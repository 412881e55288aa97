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
