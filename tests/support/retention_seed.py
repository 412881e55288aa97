"""Catalog + store + index fixtures for the retention tests: documents made directly.

Documents here skip intake and OCR so that their dates can lie in the past:
their objects are written with no retention (or with the one asked for), two
versions of the original and a derived PDF, pages with text, and an index entry.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime

from archive import ObjectStore, keys
from chartvault.db import session_scope
from chartvault.models import Batch, Document, Page, Patient, StoredObject, User, new_id
from chartvault.settings import Settings

USERS = {"alice": "records_manager", "bob": "records_manager", "carol": "admin",
         "dave": "clerk"}


def add_users(settings: Settings) -> None:
    with session_scope(settings) as session:
        for name, role in USERS.items():
            if session.query(User).filter_by(name=name).first() is None:
                session.add(User(name=name, role=role))


@dataclass
class Seeder:
    settings: Settings
    store: ObjectStore
    index: object | None = None  # a SearchIndex, or None to skip indexing

    def __post_init__(self) -> None:
        self.batch_id = new_id()
        with session_scope(self.settings) as session:
            session.add(Batch(id=self.batch_id, created_by="test", source="cli"))

    def patient(self, mrn: str, date_of_birth: date | None = None) -> None:
        with session_scope(self.settings) as session:
            if session.get(Patient, mrn) is None:
                session.add(Patient(mrn=mrn, name="Test Patient",
                                    date_of_birth=date_of_birth))

    def document(self, mrn: str, service_date: date, *, doc_type: str = "progress_note",
                 retain_until: date | None = None, object_retention: datetime | None = None,
                 pages: int = 2, status: str = "indexed", text: str = "zebrafinch note"
                 ) -> str:
        """A finished document; returns its id."""
        self.patient(mrn)
        document_id = new_id()
        body = f"original of {document_id}".encode()
        original = keys.original_key(document_id, "ab" * 32, ".pdf")
        objects = [("original", original, self.store.put(original, io.BytesIO(body),
                                                           retain_until=object_retention)),
                   ("original", original, self.store.put(original, io.BytesIO(body + b"2"),
                                                           retain_until=object_retention))]
        pdf = keys.searchable_pdf_key(document_id)
        objects.append(("pdf", pdf, self.store.put(pdf, io.BytesIO(b"%PDF-1.4 fake"),
                                                   retain_until=object_retention)))
        with session_scope(self.settings) as session:
            session.add(Document(
                id=document_id, batch_id=self.batch_id, mrn=mrn, doc_type=doc_type,
                service_date=service_date, filename="chart.pdf", mime="application/pdf",
                original_key=original, original_version=objects[0][2].version_id,
                sha256="ab" * 32, size=len(body), page_count=pages, status=status,
                retain_until=retain_until, pdf_key=pdf))
            session.flush()
            for kind, key, info in objects:
                session.add(StoredObject(
                    document_id=document_id, kind=kind, key=key, version_id=info.version_id,
                    sha256=info.sha256, size=info.size, content_type=info.content_type,
                    retain_until=object_retention.date() if object_retention else None))
            for number in range(1, pages + 1):
                session.add(Page(document_id=document_id, number=number, status="done",
                                 text=f"{text} page {number}"))
        if self.index is not None:
            from search import DocumentEntry, PageEntry

            self.index.upsert(DocumentEntry(
                document_id=document_id, mrn=mrn, doc_type=doc_type, service_date=service_date,
                pages=tuple(PageEntry(number=n, text=f"{text} page {n}")
                            for n in range(1, pages + 1))))
        return document_id
