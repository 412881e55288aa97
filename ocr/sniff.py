"""What a file really is, from its bytes, and whether it is within limits.

Nothing here rasterises or decodes pixel data: headers, PDF structure and TIFF
strip tables only, so a hostile file costs milliseconds to refuse.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from chartvault.settings import Settings
from ocr.interface import SourceInfo, UnreadableFile
from ocr.tiffcheck import check_tiff_complete

MIMES = {"pdf": "application/pdf", "tiff": "image/tiff", "png": "image/png", "jpeg": "image/jpeg"}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# What Pillow raises for damaged files, beyond its own UnidentifiedImageError.
_PILLOW_ERRORS = (UnidentifiedImageError, SyntaxError, struct.error, OSError, ValueError,
                  TypeError, KeyError, IndexError, EOFError, ZeroDivisionError)


def sniff_kind(head: bytes) -> str | None:
    """``pdf``, ``tiff``, ``png``, ``jpeg`` or None, from the first KiB of a file."""
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if b"%PDF-" in head[:1024]:  # the spec lets junk precede the header
        return "pdf"
    return None


def read_kind(path: Path) -> str:
    """The sniffed kind; raises :class:`UnreadableFile` (empty_file, unsupported_type)."""
    try:
        with path.open("rb") as f:
            head = f.read(1024)
    except OSError as e:
        raise UnreadableFile(f"cannot read {path.name}: {e}", code="unreadable_file") from e
    if not head:
        raise UnreadableFile(f"{path.name} is empty (0 bytes)", code="empty_file")
    kind = sniff_kind(head)
    if kind is None:
        raise UnreadableFile(
            f"{path.name} is not a PDF, TIFF, PNG or JPEG (judged by its content, "
            "not its name); scan to one of those", code="unsupported_type")
    return kind


@contextmanager
def open_image(path: Path) -> Iterator[Image.Image]:
    """Pillow, lazily (header only), with its decompression-bomb check kept on.

    Pillow's bomb *warning* is silenced here because the caller compares the
    size with ``max_pixels`` itself; its bomb *error* becomes ``image_too_large``.
    Pillow's other warnings (corrupt EXIF and the like) are dropped: the
    structural checks and decoding errors decide. Decoding errors inside the
    ``with`` block become ``corrupt_image`` or ``truncated_image``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path) as im:
                yield im
        except Image.DecompressionBombError as e:
            raise UnreadableFile(
                f"{path.name}: {e}; a scan this large is almost certainly a mistake or an attack",
                code="image_too_large") from e
        except _PILLOW_ERRORS as e:
            truncated = "truncated" in str(e).lower() or isinstance(e, EOFError)
            raise UnreadableFile(
                f"{path.name}: not a readable image ({e or type(e).__name__})",
                code="truncated_image" if truncated else "corrupt_image") from e


def inspect_file(path: Path, settings: Settings) -> SourceInfo:
    """Kind, MIME type and page count; raises :class:`UnreadableFile` with a specific code."""
    kind = read_kind(path)
    size = path.stat().st_size
    if size > settings.max_file_mb * 1024 * 1024:
        raise UnreadableFile(
            f"{path.name} is {size / 2**20:.0f} MB, over the {settings.max_file_mb} MB limit "
            "(CHARTVAULT_MAX_FILE_MB); split the batch", code="file_too_large")
    if kind == "pdf":
        from ocr.pdf import pdf_page_count

        pages = pdf_page_count(path)
    else:
        pages = _image_page_count(path, kind, settings)
    if pages == 0:
        raise UnreadableFile(f"{path.name} has no pages", code="zero_pages")
    if pages > settings.max_pages:
        raise UnreadableFile(
            f"{path.name} has {pages} pages, over the {settings.max_pages}-page limit "
            "(CHARTVAULT_MAX_PAGES); split it", code="too_many_pages")
    if kind == "pdf":
        from ocr.bombs import check_pdf_decoded

        check_pdf_decoded(path, path.name, settings)
    return SourceInfo(kind=kind, mime=MIMES[kind], page_count=pages)


def check_pixels(name: str, width: int, height: int, settings: Settings, bands: int = 1
                 ) -> None:
    if width * height > settings.max_pixels:
        raise UnreadableFile(
            f"{name}: {width} x {height} px is over the {settings.max_pixels:,}-pixel limit "
            "(CHARTVAULT_MAX_PIXELS); rescan at 300 dpi", code="image_too_large")
    from ocr.bombs import check_image_frame

    check_image_frame(name, width, height, bands, settings)


def _image_page_count(path: Path, kind: str, settings: Settings) -> int:
    if kind == "tiff":
        check_tiff_complete(path)
    with open_image(path) as im:
        check_pixels(path.name, *im.size, settings, len(im.getbands()))
        if kind == "png":
            _check_png_chunks(path)
            return 1
        if kind == "jpeg":
            _check_jpeg_end(path)
            return 1
        return _tiff_frames(path, im, settings)


def _tiff_frames(path: Path, im: Image.Image, settings: Settings) -> int:
    size = path.stat().st_size
    frames = 0
    try:
        while True:
            check_pixels(path.name, *im.size, settings, len(im.getbands()))
            _check_tiff_strips(path.name, im, size)
            frames += 1
            if frames > settings.max_pages:
                return frames
            im.seek(frames)
    except EOFError:
        return frames
    except _PILLOW_ERRORS as e:
        raise UnreadableFile(f"{path.name}: TIFF page {frames + 1} is damaged ({e})",
                             code="truncated_image" if frames else "corrupt_image") from e


def _check_tiff_strips(name: str, im: Image.Image, file_size: int) -> None:
    """Every strip or tile of the current frame must lie inside the file."""
    tags = im.tag_v2  # type: ignore[attr-defined]
    offsets = tags.get(273) or tags.get(324) or ()
    counts = tags.get(279) or tags.get(325) or ()
    if isinstance(offsets, int):
        offsets = (offsets,)
    if isinstance(counts, int):
        counts = (counts,)
    if not offsets or len(offsets) != len(counts):
        raise UnreadableFile(f"{name}: TIFF frame without a valid strip table",
                             code="corrupt_image")
    end = max(o + c for o, c in zip(offsets, counts, strict=True))
    if end > file_size:
        raise UnreadableFile(
            f"{name}: TIFF image data runs past the end of the file ({end} > {file_size} "
            "bytes); the transfer was cut short, send it again", code="truncated_image")


def _check_png_chunks(path: Path) -> None:
    """Walk the chunk headers (no decoding) up to IEND."""
    with path.open("rb") as f:
        f.seek(len(_PNG_MAGIC))
        while True:
            header = f.read(8)
            if len(header) < 8:
                raise UnreadableFile(f"{path.name}: PNG ends before its IEND chunk; "
                                     "the file was cut short", code="truncated_image")
            length, ctype = struct.unpack(">I4s", header)
            if ctype == b"IEND":
                return
            f.seek(length + 4, 1)  # data + CRC


def _check_jpeg_end(path: Path) -> None:
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 4096))
        tail = f.read()
    if b"\xff\xd9" not in tail:
        raise UnreadableFile(f"{path.name}: JPEG has no end-of-image marker; "
                             "the file was cut short", code="truncated_image")
