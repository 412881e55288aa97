"""Splitting a scanned stack at its separator sheets.

A PDF page that is one scanned image is taken out as stored (:mod:`ocr.scan`;
a JPEG decoded at reduced scale by libjpeg) and scaled to
``settings.separator_dpi``, as image files are; other pages are rasterised one
small batch at a time (pdftoppm at ``settings.separator_dpi``, grayscale, to a
temp folder), never the whole file in memory. Each page is searched for a
separator barcode; taking pages out and searching them runs on a few threads
(pikepdf, libjpeg and zxing-cpp release the GIL), while the OCR workers still
wait for the stack's first document. A cover sheet
starts a document with its own patient and type; a plain separator sheet
starts a document for the same patient and type as the one before it.
Separator pages themselves are not chart pages: they stay in the archived
stack only. Neither is a blank page right after a separator sheet: the back of
the sheet in a duplex scan.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from PIL import Image

from chartvault.errors import BadInput
from chartvault.settings import Settings
from ingest.barcodes import CoverSheet, Separator, find_separator

log = logging.getLogger(__name__)
_CHUNK = 8  # pages rendered per pdftoppm run, and pages searched ahead of the splitting
_MAX_THREADS = 4  # an intake shares its machine with OCR workers; more buys little


@dataclass
class Segment:
    """Pages of one document-to-be; ``separator_page`` is the sheet that started it."""

    pages: list[int] = field(default_factory=list)
    cover: CoverSheet | None = None
    separator_page: int | None = None
    error: BadInput | None = None  # a cover sheet that could not be read
    skipped: list[int] = field(default_factory=list)  # the blank back of the separator sheet


def find_segments(path: Path, kind: str, page_count: int, settings: Settings,
                  on_page: Callable[[int], None] | None = None) -> list[Segment]:
    """The stack cut at every separator sheet. A file without separators is one
    segment with every page and no cover. Segments may be empty (two sheets in a row)."""
    return list(iter_segments(path, kind, page_count, settings, on_page))


def iter_segments(path: Path, kind: str, page_count: int, settings: Settings,
                  on_page: Callable[[int], None] | None = None) -> Iterator[Segment]:
    """:func:`find_segments` one segment at a time, each as soon as the sheet after it
    is found (the last at the end of the file): a stack's first document can be taken in
    and read while the rest is still searched. The search runs ahead on its threads
    meanwhile, at most _CHUNK pages."""
    current, cut = Segment(), False
    with ThreadPoolExecutor(_threads(), thread_name_prefix="separator-scan") as pool:
        pages = page_images(path, kind, page_count, settings.separator_dpi, pool)
        for number, image, found, error in _searched(
                pages, settings.separator_barcodes, settings.separator_symbologies, pool):
            try:
                after_sheet = current.separator_page == number - 1 and not current.pages
                blank = (after_sheet and image is not None and not found and not error
                         and _blank(image))
            finally:
                if image is not None:
                    image.close()
            if on_page:
                on_page(number)
            if not found and not error:
                if blank:
                    current.skipped.append(number)  # the sheet's blank back (duplex scan)
                else:
                    current.pages.append(number)
                continue
            if current.pages or current.separator_page:
                yield current
                cut = True
            if error:
                current = Segment(separator_page=number, error=error)
            else:
                # A plain sheet continues the patient and type of the cover before it.
                cover = found.cover or current.cover  # type: ignore[union-attr]
                current = Segment(separator_page=number, cover=cover)
    if current.pages or current.separator_page or not cut:
        yield current


def _blank(image: Image.Image) -> bool:
    from ocr.cleanup import is_blank, probe  # numpy: only after a separator sheet

    return is_blank(probe(image))


def _threads() -> int:
    return max(1, min(_MAX_THREADS, len(os.sched_getaffinity(0))))


_Searched = tuple[int, Image.Image | None, Separator | None, BadInput | None]


def _searched(pages: Iterator[tuple[int, Image.Image | None]], values: tuple[str, ...],
              symbologies: tuple[str, ...], pool: Executor) -> Iterator[_Searched]:
    """(number, image, separator, unreadable cover sheet) for each page, in order; the
    searches run on ``pool``, at most _CHUNK pages ahead (bounded memory)."""
    pending: deque[tuple[int, Image.Image | None, Future]] = deque()
    for number, image in pages:
        pending.append((number, image, pool.submit(_search, image, values, symbologies)))
        if len(pending) > _CHUNK:
            yield _result(pending.popleft())
    while pending:
        yield _result(pending.popleft())


def _search(image: Image.Image | None, values: tuple[str, ...], symbologies: tuple[str, ...]
            ) -> tuple[Separator | None, BadInput | None]:
    if image is None:
        return None, None
    try:
        return find_separator(image, values, symbologies), None
    except BadInput as exc:
        return None, exc


def _result(item: tuple[int, Image.Image | None, Future]) -> _Searched:
    number, image, future = item
    return (number, image, *future.result())


def page_images(path: Path, kind: str, page_count: int, dpi: int, pool: Executor | None = None
                ) -> Iterator[tuple[int, Image.Image | None]]:
    """(number, grayscale image or None when the page cannot be rendered), in order, at
    most ``dpi`` (a letter page's long side at it). ``pool`` takes scanned PDF pages out
    in parallel."""
    if kind == "pdf":
        yield from _pdf_pages(path, page_count, dpi, pool.map if pool else map)
    else:
        yield from _image_pages(path, dpi)


def _pdf_pages(path: Path, page_count: int, dpi: int, each: Callable
               ) -> Iterator[tuple[int, Image.Image | None]]:
    # Cap the long side at a letter page's: a hostile media box cannot make a
    # gigapixel raster.
    longest = round(11 * dpi)
    for first in range(1, page_count + 1, _CHUNK):
        last = min(page_count, first + _CHUNK - 1)
        numbers = range(first, last + 1)
        scans = dict(zip(numbers, each(partial(_scan_image, path, longest=longest), numbers),
                         strict=True))
        rendered = _render(path, [n for n, image in scans.items() if image is None], dpi,
                           longest)
        for number in range(first, last + 1):
            yield number, scans[number] or rendered.get(number)


def _scan_image(path: Path, number: int, longest: int) -> Image.Image | None:
    """The page's own scanned image, scaled as image files are (half the cost of a render)."""
    from ocr.scan import page_image

    found = page_image(path, number, None, longest=longest)
    return _shrink(found.image, longest) if found is not None else None


def _shrink(image: Image.Image, longest: int) -> Image.Image:
    """At most ``longest`` pixels on the long side: a whole-factor box reduction first (a
    few ms; 300 to 150 dpi is all of it), a bilinear resample only for what is left."""
    factor = max(image.size) // longest
    if factor >= 2:
        image = image.reduce(factor)
    if max(image.size) > longest:
        image.thumbnail((longest, longest), Image.Resampling.BILINEAR)
    return image


def _render(path: Path, numbers: list[int], dpi: int, longest: int) -> dict[int, Image.Image]:
    """Pages ``numbers`` (one consecutive run at most _CHUNK long) rendered by poppler;
    a page that cannot be rendered is missing (OCR will flag it)."""
    from pdf2image import convert_from_path

    if not numbers:
        return {}
    first, last = min(numbers), max(numbers)
    with tempfile.TemporaryDirectory(prefix="chartvault-split-") as tmp:
        try:
            paths = convert_from_path(path, dpi=dpi, first_page=first, last_page=last,
                                      grayscale=True, output_folder=tmp, paths_only=True,
                                      size=longest, timeout=60 + 10 * _CHUNK)
        except Exception as exc:  # noqa: BLE001 - poppler failures: OCR will flag the pages
            log.warning("separator scan could not render pages", extra={
                "first": first, "last": last, "error": type(exc).__name__})
            return {}
        rendered = sorted(paths)
        if len(rendered) != last - first + 1:
            return {}
        images = {}
        for number, file in zip(range(first, last + 1), rendered, strict=True):
            if number in numbers:
                with Image.open(file) as image:
                    image.load()
                    images[number] = image.copy()
        return images


def _image_pages(path: Path, dpi: int) -> Iterator[tuple[int, Image.Image | None]]:
    from ocr.sniff import open_image

    longest = round(11 * dpi)
    with open_image(path) as im:
        number = 0
        while True:
            number += 1
            try:
                im.seek(number - 1)
                frame = im.convert("L")
            except EOFError:
                return
            except Exception:  # noqa: BLE001 - a damaged frame: OCR will flag it
                yield number, None
                continue
            yield number, _shrink(frame, longest)


def write_pages(path: Path, kind: str, pages: list[int], out: Path) -> Path:
    """The given pages (1-based) of ``path`` as a new file at ``out``: a PDF for a
    PDF source (pages copied, not re-encoded), a multi-page TIFF for an image."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "pdf":
        from pypdf import PdfWriter

        from ocr.pdf import opened

        writer = PdfWriter()
        with opened(path) as reader:
            for number in pages:
                writer.add_page(reader.pages[number - 1])
            with out.open("wb") as f:
                writer.write(f)
        return out
    from PIL import TiffImagePlugin

    from ocr.sniff import open_image

    # Frame by frame through Pillow's appending writer: a long segment of a
    # 300-dpi stack is never all in memory at once.
    with open_image(path) as im, TiffImagePlugin.AppendingTiffWriter(str(out), new=True) as tf:
        for number in pages:
            im.seek(number - 1)
            frame = im.copy()
            options = {"compression": "group4" if frame.mode == "1" else "tiff_lzw"}
            if frame.info.get("dpi"):
                options["dpi"] = frame.info["dpi"]
            frame.save(tf, "TIFF", **options)
            tf.newFrame()
    return out
