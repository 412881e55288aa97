"""PDF structure through pypdf: page count, page size, text layer; merging.

pypdf's exceptions are translated here into :class:`UnreadableFile`.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.errors import PyPdfError

from ocr.interface import UnreadableFile

# Malformed-but-readable PDFs make pypdf log a warning per oddity; not ours to shout.
logging.getLogger("pypdf").setLevel(logging.ERROR)

# A text layer needs this many letters and digits to be trusted over OCR.
MIN_TEXT_LAYER_CHARS = 20
_ERRORS = (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
           AssertionError, RecursionError, OSError)


@contextmanager
def opened(path: Path) -> Iterator[PdfReader]:
    """A reader over the open file (objects are read lazily, not the whole file),
    decrypted if the user password is empty; raises corrupt_pdf / encrypted_pdf."""
    with path.open("rb") as stream:
        yield _reader(stream, path)


def _reader(stream: BinaryIO, path: Path) -> PdfReader:
    try:
        reader = PdfReader(stream, strict=False)
        encrypted = reader.is_encrypted
    except _ERRORS as e:
        raise UnreadableFile(f"{path.name} is not a readable PDF ({e}); re-export or rescan it",
                             code="corrupt_pdf") from e
    if encrypted:
        try:
            decrypted = reader.decrypt("")
        except Exception as e:  # noqa: BLE001 - pypdf raises several types for bad crypto
            raise UnreadableFile(f"{path.name} is encrypted and cannot be opened ({e})",
                                 code="encrypted_pdf") from e
        if not decrypted:
            raise UnreadableFile(
                f"{path.name} is password-protected; remove the password and upload it again",
                code="encrypted_pdf")
    return reader


def pdf_page_count(path: Path) -> int:
    with opened(path) as reader:
        try:
            return len(reader.pages)
        except _ERRORS as e:
            raise UnreadableFile(f"{path.name}: the page tree is damaged ({e})",
                                 code="corrupt_pdf") from e


@dataclass(frozen=True)
class PageFacts:
    width_in: float  # as displayed (page rotation applied)
    height_in: float
    text: str  # the text layer when it is real text, else ""
    bilevel: bool = False  # every image on the page is 1 bit deep (fax, G4, JBIG2 scans)


def page_facts(path: Path, number: int, *, want_text: bool = True) -> PageFacts:
    """Size and trustworthy text layer of page ``number`` (1-based), from one parse."""
    with opened(path) as reader:
        page = _page(reader, path, number)
        try:
            box = page.cropbox
            unit = float(page.get("/UserUnit", 1) or 1)
            width, height = float(box.width) * unit / 72, float(box.height) * unit / 72
            turned = page.rotation % 180 != 0
        except _ERRORS as e:
            raise UnreadableFile(f"{path.name}: page {number} has no usable size ({e})",
                                 code="corrupt_pdf") from e
        text = _text_layer(page) if want_text else ""
        bilevel = _only_bilevel_images(page)
    if turned:
        width, height = height, width
    return PageFacts(width, height, text, bilevel)


def _only_bilevel_images(page: PageObject) -> bool:
    """True when the page draws one or more images and all are 1-bit: reading the
    image dictionaries only, never their data."""
    try:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources else None
        if not xobjects:
            return False
        images = [x.get_object() for x in xobjects.get_object().values()]
        return all(x.get("/Subtype") == "/Image" and (x.get("/BitsPerComponent") == 1
                                                      or bool(x.get("/ImageMask")))
                   for x in images)
    except _ERRORS:
        return False


def _text_layer(page: PageObject) -> str:
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
    with opened(path) as reader:
        writer.add_page(_page(reader, path, number))
        _write(writer, out)
    return out


# Up to this many one-page PDFs are merged by qpdf in this process (pikepdf); above it,
# by poppler's pdfunite, whose memory stays flat. 20 pages of 300-dpi scans (11 MB):
# pikepdf 0.02 s, pdfunite 0.63 s; pikepdf holds what it copies until it writes (500
# pages: 330 MB), so this bounds it to ~70 MB.
IN_PROCESS_MERGE_PAGES = 100


def merge(pdfs: Sequence[Path], out: Path) -> Path:
    """Concatenate ``pdfs`` in order into ``out`` (written atomically).

    Up to :data:`IN_PROCESS_MERGE_PAGES` files by qpdf in this process (pikepdf, ~1 ms
    a page). Above, by poppler's ``pdfunite``, which copies page by page from disk: its
    memory stays flat (about 11 MB for 200 pages of 1.8 MB; 30 ms a page), where pypdf
    and qpdf hold every page's streams until they write (about 400 MB for the same
    pages), which would put a 500-page chart over the worker's memory budget.
    """
    if not pdfs:
        raise UnreadableFile("no pages to merge", code="zero_pages")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        if len(pdfs) == 1:
            tmp.write_bytes(Path(pdfs[0]).read_bytes())
        elif len(pdfs) <= IN_PROCESS_MERGE_PAGES:
            _merge_in_process(pdfs, tmp)
        else:
            _merge_with_pdfunite(pdfs, tmp)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return out


def _merge_in_process(pdfs: Sequence[Path], tmp: Path) -> None:
    import pikepdf  # only the workers' finish step merges

    try:
        with pikepdf.new() as merged, ExitStack() as sources:
            for path in pdfs:
                merged.pages.extend(sources.enter_context(pikepdf.open(path)).pages)
            merged.save(tmp)
    except (pikepdf.PdfError, OSError, ValueError) as e:
        raise UnreadableFile(f"cannot merge the page PDFs: {e}", code="corrupt_pdf") from e


def _merge_with_pdfunite(pdfs: Sequence[Path], tmp: Path) -> None:
    try:
        subprocess.run(["pdfunite", *(str(p) for p in pdfs), str(tmp)], check=True,
                       capture_output=True, timeout=600)
    except subprocess.CalledProcessError as e:
        detail = e.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise UnreadableFile(f"cannot merge the page PDFs: {detail[0]}",
                             code="corrupt_pdf") from e
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UnreadableFile(f"cannot merge the page PDFs: {e}", code="corrupt_pdf") from e


def _page(reader: PdfReader, path: Path, number: int) -> PageObject:
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
