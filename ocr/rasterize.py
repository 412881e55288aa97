"""One page of a source file as a grayscale image, in memory, ready for clean-up.

A PDF page that is one full-page scan at the OCR resolution is not rendered:
its image is taken out as stored (:mod:`ocr.scan`). Other PDF pages are
rendered by poppler (pdf2image) one at a time to an uncompressed PGM file (PNG
encoding in poppler costs more than the render), never the whole document in
memory. TIFF frames (CCITT G4 included), PNG and
JPEG are decoded with Pillow. Oversized pages are rendered at a lower
resolution instead of exhausting memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pdf2image import convert_from_path
from pdf2image.exceptions import PDFPageCountError, PDFPopplerTimeoutError, PDFSyntaxError
from PIL import Image, ImageOps

from chartvault.settings import Settings
from ocr.interface import OcrTimeout, UnreadableFile
from ocr.pdf import PageFacts, page_facts
from ocr.scan import page_image
from ocr.sniff import check_pixels, open_image

# Pixels per rendered page above which the resolution is lowered: 11 x 17 in at 300 dpi.
RENDER_PIXEL_CAP = 17_000_000
MIN_DPI = 70  # below this a DPI tag is taken as wrong


@dataclass(frozen=True)
class Raster:
    path: Path  # the page's files in the work dir are named after this (``page-NNNN``)
    image: Image.Image = field(compare=False, repr=False)  # mode "L"
    dpi: int
    bilevel: bool = False  # the source is black and white (fax, G4): OCR a 1-bit copy
    jpeg: Path | None = None  # the page's JPEG as stored in its PDF: the engine reads it as is
    original: tuple[Path, int] | None = None  # (PDF, page) this image fills, as it was scanned

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


def rasterize(source: Path, kind: str, number: int, workdir: Path, settings: Settings,
              timeout: int, facts: PageFacts | None = None) -> Raster:
    """Page ``number`` (1-based) of ``source``; its files go to ``workdir/page-NNNN.*``.

    ``facts`` about a PDF page saves parsing it again (see :func:`ocr.pdf.page_facts`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"page-{number:04d}"
    if kind == "pdf":
        facts = facts or page_facts(source, number, want_text=False)
        return _render_pdf(source, number, out, facts, settings, timeout)
    return _decode_image(source, kind, number, out, settings)


def render_dpi(width_in: float, height_in: float, dpi: int, cap: int = RENDER_PIXEL_CAP) -> int:
    """``dpi``, lowered so the page stays under ``cap`` pixels."""
    area = max(width_in * height_in, 1e-6)
    if area * dpi * dpi <= cap:
        return dpi
    return max(1, int(math.sqrt(cap / area)))


def _render_pdf(source: Path, number: int, out: Path, facts: PageFacts, settings: Settings,
                timeout: int) -> Raster:
    dpi = render_dpi(facts.width_in, facts.height_in, settings.ocr_dpi)
    scan = page_image(source, number, dpi)
    if scan is not None:
        jpeg = out.with_suffix(".jpg") if scan.jpeg is not None else None
        if jpeg is not None:
            jpeg.write_bytes(scan.jpeg)
        return Raster(out, scan.image, dpi, bilevel=scan.bilevel, jpeg=jpeg,
                      original=(source, number))
    try:
        paths = convert_from_path(
            source, dpi=dpi, first_page=number, last_page=number, grayscale=True,
            fmt="ppm", output_folder=out.parent, output_file=f"render-{number:04d}",
            paths_only=True, timeout=timeout, thread_count=1,
        )
    except PDFPopplerTimeoutError as e:
        raise OcrTimeout(f"rendering page {number} of {source.name} took over {timeout} s") from e
    except (PDFPageCountError, PDFSyntaxError, OSError, ValueError) as e:
        raise UnreadableFile(f"{source.name}: page {number} cannot be rendered ({e})",
                             code="corrupt_pdf") from e
    if not paths:
        raise UnreadableFile(f"{source.name}: poppler rendered nothing for page {number}",
                             code="corrupt_pdf")
    rendered = Path(paths[0])
    try:
        with open_image(rendered) as im:
            image = im.convert("L")
    finally:
        rendered.unlink(missing_ok=True)
    return Raster(out, image, dpi, bilevel=facts.bilevel)


def _decode_image(source: Path, kind: str, number: int, out: Path,
                  settings: Settings) -> Raster:
    with open_image(source) as im:
        try:
            if number > 1 and kind != "tiff":
                raise EOFError
            im.seek(number - 1)
        except EOFError as e:
            raise UnreadableFile(f"{source.name} has no page {number}", code="no_such_page") from e
        check_pixels(source.name, *im.size, settings, len(im.getbands()))
        dpi = _image_dpi(im)
        bilevel = _is_bilevel(im)
        try:
            gray = _to_gray(im)
        except (OSError, ValueError, SyntaxError) as e:
            code = "truncated_image" if "truncated" in str(e).lower() else "corrupt_image"
            raise UnreadableFile(f"{source.name}: page {number} cannot be decoded ({e})",
                                 code=code) from e
    gray, dpi = _shrink(gray, dpi)
    return Raster(out, gray, dpi or assumed_dpi(*gray.size), bilevel=bilevel)


def assumed_dpi(width: int, height: int) -> int:
    """For an image without a believable DPI tag: the resolution at which its short side
    is 8.5 in (US letter). Tesseract would otherwise take 70 dpi, making the searchable
    PDF page two or three times too large; the text it reads is the same (measured)."""
    return max(MIN_DPI, min(1200, round(min(width, height) / 8.5)))


def _is_bilevel(im: Image.Image) -> bool:
    """1-bit images, and palette images of two colours (as many scanners write)."""
    if im.mode == "1":
        return True
    palette = im.getpalette() if im.mode == "P" else None
    return palette is not None and len(palette) <= 6


def _to_gray(im: Image.Image) -> Image.Image:
    im.load()
    im = ImageOps.exif_transpose(im) or im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        background = Image.new("RGBA", im.size, "white")
        im = Image.alpha_composite(background, im.convert("RGBA"))
    if im.mode.startswith(("I", "F")):
        return _wide_to_gray(im)
    return im.convert("L")


def _wide_to_gray(im: Image.Image) -> Image.Image:
    """16-bit (and 32-bit) grayscale scaled down; Pillow's own conversion clips at 255,
    which turns a 16-bit scan white."""
    pixels = np.asarray(im.convert("I") if im.mode.startswith("I;16") else im,
                        dtype=np.float64)
    top = max(float(pixels.max()), 1.0)
    scale = 255.0 / (65535.0 if top > 255 else 255.0)
    return Image.fromarray(np.clip(pixels * scale, 0, 255).astype(np.uint8))


def _image_dpi(im: Image.Image) -> int:
    dpi = im.info.get("dpi")
    try:
        x = round(float(dpi[0])) if dpi else 0
    except (TypeError, ValueError, IndexError):
        return 0
    return x if x >= MIN_DPI else 0


def _shrink(gray: Image.Image, dpi: int) -> tuple[Image.Image, int]:
    pixels = gray.width * gray.height
    if pixels <= RENDER_PIXEL_CAP:
        return gray, dpi
    scale = math.sqrt(RENDER_PIXEL_CAP / pixels)
    size = (max(1, int(gray.width * scale)), max(1, int(gray.height * scale)))
    return gray.resize(size, Image.Resampling.LANCZOS), int(dpi * scale)
