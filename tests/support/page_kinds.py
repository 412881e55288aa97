"""Page kinds for the blank check: what scanners, faxes and phones write.

Each :class:`PageKind` is one page image and how a scanner would store it (a 1-bit
CCITT G4 TIFF, a grayscale PNG, a colour JPEG), with ``blank`` saying what it is:
True for empty paper (white, shaded, dusty, noisy), False for a page with words on it.
Text kinds: bi-level at 100/200/300/600 dpi in sizes from a 300 px label to a full
page, gray, colour, faint, negative, noisy, and mostly white forms with a few words.

    kinds = page_kinds()              # every kind
    path = kind.write(folder)         # the file as a scanner would leave it
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from chartvault.synthetic import FONT_REGULAR, ChartSpec, _noisy, render_page

BILEVEL_DPIS = (100, 200, 300, 600)
# (name, width px, height px): a label, a receipt strip, a cropped snippet (Tesseract's
# phototest.tif is 640x480), half a page; None: the whole page
SIZES = (("label 300x120", 300, 120), ("receipt 380x600", 380, 600),
         ("snippet 640x480", 640, 480), ("half page", None, 0.5), ("page", None, None))
FORM_WORDS = ("Signed: R. Okafor", "Refused", "VOID", "Page 2 of 2")


@dataclass(frozen=True)
class PageKind:
    name: str
    image: Image.Image
    dpi: int
    fmt: str  # "tiff-g4", "png" or "jpeg"
    blank: bool

    @property
    def kind(self) -> str:
        """The content kind intake sniffs (``ocr.rasterize`` takes it)."""
        return {"tiff-g4": "tiff", "png": "png", "jpeg": "jpeg"}[self.fmt]

    def write(self, folder: Path) -> Path:
        suffix = {"tiff-g4": ".tif", "png": ".png", "jpeg": ".jpg"}[self.fmt]
        path = Path(folder) / (self.name.replace(" ", "_").replace("/", "-") + suffix)
        if self.fmt == "tiff-g4":
            self.image.convert("1").save(path, "TIFF", compression="group4",
                                         dpi=(self.dpi, self.dpi))
        elif self.fmt == "jpeg":
            self.image.save(path, "JPEG", quality=85, dpi=(self.dpi, self.dpi))
        else:
            self.image.save(path, "PNG", dpi=(self.dpi, self.dpi))
        return path


@lru_cache(maxsize=8)
def text_page(dpi: int) -> Image.Image:
    """A chart page of body text, grayscale, at ``dpi``."""
    spec = ChartSpec(mrn="TST000021", patient_name="DEMOCASE, Bruno K.",
                     date_of_birth=date(1970, 1, 1), doc_type="Consultation",
                     service_date=date(2023, 3, 3), paragraphs=4, seed=21)
    return render_page(spec, 1, dpi)[0]


def bilevel(image: Image.Image) -> Image.Image:
    """Thresholded at mid-gray, as a fax or a bi-level scanner does (mode "1")."""
    return image.convert("L").point(lambda v: 255 if v >= 128 else 0).convert("1")


def crop(page: Image.Image, dpi: int, width: int | None, height: float | int | None
         ) -> Image.Image:
    """A piece of ``page`` from just inside its margin: a label or snippet of text."""
    if width is None and height is None:
        return page
    if width is None:
        return page.crop((0, 0, page.width, int(page.height * float(height))))
    left = top = round(0.8 * dpi)
    return page.crop((left, top, left + width, top + int(height)))


def form_page(dpi: int, words: str, points: int = 11) -> Image.Image:
    """Letter-size white paper with one short line of words on it, low on the page."""
    page = Image.new("L", (round(8.5 * dpi), round(11 * dpi)), 255)
    font = ImageFont.truetype(str(FONT_REGULAR), round(points * dpi / 72))
    ImageDraw.Draw(page).text((round(4.5 * dpi), round(9.2 * dpi)), words, fill=0, font=font)
    return page


def _fade(image: Image.Image, factor: int) -> Image.Image:
    return image.convert("L").point(lambda v: 255 - (255 - v) // factor)


def _colour(image: Image.Image) -> Image.Image:
    """Blue ink on cream paper."""
    return ImageOps.colorize(image.convert("L"), black=(20, 40, 140), white=(250, 244, 222))


def _shaded(width: int, height: int, light: int = 250, dark: int = 215) -> Image.Image:
    return Image.fromarray(np.tile(np.linspace(light, dark, width).astype(np.uint8),
                                   (height, 1)))


def _dusty(width: int, height: int, seed: int = 7) -> Image.Image:
    page = Image.new("L", (width, height), 255)
    rng = random.Random(seed)
    for _ in range(width * height // 20_000):
        page.putpixel((rng.randrange(width), rng.randrange(height)), 0)
    return page


def text_kinds() -> list[PageKind]:
    kinds = []
    for dpi in BILEVEL_DPIS:
        for size, width, height in SIZES:
            if dpi == 600 and size == "half page":
                continue  # the page at 600 dpi covers it
            image = bilevel(crop(text_page(dpi), dpi, width, height))
            kinds.append(PageKind(f"bi-level {dpi} dpi {size}", image, dpi, "tiff-g4", False))
    page, dpi = text_page(300), 300
    label = crop(page, dpi, 640, 480)
    for name, image in (("gray", page), ("gray snippet", label), ("faint 213", _fade(page, 6)),
                        ("faint 234", _fade(page, 12)), ("faint snippet", _fade(label, 6)),
                        ("negative", ImageOps.invert(page)),
                        ("negative snippet", ImageOps.invert(label)),
                        ("noisy", _noisy(page, random.Random(3))),
                        ("noisy snippet", _noisy(label, random.Random(4)))):
        kinds.append(PageKind(f"{name} 300 dpi", image, dpi, "png", False))
    kinds.append(PageKind("colour 300 dpi", _colour(page), dpi, "jpeg", False))
    kinds.append(PageKind("colour snippet 300 dpi", _colour(label), dpi, "jpeg", False))
    for dpi in (100, 200, 300):
        for words in FORM_WORDS:
            form = form_page(dpi, words)
            kinds.append(PageKind(f"form '{words}' {dpi} dpi", form, dpi, "png", False))
            kinds.append(PageKind(f"form '{words}' {dpi} dpi bi-level", bilevel(form), dpi,
                                  "tiff-g4", False))
        form = form_page(dpi, "OK", points=8)
        kinds.append(PageKind(f"form 'OK' 8 pt {dpi} dpi bi-level", bilevel(form), dpi,
                              "tiff-g4", False))
    return kinds


def blank_kinds() -> list[PageKind]:
    kinds = []
    for dpi in (100, 200, 300):
        width, height = round(8.5 * dpi), round(11 * dpi)
        kinds += [
            PageKind(f"white {dpi} dpi", Image.new("L", (width, height), 255), dpi, "png", True),
            PageKind(f"white {dpi} dpi bi-level", Image.new("1", (width, height), 1), dpi,
                     "tiff-g4", True),
            PageKind(f"shaded {dpi} dpi", _shaded(width, height), dpi, "png", True),
            PageKind(f"dusty {dpi} dpi", _dusty(width, height), dpi, "png", True),
            PageKind(f"dusty {dpi} dpi bi-level", bilevel(_dusty(width, height)), dpi,
                     "tiff-g4", True),
            PageKind(f"noisy white {dpi} dpi",
                     _noisy(Image.new("L", (width, height), 255), random.Random(dpi)), dpi,
                     "png", True),
            PageKind(f"noisy gray {dpi} dpi",
                     _noisy(Image.new("L", (width, height), 225), random.Random(dpi + 1)),
                     dpi, "png", True),
        ]
    kinds.append(PageKind("white label 300x120", Image.new("1", (300, 120), 1), 200,
                          "tiff-g4", True))
    kinds.append(PageKind("dusty snippet 640x480", bilevel(_dusty(640, 480, seed=3)), 200,
                          "tiff-g4", True))
    return kinds


def page_kinds() -> list[PageKind]:
    return text_kinds() + blank_kinds()
