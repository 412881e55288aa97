"""One rasterised page through clean-up and the engine, to a :class:`PageResult`.

The order keeps the common case to a single engine run: a blank check, a
small-angle deskew, a cheap sideways check and a cheap upside-down check
(ascenders against descenders) first; the engine's orientation detection (OSD)
only when the page looks turned, or when recognition comes back doubtful on a
page that was not clearly upright (an upside-down page reads as garbage).

A page taken out of a scanned PDF as stored (see :mod:`ocr.scan`) and needing
no correction goes to the engine as those very bytes, and its searchable page
is the original page with a text-only layer over it. A corrected page (turned,
deskewed) is written out for the engine, which makes the searchable page from
the corrected image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from chartvault.settings import Settings
from ocr import cleanup
from ocr.interface import OcrEngine, OcrTimeout, PageResult, Recognition
from ocr.rasterize import Raster
from ocr.scan import graft_text
from ocr.thumbnails import page_images

MIN_OSD_CONFIDENCE = 1.5  # below this Tesseract's OSD is guessing
OSD_HALVE_FROM = 3000  # px on the long side (a letter page at 275 dpi)


class Deadline:
    """The per-page time budget shared by every step of one page."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self, what: str) -> int:
        """Whole seconds left (at least 1); raises :class:`OcrTimeout` when spent."""
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise OcrTimeout(f"page ran out of its {self.seconds} s budget before {what} "
                             "(CHARTVAULT_OCR_PAGE_TIMEOUT)")
        return max(1, int(remaining))


@dataclass
class _Page:
    image: Image.Image
    rotation: int = 0
    skew: float = 0.0
    asked: bool = False  # the engine's orientation detection has had its say


def recognize_raster(raster: Raster, number: int, settings: Settings, engine: OcrEngine,
                     deadline: Deadline) -> PageResult:
    """Clean up, orient, OCR. Raises OcrFailed / OcrTimeout from the engine."""
    page = _Page(raster.image)
    try:
        return _recognize_page(page, raster, number, settings, engine, deadline)
    finally:
        _written_input(raster).unlink(missing_ok=True)


def _recognize_page(page: _Page, raster: Raster, number: int, settings: Settings,
                    engine: OcrEngine, deadline: Deadline) -> PageResult:
    mask = cleanup.probe(page.image)
    if cleanup.is_blank(mask):
        return _blank_result(raster, number, page, settings)
    upright = 0.0
    if cleanup.looks_sideways(_level(page, mask)):
        _turn(page, engine, raster, deadline)
    else:
        upright = cleanup.upright_score(page.image)
        if upright < cleanup.UPSIDE_DOWN:
            _turn(page, engine, raster, deadline)
    rec = _recognize(engine, page, raster, settings, deadline)
    if not page.asked and upright <= cleanup.CLEARLY_UPRIGHT and _doubtful(rec, settings):
        rec = _retry_upside_down(page, rec, engine, raster, settings, deadline)
    return _result(raster, number, page, rec, settings)


def _level(page: _Page, mask: np.ndarray) -> np.ndarray:
    """Deskew the page if it needs it; the probe mask of the result."""
    skew = cleanup.skew_angle(mask)
    if not skew:
        return mask
    page.image = cleanup.deskew(page.image, skew)
    page.skew = round(page.skew + skew, 1)
    return cleanup.probe(page.image)


def _turn(page: _Page, engine: OcrEngine, raster: Raster, deadline: Deadline) -> bool:
    """Ask the engine which way is up; turn the page if it is sure. True if turned."""
    probe = raster.path.with_suffix(".osd.pgm")
    page.asked = True
    try:
        _half_size(page.image).save(probe, "PPM")
        found = engine.orientation(probe, timeout=deadline.left("orientation"))
    finally:
        probe.unlink(missing_ok=True)
    if found.rotate % 360 == 0 or found.confidence < MIN_OSD_CONFIDENCE:
        return False
    page.image = cleanup.rotate_upright(page.image, found.rotate)
    page.rotation = (page.rotation + found.rotate) % 360
    _level(page, cleanup.probe(page.image))
    return True


def _retry_upside_down(page: _Page, rec: Recognition, engine: OcrEngine, raster: Raster,
                       settings: Settings, deadline: Deadline) -> Recognition:
    """A doubtful read may be a page upside down: check, and keep the better reading."""
    before = (page.image, page.skew)
    if not _turn(page, engine, raster, deadline):
        return rec
    again = _recognize(engine, page, raster, settings, deadline)
    if (again.confidence or 0) > (rec.confidence or 0):
        return again
    page.image, page.skew, page.rotation = before[0], before[1], 0
    return rec


def _half_size(image: Image.Image) -> Image.Image:
    """Big pages at half size: orientation detection is as sure and ~35% faster (measured);
    small ones (under OSD_HALVE_FROM px) as they are, or it loses its way."""
    if max(image.size) < OSD_HALVE_FROM:
        return image
    return image.reduce(2)


def _doubtful(rec: Recognition, settings: Settings) -> bool:
    return rec.confidence is None or rec.confidence < settings.ocr_confidence_threshold


def _recognize(engine: OcrEngine, page: _Page, raster: Raster, settings: Settings,
               deadline: Deadline) -> Recognition:
    """One engine run on the page as it now is; text only when the original PDF page
    will carry the text (the page was scanned upright and straight)."""
    graft = _as_scanned(page, raster) and raster.original is not None
    return engine.recognize(_engine_input(page, raster), language=settings.ocr_language,
                            dpi=raster.dpi, timeout=deadline.left("recognition"),
                            text_only=graft)


def _as_scanned(page: _Page, raster: Raster) -> bool:
    return page.image is raster.image


def _engine_input(page: _Page, raster: Raster) -> Path:
    """The file the engine reads: the stored JPEG when the page is as scanned, else the
    page written out. Uncompressed PGM is far cheaper for Tesseract to read than PNG
    (measured ~0.5 s a page). A black-and-white source goes in as 1-bit: Tesseract then
    embeds it in the PDF as CCITT G4 instead of JPEG (0.1 MB instead of 1.2 MB a page)."""
    if raster.jpeg is not None and _as_scanned(page, raster):
        return raster.jpeg
    path = _written_input(raster)
    image = page.image.convert("1", dither=Image.Dither.NONE) if raster.bilevel else page.image
    image.save(path, "PPM")
    return path


def _written_input(raster: Raster) -> Path:
    return raster.path.with_suffix(".pbm" if raster.bilevel else ".pgm")


def _pdf_path(raster: Raster) -> Path:
    return raster.path.with_suffix(".pdf")


def _blank_result(raster: Raster, number: int, page: _Page, settings: Settings
                  ) -> PageResult:
    pdf = _pdf_path(raster)
    page.image.save(pdf, "PDF", resolution=float(raster.dpi or 300))
    rec = Recognition(text="", words=(), confidence=None, pdf=b"")
    return replace(_result(raster, number, page, rec, settings), blank=True)


def _result(raster: Raster, number: int, page: _Page, rec: Recognition, settings: Settings
            ) -> PageResult:
    pdf = _pdf_path(raster)
    if rec.pdf and rec.text_only and raster.original is not None:
        graft_text(*raster.original, rec.pdf, pdf)
    elif rec.pdf:
        pdf.write_bytes(rec.pdf)
    return PageResult(
        number=number, text=rec.text, words=rec.words, confidence=rec.confidence,
        width=page.image.width, height=page.image.height, dpi=raster.dpi,
        rotation=page.rotation, skew=page.skew, source="ocr", blank=False,
        images=page_images(page.image, raster.path, settings.page_image_format),
        pdf_path=pdf,
    )
