"""The OCR stage over the catalog and the store, one document at a time.

Each function is idempotent and keyed by document id (and page number): run it
twice, or after a crash, and the catalog converges to the same state.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select, update

from archive import ObjectStore, keys, ledger, open_store
from chartvault.db import session_scope
from chartvault.errors import BadInput, ChartvaultError, NotFound
from chartvault.models import Document, Page, StoredObject, utcnow
from chartvault.settings import Settings, get_settings
from ocr import workspace
from ocr.indexing import index_document, index_for
from ocr.interface import OcrFailed, PageResult
from ocr.service import merge_pdfs, ocr_page

log = logging.getLogger(__name__)

# A page started this many times without finishing is given up on: its engine crashed
# or hung and took the worker's process with it (redelivered each time by acks_late).
# Above the task's transient retries (max_retries 12), which also count as attempts.
MAX_PAGE_ATTEMPTS = 16


@lru_cache(maxsize=1)
def _store() -> ObjectStore:
    return open_store(get_settings())


def sweep_abandoned_writes() -> int:
    """Half-written store files of writes whose worker was killed (an hour old)."""
    return _store().sweep_abandoned_writes()


def start_document(document_id: str) -> list[int]:
    """Create the page rows; returns the numbers of pages still to OCR."""
    settings = get_settings()
    with session_scope(settings) as session:
        doc = _document(session, document_id)
        if doc.status in ("indexed", "destroyed", "failed"):
            return []
        existing = set(session.scalars(select(Page.number).where(Page.document_id == doc.id)))
        for number in range(1, doc.page_count + 1):
            if number not in existing:
                session.add(Page(document_id=doc.id, number=number))
        if doc.status == "received":
            doc.status = "ocr"
        pending = list(session.scalars(select(Page.number).where(
            Page.document_id == doc.id, Page.status == "pending").order_by(Page.number)))
    return pending


def run_page(document_id: str, number: int) -> None:
    """OCR one page and store its derived files; a permanent failure is recorded."""
    settings = get_settings()
    with session_scope(settings) as session:
        doc = _document(session, document_id)
        page = _page(session, document_id, number)
        if page.status != "pending":
            return
        if page.attempts >= MAX_PAGE_ATTEMPTS:
            page.status, page.flag = "failed", "failed"
            page.error = (f"ocr_gave_up: page {number} was started {page.attempts} times and "
                          "never finished (the OCR engine crashed or hung); rescan the page, "
                          "or retry it with CHARTVAULT_OCR_ENGINE=tesseract")
            log.warning("page given up", extra={"document_id": document_id, "page": number})
            return
        page.attempts += 1
        original_key, version, sha256 = doc.original_key, doc.original_version, doc.sha256
        retain = _Lock(doc.locked_until, doc.hold)
    workdir = Path(tempfile.mkdtemp(prefix=workspace.page_prefix(document_id, number),
                                    dir=_work_root(settings)))
    try:
        source = _local_original(workdir, original_key, version, sha256)
        result = ocr_page(source, number, workdir, settings)
        stored, rows = _store_page_files(document_id, result, workdir, retain)
        _save_page(settings, document_id, result, stored, rows)
    except (BadInput, OcrFailed) as exc:
        log.warning("page failed", extra={"document_id": document_id, "page": number,
                                          "code": exc.code})
        _fail_page(settings, document_id, number, exc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def claim_for_finish(document_id: str) -> bool:
    """True for exactly one caller once every page is done or failed."""
    settings = get_settings()
    with session_scope(settings) as session:
        pending = session.scalar(select(func.count()).select_from(Page).where(
            Page.document_id == document_id, Page.status == "pending"))
        if pending:
            return False
        moved = session.execute(update(Document).where(
            Document.id == document_id, Document.status == "ocr").values(
            status="finishing", updated_at=utcnow()))
        return moved.rowcount == 1


def finish_document(document_id: str) -> None:
    """Assemble the searchable PDF, compute quality flags, index, mark indexed."""
    settings = get_settings()
    with session_scope(settings) as session:
        doc = _document(session, document_id)
        if doc.status != "finishing":
            return
        pages = list(session.scalars(select(Page).where(Page.document_id == document_id)
                                     .order_by(Page.number)))
        retain = _Lock(doc.locked_until, doc.hold)
    if not any(p.status == "done" for p in pages):
        _fail_document(settings, document_id, pages)
        return
    # The searchable PDF and the index entry need nothing of each other: the PDF is put
    # together on a helper thread while the pages go to the index (20 pages: 0.29 s ->
    # 0.23 s). A PDF that fails takes the entry out again.
    with ThreadPoolExecutor(1, "assemble-pdf") as helper:
        assembling = helper.submit(_assemble_pdf, settings, document_id, pages, retain)
        index_document(settings, _store(), document_id)
        try:
            pdf_key = assembling.result()
        except BaseException:
            _unindex(settings, document_id)
            raise
    confidences = [p.confidence for p in pages if p.confidence is not None and not p.blank]
    with session_scope(settings) as session:
        doc = _document(session, document_id)
        doc.pdf_key = pdf_key
        doc.mean_confidence = sum(confidences) / len(confidences) if confidences else None
        doc.needs_review = any(p.flag for p in pages)
        doc.status = "indexed"
        doc.indexed_at = utcnow()
        doc.error = "; ".join(f"page {p.number}: {p.error}" for p in pages if p.error) or None


def _unindex(settings: Settings, document_id: str) -> None:
    """Best effort: the finish failed, so the document must not be found by search."""
    try:
        index_for(settings).delete(document_id)
    except ChartvaultError as exc:
        log.warning("could not take a failed document out of the index",
                    extra={"document_id": document_id, "code": exc.code})


def mark_failed(document_id: str, reason: str) -> None:
    with session_scope(get_settings()) as session:
        doc = _document(session, document_id)
        if doc.status not in ("indexed", "destroyed"):
            doc.status, doc.error, doc.needs_review = "failed", reason, True


def _fail_document(settings: Settings, document_id: str, pages: list[Page]) -> None:
    with session_scope(settings) as session:
        doc = _document(session, document_id)
        doc.status = "failed"
        doc.needs_review = True
        reasons = sorted({p.error for p in pages if p.error})
        doc.error = "no page could be read: " + ("; ".join(reasons) or "no pages")


@dataclass(frozen=True)
class _Lock:
    """How a document's derived files are stored: locked as its original is, and held."""

    until: date | None
    hold: bool


