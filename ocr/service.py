"""What the rest of Chartvault calls: inspect a file, OCR one page, thumbnails, merge.

Every function is idempotent for the same inputs and work dir. Bad input
raises :class:`~ocr.interface.UnreadableFile` with a specific ``code``; engine
trouble raises :class:`~ocr.interface.OcrFailed` or
:class:`~ocr.interface.OcrTimeout`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, features

from chartvault.settings import Settings
from ocr import pdf as pdftools
from ocr.interface import OcrEngine, PageResult, SourceInfo
from ocr.page import Deadline, recognize_raster
from ocr.rasterize import Raster, rasterize
from ocr.sniff import inspect_file, open_image, read_kind
from ocr.textlayer import text_layer_words

THUMBNAIL_WIDTHS = {"small": 200, "large": 1000}


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
    path, workdir = Path(path), Path(workdir)
    engine = engine or default_engine(settings)
    deadline = Deadline(settings.ocr_page_timeout)
    kind = read_kind(path)
    facts = pdftools.page_facts(path, number, want_text=not settings.ocr_force) if (
        kind == "pdf") else None
    raster = rasterize(path, kind, number, workdir, settings, deadline.left("rendering"), facts)
    if facts and facts.text:
        return _text_layer_page(path, number, raster, facts.text, deadline)
    return recognize_raster(raster, number, settings, engine, deadline)


def _text_layer_page(path: Path, number: int, raster: Raster, text: str,
                     deadline: Deadline) -> PageResult:
    pdf = pdftools.extract_page(path, number, raster.path.with_suffix(".pdf"))
    raster.save_png()
    words = text_layer_words(path, number, raster.dpi, deadline.left("word boxes"))
    return PageResult(
        number=number, text=text, words=words, confidence=None, width=raster.width,
        height=raster.height, dpi=raster.dpi, rotation=0, skew=0.0, source="text-layer",
        blank=False, image_path=raster.path, pdf_path=pdf,
    )


def make_thumbnails(image: Path, workdir: Path) -> dict[str, Path]:
    """``{"small": ..., "large": ...}``: WebP (PNG if Pillow lacks WebP) at 200 and
    1000 px wide, never enlarged. Overwrites earlier thumbnails of the same image."""
    image, workdir = Path(image), Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    fmt, suffix = ("WEBP", ".webp") if features.check("webp") else ("PNG", ".png")
    options = {"quality": 80, "method": 0} if fmt == "WEBP" else {}  # method 0: fastest
    out: dict[str, Path] = {}
    with open_image(image) as im:
        im.load()
        page = im.convert("L") if im.mode not in ("L", "RGB") else im.copy()
    # Each size from the next larger one, with a box reduction before the filter
    # (reducing_gap): a third of the CPU of filtering the full page twice, same look.
    for name, width in sorted(THUMBNAIL_WIDTHS.items(), key=lambda item: -item[1]):
        page.thumbnail((width, width * 100), Image.Resampling.LANCZOS, reducing_gap=2.0)
        target = workdir / f"{image.stem}-{name}{suffix}"
        page.save(target, fmt, **options)
        out[name] = target
    return out


def merge_pdfs(pdfs: Sequence[Path], out: Path) -> Path:
    """The one-page PDFs, in order, as one PDF at ``out`` (written atomically)."""
    return pdftools.merge([Path(p) for p in pdfs], Path(out))


def default_engine(settings: Settings) -> OcrEngine:
    """The Tesseract engine (``OMP_THREAD_LIMIT=1``)."""
    from ocr.tesseract import TesseractEngine

    return TesseractEngine()
