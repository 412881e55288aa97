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
_ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/ImportData", "/SubmitForm", "/ResetForm"}


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
                       f"{_NAMES.get(kind, kind)}; rename it (release with --filename) or rescan",
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
    files or forms that run code. Scanners never write these."""
    token = _raw_token(path)
    if token:
        raise BadInput(f"{display_name(name)} contains active content ({token}); scanned charts "
                       "never do: it is not archived", code="active_content")
    found = _structural_action(path)
    if found:
        raise BadInput(f"{display_name(name)} contains active content ({found}); scanned charts "
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


def _structural_action(path: Path) -> str | None:
    """Actions hidden in compressed object streams, found through pypdf."""
    from ocr.pdf import opened

    with opened(path) as reader:
        try:
            root = reader.trailer["/Root"]
            found = _action(root.get("/OpenAction")) or ("/AA" if "/AA" in root else None)
            for page in reader.pages:
                found = found or ("/AA" if "/AA" in page else None)
                for annot in page.get("/Annots") or ():
                    found = found or _action(annot.get_object().get("/A"))
                if found:
                    return found
        except Exception:  # noqa: BLE001 - damaged structure: inspect/OCR judge that
            return None
    return found


def _action(value: object) -> str | None:
    try:
        obj = value.get_object() if hasattr(value, "get_object") else value
        if isinstance(obj, dict) and str(obj.get("/S")) in _ACTIVE_ACTIONS:
            return str(obj.get("/S"))
        if isinstance(obj, dict) and "/JS" in obj:
            return "/JS"
    except Exception:  # noqa: BLE001
        return None
    return None