def _assemble_pdf(settings: Settings, document_id: str, pages: list[Page], retain: _Lock
                  ) -> str | None:
    done = [p for p in pages if p.pdf_key]
    if not done:
        return None
    with tempfile.TemporaryDirectory(prefix=workspace.pdf_prefix(document_id),
                                     dir=_work_root(settings)) as tmp:
        parts = []
        for page in done:
            part = Path(tmp) / f"{page.number:05d}.pdf"
            _download(page.pdf_key, None, part)
            parts.append(part)
        merged = merge_pdfs(parts, Path(tmp) / "searchable.pdf")
        key = keys.searchable_pdf_key(document_id)
        _put_derived(document_id, "pdf", key, merged, "application/pdf", retain)
    return key


def _store_page_files(document_id: str, result: PageResult, workdir: Path, retain: _Lock
                      ) -> tuple[dict[str, str], list[StoredObject]]:
    """Put the page's derived files in the store: their keys by kind, and the ledger rows
    of those not stored before (a redelivered task finds them recorded and skips them),
    for the caller to commit with the page."""
    n = result.number
    words = workdir / f"{n:04d}-words.json"
    words.write_text(json.dumps({"width": result.width, "height": result.height,
                                 "words": [w.as_dict() for w in result.words]}), "utf-8")
    files = {"pdf": (keys.page_file_key(document_id, n, "", ".pdf"), result.pdf_path,
                     "application/pdf"),
             "words": (keys.page_words_key(document_id, n), words, "application/json")}
    for size, path in result.images.items():
        files[f"image-{size}"] = (keys.page_file_key(document_id, n, size, path.suffix), path,
                                  _image_type(path))
    stored = {kind: key for kind, (key, _, _) in files.items()}
    with session_scope(get_settings()) as session:
        done = ledger.recorded(session, list(stored.values()))
    rows = [_put(document_id, f"page-{kind}", key, path, content_type, retain, page=n)
            for kind, (key, path, content_type) in files.items() if key not in done]
    return stored, rows


