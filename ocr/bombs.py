"""How many bytes a file's pages decode to, known before anything is decoded.

A few hundred kilobytes of PDF can decode to gigabytes: one Flate content stream of
zeros that every page shares, an image XObject declaring 100,000 x 100,000 pixels
behind a JBIG2 or CCITT stream of a few bytes, an image file whose header promises
more pixels than a worker has memory for. Intake refuses such a file in milliseconds
with ``decompression_bomb`` (``CHARTVAULT_MAX_PAGE_DECODED_MB`` a page,
``CHARTVAULT_MAX_DOCUMENT_DECODED_MB`` the file), before the separator search or OCR
render a page of it, so it never holds a web request or pushes a worker over its
memory cap.

Images count what their dictionaries declare (width x height x components x bits):
that is what poppler and Pillow allocate, whatever the filter (Flate, JBIG2, CCITT,
DCT). Content streams are inflated here, through zlib with a ceiling, never into
memory whole; a stream shared by many pages is inflated once and counted on each page
that draws it. pikepdf's errors never leave this module.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from chartvault.settings import Settings
from ocr.interface import UnreadableFile

MB = 1024 * 1024
CHUNK = 1 << 16
MAX_FORM_DEPTH = 8  # Form XObjects inside Form XObjects
_COMPONENTS = {"/DeviceGray": 1, "/CalGray": 1, "/DeviceRGB": 3, "/CalRGB": 3, "/Lab": 3,
               "/DeviceCMYK": 4, "/Indexed": 1, "/Separation": 1, "/Pattern": 1}


def image_decoded_bytes(width: int, height: int, bands: int) -> int:
    """What Pillow holds for one decoded frame (a 1-bit image takes a byte a pixel)."""
    return width * height * max(1, bands)


def check_image_frame(name: str, width: int, height: int, bands: int,
                      settings: Settings) -> None:
    """UnreadableFile decompression_bomb when one frame decodes to more than a page may."""
    size = image_decoded_bytes(width, height, bands)
    if size > settings.max_page_decoded_mb * MB:
        raise _bomb(name, f"its {width} x {height} px image decodes to {size / MB:,.0f} MB",
                    "page", settings.max_page_decoded_mb)


def check_pdf_decoded(path: Path, name: str, settings: Settings) -> None:
    """UnreadableFile decompression_bomb when a page, or the whole file, decodes to more
    than its limit; corrupt_pdf when the structure cannot be read to tell."""
    import pikepdf

    budget = _Budget(settings.max_page_decoded_mb * MB)
    total = 0
    try:
        with pikepdf.open(path) as pdf:
            for number, page in enumerate(pdf.pages, start=1):
                size = budget.page(page)
                if size > budget.page_limit:
                    raise _bomb(name, f"page {number} decodes to at least "
                                f"{size / MB:,.0f} MB", "page", settings.max_page_decoded_mb)
                total += size
                if total > settings.max_document_decoded_mb * MB:
                    raise _bomb(name, f"its pages up to page {number} decode to "
                                f"{total / MB:,.0f} MB", "document",
                                settings.max_document_decoded_mb)
    except UnreadableFile:
        raise
    except Exception as exc:  # noqa: BLE001 - qpdf and zlib raise several types
        raise UnreadableFile(f"{name}: its pages cannot be measured before decoding "
                             f"({type(exc).__name__}); re-export or rescan it",
                             code="corrupt_pdf") from exc


def _bomb(name: str, what: str, scope: str, limit_mb: int) -> UnreadableFile:
    setting = "PAGE" if scope == "page" else "DOCUMENT"
    return UnreadableFile(
        f"{name}: {what}, over the {limit_mb:,} MB a {scope} may decode to "
        f"(CHARTVAULT_MAX_{setting}_DECODED_MB): a decompression bomb, or a scan far larger "
        "than any chart page; it is not archived", code="decompression_bomb")


@dataclass
class _Budget:
    """Decoded sizes of one file's objects, each measured once (shared streams)."""

    page_limit: int
    streams: dict[tuple[int, int], int] = field(default_factory=dict)

    def page(self, page: object) -> int:
        size = sum(self._stream(s) for s in _streams(page.obj.get("/Contents")))
        return size + self._resources(page.resources, 0, set())  # inherited ones too

    def _resources(self, resources: object, depth: int, seen: set) -> int:
        import pikepdf

        if not isinstance(resources, pikepdf.Dictionary) or depth > MAX_FORM_DEPTH:
            return 0
        xobjects = resources.get("/XObject")
        if not isinstance(xobjects, pikepdf.Dictionary):
            return 0
        size = 0
        for key in list(xobjects.keys()):
            xobject = xobjects[key]
            ident = xobject.objgen if xobject.is_indirect else None
            if ident in seen or not isinstance(xobject, pikepdf.Stream):
                continue
            if ident:
                seen.add(ident)
            subtype = xobject.get("/Subtype")
            if subtype == "/Image":
                size += _image_bytes(xobject)
            elif subtype == "/Form":
                size += self._stream(xobject)
                size += self._resources(xobject.get("/Resources"), depth + 1, seen)
            if size > self.page_limit:
                break
        return size

    def _stream(self, stream: object) -> int:
        ident = stream.objgen if stream.is_indirect else None
        if ident in self.streams:
            return self.streams[ident]
        size = _inflated_size(stream, self.page_limit + 1)
        if ident:
            self.streams[ident] = size
        return size


