"""The viewer: page image with hit boxes, thumbnails, OCR text, metadata, downloads.

OCR text is untrusted: it reaches the page only through Jinja's autoescaping.
Hit boxes are SVG rectangles over the page image (no inline style, no script).
Every read goes through :func:`chartvault.access.open_document`, which records
it and asks for a reason before a restricted document opens (break the glass):
the page keeps the reason given for a document in the session, an API client
sends it in ``X-Access-Reason``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from archive import ledger
from archive.ledger import Owner
from chartvault import access
from chartvault.catalog import document_view
from chartvault.db import session_scope
from chartvault.errors import BadInput, NotFound, PermissionDenied
from chartvault.models import Document, LegalHold, Page, Patient, StoredObject
from web import read_audit
from web.common import actor, client, search_index, settings, store
from web.permissions import requires

bp = Blueprint("documents", __name__)

_EXTENSIONS = {"image/webp": ".webp", "image/png": ".png", "image/jpeg": ".jpg",
               "application/pdf": ".pdf", "image/tiff": ".tif"}


def stream_object(row: StoredObject, download_name: str | None = None) -> Response:
    """Stream the object version a ledger row records, with its own content type; a
    missing one is NotFound before any byte is sent."""
    opened = store().get(row.key, row.version_id)
    handle = opened.__enter__()
    try:
        # The first chunk is read before any header is sent: an object that fails its
        # integrity check there (a damaged original) is the app's error page, not the
        # server's plain-text 500. A failure further on can only cut the download short.
        first = handle.read(256 * 1024)
    except BaseException:
        opened.__exit__(None, None, None)
        raise

    def chunks() -> Iterator[bytes]:
        try:
            chunk = first
            while chunk:
                yield chunk
                chunk = handle.read(256 * 1024)
        finally:
            opened.__exit__(None, None, None)

    response = Response(chunks(), mimetype=row.content_type, direct_passthrough=True)
    if download_name:
        response.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    return response


def _page_file(db, document_id: str, kind: str, number: int) -> StoredObject | None:  # noqa: ANN001
    return ledger.find(db, Owner.document(document_id), kind, page=number)


MAX_PAGE = 99_999  # beyond any chart (and within every database's integer)
MAX_GRANTS = 20  # reasons kept in one session (newest win)


def _reason(document_id: str) -> str | None:
    if g.get("via") == "api":
        return request.headers.get("X-Access-Reason") or None
    return (session.get("glass") or {}).get(document_id)


def _glass_broken(document_id: str) -> bool:
    """This web session broke the glass of the document (recorded when it did)."""
    return g.get("via") == "session" and document_id in (session.get("glass") or {})


def open_doc(db, document_id: str, action: str = "view",  # noqa: ANN001
             page: int | None = None, **extra: object) -> Document:
    """The document, its read recorded (ReasonRequired for a restricted one)."""
    return access.open_document(db, actor(), document_id, action=action,
                                reason=_reason(document_id), client=client(), page=page,
                                glass_broken=_glass_broken(document_id), extra=extra)


def read_part(db, document_id: str, page: int, what: str) -> None:  # noqa: ANN001
    """A page image or thumbnail of a document: covered by the viewer's event when this
    session opened the document lately (read_audit), else one event of its own. The
    access rule is checked either way."""
    if read_audit.covered("document", document_id):
        doc = db.get(Document, document_id)
        if doc is None or doc.destroyed_at is not None:
            raise NotFound(f"document {document_id} does not exist")
        if doc.restricted and not _glass_broken(document_id):
            raise PermissionDenied("this document is restricted", code="restricted")
        return
    open_doc(db, document_id, "view", page=page, part=what)  # ReasonRequired: 403


def _page(db, document_id: str, number: int) -> Page:  # noqa: ANN001
    if not 1 <= number <= MAX_PAGE:
        raise NotFound(f"page {number} of document {document_id} does not exist")
    page = db.scalar(select(Page).where(Page.document_id == document_id,
                                        Page.number == number))
    if page is None:
        raise NotFound(f"page {number} of document {document_id} does not exist")
    return page


def page_image(document_id: str, number: int) -> Response:
    with session_scope(settings()) as db:
        page = _page(db, document_id, number)
        row = _page_file(db, document_id, "page-image-large", page.number)
        if row is None:
            raise NotFound(f"page {number} has no image yet", code="no_page_image")
        read_part(db, document_id, number, "image")
    return stream_object(row)


def download(document_id: str, kind: str) -> Response:
    """``kind`` is ``original`` or ``pdf``; each download is an audit event."""
    with session_scope(settings()) as db:
        doc = db.get(Document, document_id)
        row = None if doc is None or doc.destroyed_at else ledger.find(
            db, Owner.document(document_id), "original" if kind == "original" else "pdf")
        if row is None:
            raise NotFound(f"document {document_id} has no {kind} to download",
                           code=f"no_{kind}")
        open_doc(db, document_id, "download")
    name = f"{document_id}-{kind}{_EXTENSIONS.get(row.content_type, '')}"
    return stream_object(row, download_name=name)


def _thumbnails(db, document_id: str) -> dict[int, bool]:  # noqa: ANN001
    rows = ledger.objects_of(db, Owner.document(document_id), kinds=("page-image-small",))
    return {row.page: True for row in rows if row.page is not None}


def _holds(db, doc: Document) -> list[LegalHold]:  # noqa: ANN001
    active = db.scalars(select(LegalHold).where(LegalHold.released_at.is_(None)))
    return [h for h in active
            if doc.mrn in (h.scope or {}).get("mrns", [])
            or doc.id in (h.scope or {}).get("documents", [])]


def _words(page: Page) -> dict[str, Any]:
    """The page's word boxes file, or just its size when there is none."""
    size = {"width": page.width or 1000, "height": page.height or 1400, "words": []}
    if not page.words_key:
        return size
    try:
        with store().get(page.words_key) as handle:
            data = json.load(handle)
    except (NotFound, ValueError):
        return size
    return {"width": data.get("width") or size["width"],
            "height": data.get("height") or size["height"], "words": data.get("words", [])}