def _image_type(path: Path) -> str:
    return {".webp": "image/webp", ".png": "image/png", ".jpg": "image/jpeg"}.get(
        path.suffix, "application/octet-stream")


def _put_derived(document_id: str, kind: str, key: str, path: Path, content_type: str,
                 retain: _Lock) -> None:
    """Write a derived file once: a redelivered task finds it recorded and skips."""
    settings = get_settings()
    with session_scope(settings) as session:
        if ledger.recorded(session, [key]):
            return
    row = _put(document_id, kind, key, path, content_type, retain)
    with session_scope(settings) as session:
        session.add(row)


def _put(document_id: str, kind: str, key: str, path: Path, content_type: str,
         retain: _Lock, page: int | None = None) -> StoredObject:
    """Store ``path`` under ``key``; its ledger row, not yet added to a session."""
    return ledger.put(_store(), key, path, kind=kind, owner=ledger.Owner.document(document_id),
                      content_type=content_type, lock_until=retain.until,
                      legal_hold=retain.hold, page=page)


def _save_page(settings: Settings, document_id: str, result: PageResult,
               stored: dict[str, str], rows: list[StoredObject]) -> None:
    """The page's text and flags, and the rows of its derived files, in one commit."""
    low = (result.confidence is not None
           and result.confidence < settings.ocr_confidence_threshold)
    # ink on the page but not a word read (a drawing, show-through, a page too faint or
    # too damaged): a clerk looks, as at a blank page
    unread = not result.blank and result.source == "ocr" and not result.text.strip()
    with session_scope(settings) as session:
        session.add_all(rows)
        page = _page(session, document_id, result.number)
        page.status = "done"
        page.text = result.text
        page.confidence = result.confidence
        page.source = result.source
        page.width, page.height, page.dpi = result.width, result.height, result.dpi
        page.rotation = result.rotation
        page.blank = result.blank
        page.flag = ("blank" if result.blank else "no_text" if unread
                     else "low_confidence" if low else None)
        page.pdf_key = stored["pdf"]
        page.words_key = stored["words"]
        page.image_key = stored.get("image-large")
        page.error = None


def _fail_page(settings: Settings, document_id: str, number: int,
               error: ChartvaultError) -> None:
    with session_scope(settings) as session:
        page = _page(session, document_id, number)
        page.status = "failed"
        page.flag = "failed"
        page.error = f"{error.code}: {error.message}"


def _local_original(workdir: Path, key: str, version: str, sha256: str) -> Path:
    """The original, decrypted into the page task's own folder, which the task removes
    when it ends: no plaintext copy outlives the tasks that need it (DESIGN rule 8). A
    task running beside another of the same original links that one's copy instead of
    fetching its own (the file goes with the last link). A fetch costs ~3.4 ms a MB of
    original (22 ms for a 20-page chart: under 1 % of a page's OCR; bench/RESULTS.md)."""
    target = workdir / f"original-{sha256}"
    if not workspace.link_running_copy(workdir, target.name):
        _download(key, version, target)
    return target


def _download(key: str, version: str | None, target: Path) -> None:
    """Fetch into a temp file of this call's own, then rename: a file at ``target`` is
    always whole."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(name)
    try:
        with _store().get(key, version) as stream, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _work_root(settings: Settings) -> Path:
    return workspace.work_root(settings)


def _document(session, document_id: str) -> Document:  # noqa: ANN001
    doc = session.get(Document, document_id)
    if doc is None:
        raise NotFound(f"document {document_id} does not exist")
    return doc


def _page(session, document_id: str, number: int) -> Page:  # noqa: ANN001
    page = session.scalar(select(Page).where(Page.document_id == document_id,
                                             Page.number == number))
    if page is None:
        raise NotFound(f"page {number} of document {document_id} does not exist")
    return page


def unfinished(session, older_than: datetime) -> Iterable[tuple[str, str]]:  # noqa: ANN001
    """(id, status) of documents stuck before ``indexed`` (for the recovery sweep)."""
    return session.execute(select(Document.id, Document.status).where(
        Document.status.in_(("received", "ocr", "finishing")),
        Document.updated_at < older_than))
