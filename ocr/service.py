"""What the rest of Chartvault calls: inspect a file, OCR one page, thumbnails, merge.

Every function is idempotent for the same inputs and work dir. Bad input
raises :class:`~ocr.interface.UnreadableFile` with a specific ``code``; engine
trouble raises :class:`~ocr.interface.OcrFailed` or
:class:`~ocr.interface.OcrTimeout`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from chartvault.settings import Settings
from ocr import pdf as pdftools
from ocr.interface import OcrEngine, PageResult, SourceInfo
from ocr.sniff import inspect_file, read_kind

if TYPE_CHECKING:
    from ocr.page import Deadline
    from ocr.rasterize import Raster

log = logging.getLogger(__name__)

# Reading pages (numpy, pdf2image, the clean-up) is imported by the functions that read
# them: intake calls inspect() from a command line that starts for one batch.


def inspect(path: Path, settings: Settings) -> SourceInfo:
    """Kind (from the content, never the name), MIME type and page count, without
    rasterising. Raises :class:`UnreadableFile`: empty_file, unsupported_type,
    corrupt_pdf, encrypted_pdf, zero_pages, too_many_pages, file_too_large,
    image_too_large, truncated_image, corrupt_image."""
    return inspect_file(Path(path), settings)


def ocr_page(path: Path, number: int, workdir: Path, settings: Settings,
             engine: OcrEngine | None = None) -> PageResult:
    """Page ``number`` (1-based): rasterised into ``workdir``, oriented, deskewed and
    recognised, or read from its own text layer when it is a born-digital PDF page
    (unless ``settings.ocr_force``). The whole page runs within
    ``settings.ocr_page_timeout`` seconds or raises :class:`OcrTimeout`."""
    from ocr.page import Deadline, recognize_raster
    from ocr.rasterize import rasterize

    path, workdir = Path(path), Path(workdir)
    engine = engine or default_engine(settings)
    deadline = Deadline(settings.ocr_page_timeout)
    kind = read_kind(path)
    facts = pdftools.page_facts(path, number, want_text=not settings.ocr_force) if (
        kind == "pdf") else None
    raster = rasterize(path, kind, number, workdir, settings, deadline.left("rendering"), facts)
    if facts and facts.text:
        return _text_layer_page(path, number, raster, facts.text, settings, deadline)
    return recognize_raster(raster, number, settings, engine, deadline)


def _text_layer_page(path: Path, number: int, raster: Raster, text: str, settings: Settings,
                     deadline: Deadline) -> PageResult:
    from ocr.textlayer import text_layer_words
    from ocr.thumbnails import page_images

    pdf = pdftools.extract_page(path, number, raster.path.with_suffix(".pdf"))
    words = text_layer_words(path, number, raster.dpi, deadline.left("word boxes"))
    return PageResult(
        number=number, text=text, words=words, confidence=None, width=raster.width,
        height=raster.height, dpi=raster.dpi, rotation=0, skew=0.0, source="text-layer",
        blank=False, images=page_images(raster.image, raster.path, settings.page_image_format),
        pdf_path=pdf,
    )


def merge_pdfs(pdfs: Sequence[Path], out: Path) -> Path:
    """The one-page PDFs, in order, as one PDF at ``out`` (written atomically)."""
    return pdftools.merge([Path(p) for p in pdfs], Path(out))


def default_engine(settings: Settings) -> OcrEngine:
    """The engine ``settings.ocr_engine`` names (``OMP_THREAD_LIMIT=1`` either way), one
    per process: the in-process engine keeps its model loaded between pages."""
    return _engine(settings.ocr_engine, settings.ocr_tessdata)


def warm_engine(settings: Settings) -> None:
    """Load the default engine's model for ``settings.ocr_language`` now (a worker's pool
    process as it starts), not in that process's first page. Never raises: an engine
    that cannot load it is left for the first page to report, with its reason on the
    page, and the process starts all the same (it runs other tasks too)."""
    try:
        default_engine(settings).warm(settings.ocr_language)
    except Exception as exc:  # noqa: BLE001 - a pool process that fails to start is worse
        log.warning("the OCR engine could not load its model ahead of the first page: %s",
                    exc, extra={"code": type(exc).__name__})


@lru_cache(maxsize=4)
def _engine(name: str, tessdata: Path | None) -> OcrEngine:
    if name == "tesserocr":
        from ocr.tesserocr_engine import TesserocrEngine

        return TesserocrEngine(tessdata)
    from ocr.tesseract import TesseractEngine

    return TesseractEngine()
