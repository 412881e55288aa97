"""Scanned PDF pages that are one full-page image, through pikepdf.

Most scanner PDFs draw exactly one image over the whole page. For those the
page is not rendered: the image is taken out of the PDF as stored (pikepdf,
the library OCRmyPDF uses for the same job) and Tesseract reads those pixels,
and the searchable page is the ORIGINAL page with Tesseract's text-only layer
laid over it (as OCRmyPDF's sandwich renderer does), so the scan stays as it
was scanned. Anything else (vector content, several images, masks, a /Decode
array, a turned or partial placement, another resolution, an unusual
encoding) returns None and is rendered by poppler as before.

pikepdf's errors never leave this module: an oddity found while looking means
"render it"; a failure while grafting is :class:`UnreadableFile`.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pikepdf
from PIL import Image

from ocr.interface import UnreadableFile

DPI_TOLERANCE = 0.01  # the image's resolution may differ this much from the render's
MAX_PIXELS = 17_000_000  # as the renderer's cap: 11 x 17 in at 300 dpi
PLACEMENT_TOLERANCE = 1.0  # points the image may miss the page edge by
_SIMPLE_OPERATORS = {"q", "Q", "cm", "Do"}
_LOOK_ERRORS = (pikepdf.PikepdfError, ValueError, KeyError,
                TypeError, AttributeError, IndexError, NotImplementedError, OSError,
                ZeroDivisionError, Image.DecompressionBombError, SyntaxError)


@dataclass(frozen=True)
class PageImage:
    image: Image.Image  # decoded, mode "L"
    bilevel: bool  # a 1-bit image (fax, CCITT G4)
    jpeg: bytes | None  # the stored JPEG when Tesseract can read it as is (8-bit gray)


def page_image(source: Path, number: int, dpi: int | None, *,
               longest: int | None = None) -> PageImage | None:
    """Page ``number``'s only image, decoded, when the page is nothing else and the image
    fills it at ``dpi`` (the resolution it would be rendered at; None: at any resolution,
    up to :data:`MAX_PIXELS`); None otherwise.

    ``longest``: a look, not a read. A JPEG is then decoded at 1/2, 1/4 or 1/8 scale
    (libjpeg's DCT scaling, a fraction of a full decode) as long as its long side stays
    at least ``longest``; ``jpeg`` is None when it was so reduced."""
    try:
        with pikepdf.open(source) as pdf:
            page = pdf.pages[number - 1]
            stream = _single_image(page, dpi)
            return _decode(stream, longest) if stream is not None else None
    except _LOOK_ERRORS:
        return None


def _single_image(page: pikepdf.Page, dpi: int | None) -> pikepdf.Stream | None:
    """The image XObject, when the content is ``q [cm] /Im Do Q`` placing it upright over
    the whole page at ``dpi`` pixels per inch."""
    obj = page.obj
    if int(obj.get("/Rotate", 0)) % 360 or float(obj.get("/UserUnit", 1)) != 1:
        return None
    if "/Resources" not in obj or "/MediaBox" not in obj:
        return None  # inherited: rare in scans, and the graft wants the page self-contained
    box = [float(v) for v in page.mediabox]
    if "/CropBox" in obj and [float(v) for v in page.cropbox] != box:
        return None
    names = _drawn(page)
    if names is None or len(names) != 1:
        return None
    name, matrix = names[0]
    xobjects = obj.Resources.get("/XObject")
    image = xobjects.get(name) if xobjects is not None else None
    if image is None or image.get("/Subtype") != "/Image":
        return None
    a, b, c, d, e, f = matrix
    width_pt, height_pt = box[2] - box[0], box[3] - box[1]
    if b or c or a <= 0 or d <= 0:
        return None  # turned, flipped or sheared
    if max(abs(e - box[0]), abs(f - box[1]), abs(a - width_pt), abs(d - height_pt)) > (
            PLACEMENT_TOLERANCE):
        return None  # does not cover the page exactly
    px_w, px_h = int(image.get("/Width", 0)), int(image.get("/Height", 0))
    if not 0 < px_w * px_h <= MAX_PIXELS:
        return None
    for pixels, points in ((px_w, a), (px_h, d)) if dpi else ():
        if abs(pixels * 72 / points - dpi) > dpi * DPI_TOLERANCE:
            return None  # another resolution: rendering resamples, so render
    return image


def _drawn(page: pikepdf.Page) -> list[tuple[pikepdf.Name, list[float]]] | None:
    """(image name, placement matrix) for each ``Do``; None when the content does
    anything but save/restore state, transform and draw XObjects."""
    matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    stack: list[list[float]] = []
    drawn = []
    for operands, operator in pikepdf.parse_content_stream(page):
        op = str(operator)
        if op not in _SIMPLE_OPERATORS:
            return None
        if op == "q":
            stack.append(matrix)
        elif op == "Q":
            matrix = stack.pop() if stack else matrix
        elif op == "cm":
            matrix = _multiply([float(Decimal(str(v))) for v in operands], matrix)
        else:
            drawn.append((operands[0], matrix))
    return drawn


def _multiply(m: list[float], n: list[float]) -> list[float]:
    """``m`` then ``n`` (PDF's row-vector convention: the new CTM is m x CTM)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return [a * a2 + b * c2, a * b2 + b * d2, c * a2 + d * c2, c * b2 + d * d2,
            e * a2 + f * c2 + e2, e * b2 + f * d2 + f2]


def _decode(stream: pikepdf.Stream, longest: int | None) -> PageImage | None:
    """8-bit gray or RGB JPEG, or 1-bit CCITT; no masks, no /Decode; None for the rest."""
    if any(key in stream for key in ("/SMask", "/Mask", "/Decode")) or stream.get(
            "/ImageMask", False):
        return None
    image = pikepdf.PdfImage(stream)
    filters, space, depth = image.filters, stream.get("/ColorSpace"), image.bits_per_component
    if filters == ["/DCTDecode"] and depth == 8 and space in ("/DeviceGray", "/DeviceRGB"):
        return _jpeg(stream.read_raw_bytes(), image.width, image.height, space == "/DeviceGray",
                     longest)
    if filters == ["/CCITTFaxDecode"] and depth == 1 and space in (None, "/DeviceGray"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decoded = image.as_pil_image()
        if decoded.size != (image.width, image.height):
            return None
        return PageImage(decoded.convert("L"), bilevel=True, jpeg=None)
    return None


def _jpeg(data: bytes, width: int, height: int, gray: bool,
          longest: int | None) -> PageImage | None:
    with Image.open(io.BytesIO(data)) as im:
        # The JPEG's own header must agree with the PDF's before a pixel is decoded.
        if im.format != "JPEG" or im.size != (width, height) or im.mode != (
                "L" if gray else "RGB"):
            return None
        if longest:
            # draft() picks the smallest DCT scale that is still at least this size;
            # decoding to "L" skips the colour conversion of an RGB scan too.
            scale = max(1.0, max(width, height) / longest)
            im.draft("L", (math.ceil(width / scale), math.ceil(height / scale)))
        im.load()
        decoded = im if im.mode == "L" else im.convert("L")
        whole = im.size == (width, height)
    return PageImage(decoded, bilevel=False, jpeg=data if gray and whole else None)


def graft_text(source: Path, number: int, text_pdf: bytes, out: Path) -> Path:
    """Page ``number`` of ``source`` as it is, with the one-page text-only PDF
    ``text_pdf`` laid over it (scaled to the page), written atomically to ``out``."""
    tmp = out.with_name(out.name + ".part")
    try:
        with pikepdf.open(source) as original, pikepdf.open(io.BytesIO(text_pdf)) as text:
            page = pikepdf.new()
            page.pages.append(original.pages[number - 1])
            page.pages[0].add_overlay(text.pages[0])
            page.save(tmp)
    except _LOOK_ERRORS as e:
        tmp.unlink(missing_ok=True)
        raise UnreadableFile(f"{source.name}: cannot add the text layer to page {number} ({e})",
                             code="corrupt_pdf") from e
    os.replace(tmp, out)
    return out