def _hit_boxes(query: str, doc: Document, number: int) -> tuple[list[dict], list[int]]:
    """Boxes of the query's matches on this page, and the pages of the document it hits."""
    from search import SearchQuery

    if not query:
        return [], []
    try:
        result = search_index().search(SearchQuery(text=query, mrn=doc.mrn, limit=100))
    except BadInput:
        return [], []
    for hit in result.hits:
        if hit.document_id == doc.id:
            boxes = [{"x": w.left, "y": w.top, "width": w.width, "height": w.height}
                     for p in hit.pages if p.page == number for w in p.words]
            return boxes, sorted(p.page for p in hit.pages)
    return [], []


@bp.get("/documents/<document_id>")
@requires("read_charts")
def view(document_id: str):  # noqa: ANN201
    try:
        number = int(request.args.get("page", 1))
    except ValueError as exc:
        raise BadInput("page must be a number", code="bad_page") from exc
    query = request.args.get("q", "").strip()[:1000]
    try:
        with session_scope(settings()) as db:
            doc_view = document_view(db, document_id)
            number = min(max(1, number), max(1, doc_view["pages"]))
            open_doc(db, document_id, "view", page=number)
    except access.ReasonRequired as exc:
        return render_template("restricted.html", document_id=document_id,
                               message=exc.message), 403
    read_audit.remember("document", document_id)
    with session_scope(settings()) as db:
        doc = db.get(Document, document_id)
        page = db.scalar(select(Page).where(Page.document_id == document_id,
                                            Page.number == number))
        patient = db.get(Patient, doc.mrn)
        holds = _holds(db, doc)
        thumbs = _thumbnails(db, document_id)
        text = page.text if page else None
        words = _words(page) if page else {"width": 1000, "height": 1400, "words": []}
        has_image = bool(page and page.image_key)
        boxes, hit_pages = _hit_boxes(query, doc, number)
    return render_template("document.html", doc=doc_view, number=number, text=text,
                           words=words, boxes=boxes, hit_pages=hit_pages, query=query,
                           patient=patient, holds=holds, thumbs=thumbs, has_image=has_image)


@bp.get("/documents/<document_id>/pages/<int:number>/image")
@requires("read_charts")
def image(document_id: str, number: int):  # noqa: ANN201
    return page_image(document_id, number)


@bp.get("/documents/<document_id>/pages/<int:number>/thumb")
@requires("read_charts")
def thumb(document_id: str, number: int):  # noqa: ANN201
    if not 1 <= number <= MAX_PAGE:
        raise NotFound(f"page {number} has no thumbnail", code="no_thumbnail")
    # Thumbnails are part of the document view already recorded (read_part); a
    # restricted document shows none before its glass is broken.
    with session_scope(settings()) as db:
        doc = db.get(Document, document_id)
        if doc is not None and doc.restricted and not _glass_broken(document_id) \
                and not _reason(document_id):
            raise PermissionDenied("this document is restricted", code="restricted")
        row = _page_file(db, document_id, "page-image-small", number)
        if row is None:
            raise NotFound(f"page {number} has no thumbnail", code="no_thumbnail")
        read_part(db, document_id, number, "thumbnail")
    return stream_object(row)


@bp.post("/documents/<document_id>/break-glass")
@requires("read_charts")
def break_glass(document_id: str):  # noqa: ANN201
    """Record the break-the-glass once, with its reason, and keep the grant in the
    session: the views that follow are plain ``view`` events marked break_glass."""
    reason = request.form.get("reason", "").strip()
    if len(reason) < access.MIN_REASON:
        raise BadInput("say why you need this restricted document", code="reason_required")
    if (session.get("glass") or {}).get(document_id) != reason[:500]:  # a new reason only
        with session_scope(settings()) as db:
            access.break_glass(db, actor(), document_id, reason[:500], client=client())
    grants = dict(session.get("glass") or {})
    grants.pop(document_id, None)
    grants[document_id] = reason[:500]
    session["glass"] = dict(list(grants.items())[-MAX_GRANTS:])
    return redirect(url_for("documents.view", document_id=document_id), 303)


@bp.get("/documents/<document_id>/original")
@requires("read_charts")
def original(document_id: str):  # noqa: ANN201
    return download(document_id, "original")


@bp.get("/documents/<document_id>/pdf")
@requires("read_charts")
def pdf(document_id: str):  # noqa: ANN201
    return download(document_id, "pdf")
