"""From the catalog to the search index: one entry per page, with word boxes."""

from __future__ import annotations

import json
from functools import lru_cache

from sqlalchemy import select

from archive import ObjectNotFound, ObjectStore
from chartvault.db import session_scope
from chartvault.models import Document, Page
from chartvault.settings import Settings
from chartvault.types import WordBox
from search import DocumentEntry, PageEntry, SearchIndex, open_index


@lru_cache(maxsize=2)
def index_for(settings: Settings) -> SearchIndex:
    return open_index(settings)


def entry_for(session, store: ObjectStore, doc: Document) -> DocumentEntry:  # noqa: ANN001
    pages = session.scalars(select(Page).where(Page.document_id == doc.id, Page.status == "done")
                            .order_by(Page.number))
    return DocumentEntry(
        document_id=doc.id, mrn=doc.mrn, doc_type=doc.doc_type,
        pages=tuple(PageEntry(number=p.number, text=p.text or "", words=_words(store, p))
                    for p in pages),
        patient_name=doc.patient.name if doc.patient else "",
        date_of_birth=doc.patient.date_of_birth if doc.patient else None,
        service_date=doc.service_date, facility=doc.facility, batch_id=doc.batch_id)


def _words(store: ObjectStore, page: Page) -> tuple[WordBox, ...]:
    if not page.words_key:
        return ()
    try:
        with store.get(page.words_key) as stream:
            data = json.load(stream)
    except ObjectNotFound:
        return ()
    return tuple(WordBox(**w) for w in data.get("words", []))


def index_document(settings: Settings, store: ObjectStore, document_id: str) -> None:
    """Upsert the document's pages; idempotent. Raises SearchUnavailable (retryable)."""
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        if doc is None or doc.destroyed_at is not None:
            index_for(settings).delete(document_id)
            return
        entry = entry_for(session, store, doc)
    index_for(settings).upsert(entry)


def reindex_all(settings: Settings, store: ObjectStore) -> int:
    """Rebuild the whole index from the catalog and the store."""
    def entries():  # noqa: ANN202
        with session_scope(settings) as session:
            ids = list(session.scalars(select(Document.id).where(
                Document.status == "indexed", Document.destroyed_at.is_(None))))
        for document_id in ids:
            with session_scope(settings) as session:
                doc = session.get(Document, document_id)
                if doc is not None:
                    yield entry_for(session, store, doc)

    return index_for(settings).rebuild(entries())
