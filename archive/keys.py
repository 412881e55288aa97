"""Object keys: where every kind of object lives in the store.

Pure functions, no I/O. Every key a backend accepts passes :func:`validate_key`;
every key made here passes it by construction.

Layout::

    documents/{document_id}/original-{sha256[:16]}{ext}
    documents/{document_id}/derived/searchable.pdf
    documents/{document_id}/pages/0002.png
    documents/{document_id}/pages/0002-thumb-small.webp
    documents/{document_id}/pages/0002-words.json
    batches/{batch_id}/{intake_file_id}.pdf       a scan stack, until it is split and indexed
    staging/{intake_file_id}                      an upload a worker has yet to take in
    quarantine/{entry_id}                         a quarantined file's bytes
    audit/anchors/2026-11-22.json
    certificates/{certificate_id}.pdf

Every key is built here and only here; the object ledger (``archive.ledger``)
records each one with its kind, owner and page, so nothing parses a key.
"""

from __future__ import annotations

import re
from datetime import date

from chartvault.errors import BadInput

MAX_KEY_BYTES = 1024  # the S3 limit
MAX_COMPONENT_BYTES = 200  # file-name limit (255) less the filesystem store's suffixes

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_HEX = re.compile(r"^[0-9a-f]{16,64}$")
_EXT = re.compile(r"^(\.[a-z0-9]{1,10})?$")
_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadKey(BadInput):
    code = "bad_object_key"


def validate_key(key: object) -> str:
    """Return ``key`` unchanged if it is a safe relative key, else raise :class:`BadKey`.

    Refused: empty keys, absolute paths, ``.``/``..`` or empty components,
    components starting with ``.`` (the filesystem store keeps its own files
    there), backslashes, NUL and other control characters, over-long keys.
    """
    if not isinstance(key, str) or not key:
        raise BadKey(f"object key must be a non-empty string, got {key!r}")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise BadKey(f"object key longer than {MAX_KEY_BYTES} bytes")
    if _CONTROL.search(key):
        raise BadKey(f"object key contains a control character: {key!r}")
    if "\\" in key:
        raise BadKey(f"object key contains a backslash: {key!r}")
    if key.startswith("/"):
        raise BadKey(f"object key must be relative: {key!r}")
    for part in key.split("/"):
        if not part or part.startswith("."):
            raise BadKey(f"object key has an empty or dot component: {key!r}")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            raise BadKey(f"object key component longer than {MAX_COMPONENT_BYTES} bytes")
    return key


def validate_prefix(prefix: object) -> str:
    """A listing prefix: empty, or the start of a valid key (may end with '/')."""
    if prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise BadKey(f"prefix must be a string, got {prefix!r}")
    validate_key(prefix + "x" if prefix.endswith("/") else prefix)
    return prefix


def _id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise BadKey(f"{what} must be 1-128 letters, digits, '_' or '-', got {value!r}")
    return value


def _ext(ext: str) -> str:
    ext = ext.lower()
    if ext and not ext.startswith("."):
        ext = "." + ext
    if not _EXT.match(ext):
        raise BadKey(f"file extension must be '.' and 1-10 letters or digits, got {ext!r}")
    return ext


def document_prefix(document_id: str) -> str:
    """Everything belonging to one document lives under this prefix (ends with '/')."""
    return f"documents/{_id(document_id, 'document id')}/"


def original_key(document_id: str, sha256: str, filename_ext: str) -> str:
    """The key of an uploaded original; the same bytes always get the same key."""
    digest = sha256.lower() if isinstance(sha256, str) else ""
    if not _HEX.match(digest):
        raise BadKey(f"sha256 must be a hex digest, got {sha256!r}")
    return f"{document_prefix(document_id)}original-{digest[:16]}{_ext(filename_ext)}"


def derived_key(document_id: str, name: str) -> str:
    """A derived file of a document.

    ``name`` is a relative path under the document; a bare file name goes into
    ``derived/`` (``"searchable.pdf"`` -> ``documents/{id}/derived/searchable.pdf``),
    a path keeps its folder (``"pages/0002.png"`` -> ``documents/{id}/pages/0002.png``).
    Names starting with ``original`` are refused: originals use :func:`original_key`.
    """
    if not isinstance(name, str) or not name:
        raise BadKey(f"derived file name must be a non-empty string, got {name!r}")
    parts = name.split("/")
    if any(not _NAME_PART.match(part) or ".." in part for part in parts):
        raise BadKey(f"derived file name has unsafe characters: {name!r}")
    if len(parts) == 1:
        parts.insert(0, "derived")
    if parts[0].startswith("original"):
        raise BadKey(f"derived file name may not start with 'original': {name!r}")
    return validate_key(document_prefix(document_id) + "/".join(parts))


def _page(page: int) -> str:
    if not isinstance(page, int) or isinstance(page, bool) or not 0 <= page <= 9999:
        raise BadKey(f"page number must be an integer 0..9999, got {page!r}")
    return f"{page:04d}"


def searchable_pdf_key(document_id: str) -> str:
    return derived_key(document_id, "searchable.pdf")


def page_image_key(document_id: str, page: int, ext: str = ".png") -> str:
    return derived_key(document_id, f"pages/{_page(page)}{_ext(ext)}")


def thumbnail_key(document_id: str, page: int, size: str = "small", ext: str = ".webp") -> str:
    _id(size, "thumbnail size")
    return derived_key(document_id, f"pages/{_page(page)}-thumb-{size}{_ext(ext)}")


def page_words_key(document_id: str, page: int) -> str:
    return derived_key(document_id, f"pages/{_page(page)}-words.json")


AUDIT_ANCHOR_PREFIX = "audit/anchors/"  # every anchor's key starts so (for listing)


def audit_anchor_key(day: date) -> str:
    """The daily anchor of the audit hash chain."""
    if not isinstance(day, date):
        raise BadKey(f"audit anchor day must be a date, got {day!r}")
    return f"{AUDIT_ANCHOR_PREFIX}{day.isoformat()[:10]}.json"


def certificate_key(certificate_id: str, ext: str = ".pdf") -> str:
    """A certificate of destruction."""
    return f"certificates/{_id(certificate_id, 'certificate id')}{_ext(ext)}"


def page_file_key(document_id: str, page: int, name: str, ext: str) -> str:
    """A page's derived file: ``pages/0002.pdf`` (``name`` empty), ``pages/0002-words.json``,
    ``pages/0002-large.jpg``."""
    if name:
        _id(name, "page file name")
    suffix = f"-{name}" if name else ""
    return derived_key(document_id, f"pages/{_page(page)}{suffix}{_ext(ext)}")


def stack_key(batch_id: str, intake_file_id: str, ext: str) -> str:
    """A scan stack as uploaded, kept until its parts are archived and indexed."""
    return (f"batches/{_id(batch_id, 'batch id')}/"
            f"{_id(intake_file_id, 'intake file id')}{_ext(ext)}")


def staging_key(intake_file_id: str) -> str:
    """An upload staged for a worker's intake."""
    return f"staging/{_id(intake_file_id, 'intake file id')}"


def quarantine_key(entry_id: str) -> str:
    """The bytes of a quarantined file, kept until it is released or discarded."""
    return f"quarantine/{_id(entry_id, 'quarantine entry id')}"
