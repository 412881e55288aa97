"""PDF structure through pypdf: page count, page size, text layer, merging.

pypdf's exceptions are translated here into :class:`UnreadableFile`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError

from ocr.interface import UnreadableFile

# Malformed-but-readable PDFs make pypdf log a warning per oddity; not ours to shout.
logging.getLogger("pypdf").setLevel(logging.ERROR)

# A text layer needs this many letters and digits to be trusted over OCR.
MIN_TEXT_LAYER_CHARS = 20
_ERRORS = (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
           AssertionError, RecursionError, OSError)


def open_pdf(path: Path) -> PdfReader:
    """A reader, decrypted if the user password is empty; raises corrupt_pdf / encrypted_pdf."""
    try:
        reader = PdfReader(path, strict=False)
        encrypted = reader.is_encrypted
    except _ERRORS as e:
        raise UnreadableFile(f"{path.name} is not a readable PDF ({e}); re-export or rescan it",
                             code="corrupt_pdf") from e
    if encrypted:
        try:
            opened = reader.decrypt("")
        except Exception as e:  # noqa: BLE001 - pypdf raises several types for bad crypto
            raise UnreadableFile(f"{path.name} is encrypted and cannot be opened ({e})",
                                 code="encrypted_pdf") from e
        if not opened:
            raise UnreadableFile(
                f"{path.name} is password-protected; remove the password and upload it again",
                code="encrypted_pdf")
    return reader


def pdf_page_count(path: Path) -> int:
    reader = open_pdf(path)
    try:
        return len(reader.pages)
    except _ERRORS as e:
        raise UnreadableFile(f"{path.name}: the page tree is damaged ({e})",
                             code="corrupt_pdf") from e


def page_size_inches(path: Path, number: int) -> tuple[float, float]:
    """Width and height of page ``number`` (1-based) as displayed, in inches."""
    page = _page(open_pdf(path), path, number)
    try:
        box = page.cropbox
        unit = float(page.get("/UserUnit", 1) or 1)
        width, height = float(box.width) * unit / 72, float(box.height) * unit / 72
    except _ERRORS as e:
        raise UnreadableFile(f"{path.name}: page {number} has no usable size ({e})",
                             code="corrupt_pdf") from e
    return (height, width) if page.rotation % 180 else (width, height)


def text_layer(path: Path, number: int) -> str:
    """The page's own text, or "" when it has none worth trusting (white space, too short)."""
    page = _page(open_pdf(path), path, number)
    try:
        text = page.extract_text() or ""
    except _ERRORS:
        return ""  # an unreadable text layer is no text layer: OCR the page
    return text.strip() if is_real_text(text) else ""


def is_real_text(text: str) -> bool:
    """Enough letters and digits, and mostly those: white space, control characters or
    unmapped glyphs (a scanner's junk text layer) do not count."""
    visible = [ch for ch in text if not ch.isspace()]
    letters = sum(1 for ch in visible if ch.isalnum())
    return letters >= MIN_TEXT_LAYER_CHARS and letters >= 0.6 * len(visible)


def extract_page(path: Path, number: int, out: Path) -> Path:
    """Page ``number`` alone, as a one-page PDF at ``out``."""
    writer = PdfWriter()
    writer.add_page(_page(open_pdf(path), path, number))
    _write(writer, out)
    return out


def merge(pdfs: Sequence[Path], out: Path) -> Path:
    """Concatenate ``pdfs`` in order into ``out`` (written atomically)."""
    writer = PdfWriter()
    for pdf in pdfs:
        try:
            writer.append(open_pdf(pdf))
        except _ERRORS as e:
            raise UnreadableFile(f"cannot merge {pdf.name}: {e}", code="corrupt_pdf") from e
    _write(writer, out)
    return out


def _page(reader: PdfReader, path: Path, number: int):  # noqa: ANN202 - pypdf PageObject
    try:
        count = len(reader.pages)
        if not 1 <= number <= count:
            raise UnreadableFile(f"{path.name} has {count} pages, no page {number}",
                                 code="no_such_page")
        return reader.pages[number - 1]
    except _ERRORS as e:
        raise UnreadableFile(f"{path.name}: page {number} is damaged ({e})",
                             code="corrupt_pdf") from e


def _write(writer: PdfWriter, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("wb") as f:
        writer.write(f)
    os.replace(tmp, out)
