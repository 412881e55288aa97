"""Checks beyond "can it be rasterised" (that is ``ocr.service.inspect``): the
file name, the extension against the content, polyglots and active PDF content.

Each raises :class:`BadInput` with a stable code; each reads at most a few
kilobytes of the file, except the PDF structure walk (objects read lazily).
"""

from __future__ import annotations

import re
from pathlib import Path

from chartvault.errors import BadInput
from ingest.files import BIDI_CONTROLS, display_name

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
_EXTENSIONS = {".pdf": "pdf", ".tif": "tiff", ".tiff": "tiff", ".png": "png", ".jpg": "jpeg",
               ".jpeg": "jpeg", ".jpe": "jpeg"}
_NAMES = {"pdf": "a PDF", "tiff": "a TIFF image", "png": "a PNG image", "jpeg": "a JPEG image"}
# Magic numbers of other formats that must not share a file with a scan.
_FOREIGN_HEADS = {b"PK\x03\x04": "ZIP", b"MZ": "Windows executable", b"\x7fELF": "ELF executable",
                  b"<html": "HTML", b"<!doctype": "HTML", b"<script": "HTML",
                  b"<?xml": "XML", b"GIF8": "GIF", b"Rar!": "RAR"}
_ZIP_END = b"PK\x05\x06"
_ACTIVE_TOKENS = (b"/JavaScript", b"/Launch", b"/EmbeddedFile", b"/RichMedia", b"/XFA")
# action types (/S), and object types (/Type, /Subtype) that carry files or media
_ACTIVE_NAMES = {"/JavaScript", "/Launch", "/ImportData", "/SubmitForm", "/ResetForm",
                 "/EmbeddedFile", "/RichMedia", "/FileAttachment", "/Movie", "/Sound",
                 "/Screen", "/3D"}


def check_name(name: str) -> None:
    """BadInput unsafe_filename when the uploaded name holds a path or control characters."""
    if _CONTROL.search(name):
        raise BadInput(f"the file name {display_name(name)!r} contains control characters "
                       "(NUL, newline...); release it with a corrected name",
                       code="unsafe_filename")
    if _BIDI.search(name):
        raise BadInput(f"the file name {display_name(name)!r} contains a right-to-left or other "
                       "direction control (U+202E...), which makes it show as another name; "
                       "release it with a corrected name", code="unsafe_filename")
    if "/" in name or "\\" in name or name.strip() in ("", ".", ".."):
        raise BadInput(f"the file name {name[:120]!r} is a path, not a file name; it is never "
                       "used as one: release it with a corrected name", code="unsafe_filename")


def check_extension(name: str, kind: str) -> None:
    """BadInput type_mismatch when the extension names another scan format than the content."""
    claimed = _EXTENSIONS.get(Path(display_name(name)).suffix.lower())
    if claimed and claimed != kind:
        raise BadInput(f"{display_name(name)} is named like {_NAMES[claimed]} but its content is "
                       f"{_NAMES.get(kind, kind)}; release it under a name that matches its "
                       "content, or rescan",
                       code="type_mismatch")


def check_polyglot(path: Path, name: str) -> None:
    """BadInput polyglot when another format hides in front of or behind the scan."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(1024)
        f.seek(max(0, size - 65_600))
        tail = f.read()
    start = head.find(b"%PDF-")
    lead = head[:start].lower() if start > 0 else b""
    for magic, what in _FOREIGN_HEADS.items():
        if magic.lower() in lead:
            raise BadInput(f"{display_name(name)} is also a {what} file in front of its PDF "
                           "header (a polyglot); it is not archived", code="polyglot")
    if _ZIP_END in tail:
        raise BadInput(f"{display_name(name)} carries a ZIP archive after its content "
                       "(a polyglot); it is not archived", code="polyglot")


def check_pdf_active_content(path: Path, name: str) -> None:
    """BadInput active_content when a PDF carries JavaScript, launch actions, embedded
    files or forms that run code (scanners never write these); BadInput unverifiable_pdf
    when its objects cannot all be read to tell. The check fails closed: a structure it
    cannot walk is never taken for a clean one."""
    token = _raw_token(path)
    if token:
        raise _active(name, token)
    found = _structural_action(path, name)
    if found:
        raise _active(name, found)


def _active(name: str, what: str) -> BadInput:
    return BadInput(f"{display_name(name)} contains active content ({what}); scanned charts "
                    "never do: it is not archived", code="active_content")


def _raw_token(path: Path, chunk: int = 1 << 20) -> str | None:
    overlap = max(len(t) for t in _ACTIVE_TOKENS)
    carry = b""
    with path.open("rb") as f:
        while block := f.read(chunk):
            window = carry + block
            for token in _ACTIVE_TOKENS:
                if token in window:
                    return token.decode()
            carry = window[-overlap:]
    return None


def _structural_action(path: Path, name: str) -> str | None:
    """Active content anywhere among the PDF's objects, those packed in compressed object
    streams included (qpdf, through pikepdf, reads every object of the cross-reference
    table, not only the ones a page tree reaches). Raises unverifiable_pdf when the file
    cannot be opened, an object cannot be read, or qpdf had to guess at damaged structure."""
    import pikepdf

    try:
        with pikepdf.open(path) as pdf:
            for obj in pdf.objects:
                found = _active_in(obj)
                if found:
                    return found
            damaged = pdf.get_warnings()
    except Exception as exc:  # noqa: BLE001 - qpdf raises several types for bad structure
        raise _unverifiable(path, name, f"{type(exc).__name__}: {exc}") from exc
    if damaged:
        raise _unverifiable(path, name, str(damaged[0]))
    return None


def _unverifiable(path: Path, name: str, why: str) -> BadInput:
    # qpdf names the file it read: the upload's temporary path, never shown
    why = why.replace(str(path), display_name(name))[:200]
    return BadInput(f"{display_name(name)} could not be checked for active content: its PDF "
                    f"structure is damaged ({why}); re-export or rescan it",
                    code="unverifiable_pdf")


def _active_in(obj: object) -> str | None:
    """The active-content marker a dictionary (or a stream's dictionary) carries, if any."""
    import pikepdf

    if isinstance(obj, pikepdf.Stream):
        obj = obj.stream_dict
    if not isinstance(obj, pikepdf.Dictionary):
        return None
    keys = set(obj.keys())
    for key in ("/JS", "/AA", "/JavaScript", "/EmbeddedFiles", "/RichMedia", "/XFA"):
        if key in keys:
            return key
    for key in ("/S", "/Type", "/Subtype"):
        value = obj.get(key)
        if isinstance(value, pikepdf.Name) and str(value) in _ACTIVE_NAMES:
            return str(value)
    return None