def _streams(contents: object) -> list:
    import pikepdf

    if isinstance(contents, pikepdf.Stream):
        return [contents]
    if isinstance(contents, pikepdf.Array):
        return [c for c in contents if isinstance(c, pikepdf.Stream)]
    return []


def _inflated_size(stream: object, ceiling: int) -> int:
    """The decoded length of a content stream, counted up to ``ceiling`` (then stopped)."""
    import pikepdf

    filters = stream.get("/Filter")
    names = ([str(f) for f in filters] if isinstance(filters, pikepdf.Array)
             else [] if filters is None else [str(filters)])
    raw = stream.read_raw_bytes()
    if not names:
        return len(raw)
    if names == ["/FlateDecode"]:
        return _inflate_count(raw, ceiling)
    # another chain (LZW, ASCII85 + Flate...): qpdf decodes it; these are rare in scans
    # and bounded by the file size limit times the filters' own ratio
    return len(stream.read_bytes())


def _inflate_count(raw: bytes, ceiling: int) -> int:
    inflater = zlib.decompressobj()
    counted, data = 0, raw
    while data and counted <= ceiling:
        counted += len(inflater.decompress(data, CHUNK))
        data = inflater.unconsumed_tail
        if not data and not inflater.eof:
            counted += len(inflater.flush())
            break
    return counted


def _image_bytes(image: object) -> int:
    import pikepdf

    width, height = int(image.get("/Width", 0)), int(image.get("/Height", 0))
    if image.get("/ImageMask") is True:
        bits, components = 1, 1
    else:
        bits = int(image.get("/BitsPerComponent", 8))
        components = _components(image.get("/ColorSpace"))
    size = height * math.ceil(width * components * max(1, bits) / 8)
    # what a renderer holds for it: at least a byte a pixel, a byte a component
    size = max(size, width * height * components)
    mask = image.get("/SMask")
    if isinstance(mask, pikepdf.Stream):
        size += int(mask.get("/Width", 0)) * int(mask.get("/Height", 0))
    return size


def _components(space: object) -> int:
    import pikepdf

    if isinstance(space, pikepdf.Array) and len(space):
        family = str(space[0])
        if family == "/ICCBased":
            return int(space[1].get("/N", 3))
        if family == "/DeviceN":
            return len(space[1])
        return _COMPONENTS.get(family, 3)
    return _COMPONENTS.get(str(space), 3) if space is not None else 1
