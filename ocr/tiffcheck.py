"""A cheap structural walk of a classic TIFF: is anything it points to past the end?

A transfer cut short leaves a TIFF whose directory (IFD) chain, tag values or
image strips point beyond the end of the file; Pillow reports that as
"cannot identify" or "missing dimensions", which says nothing useful to a
scanning clerk. This walk reads only the directories, never the pixels.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from ocr.interface import UnreadableFile

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
               13: 4, 16: 8, 17: 8, 18: 8}
_STRIP_TAGS = ((273, 279), (324, 325))  # (offsets, byte counts): strips, tiles
MAX_IFDS = 100_000


def check_tiff_complete(path: Path) -> None:
    """Raise ``truncated_image`` if the IFD chain, a tag value or a strip runs past EOF.

    BigTIFF is left to Pillow. Loops in the IFD chain raise ``corrupt_image``."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if len(data) >= 8 and data[2:4] not in (b"+\x00", b"\x00+"):
            _walk(data, path)


def _walk(data: mmap.mmap, path: Path) -> None:
    order = "<" if data[:2] == b"II" else ">"
    offset, seen = _u32(data, 4, order, path), set()
    while offset:
        if offset in seen or len(seen) > MAX_IFDS:
            raise UnreadableFile(f"{path.name}: the TIFF directory chain loops",
                                 code="corrupt_image")
        seen.add(offset)
        offset = _check_ifd(data, offset, order, path)


def _check_ifd(data: mmap.mmap, offset: int, order: str, path: Path) -> int:
    count = _u16(data, offset, order, path)
    entries: dict[int, list[int]] = {}
    for i in range(count):
        at = offset + 2 + 12 * i
        tag, kind, n = struct.unpack(order + "HHI", _take(data, at, 8, path))
        size = _TYPE_SIZES.get(kind, 1) * n
        where = at + 8 if size <= 4 else _u32(data, at + 8, order, path)
        raw = _take(data, where, size, path)
        if kind in (3, 4) and any(tag in pair for pair in _STRIP_TAGS):
            fmt = order + ("H" if kind == 3 else "I") * n
            entries[tag] = list(struct.unpack(fmt, raw))
    for offsets_tag, counts_tag in _STRIP_TAGS:
        for start, length in zip(entries.get(offsets_tag, ()), entries.get(counts_tag, ()),
                                 strict=False):
            _take(data, start, length, path)
    return _u32(data, offset + 2 + 12 * count, order, path)


def _take(data: mmap.mmap, start: int, length: int, path: Path) -> bytes:
    if start + length > len(data):
        raise UnreadableFile(
            f"{path.name}: the TIFF points past its end (byte {start + length:,} of "
            f"{len(data):,}); the file was cut short, send it again", code="truncated_image")
    return data[start:start + length]


def _u16(data: mmap.mmap, at: int, order: str, path: Path) -> int:
    return struct.unpack(order + "H", _take(data, at, 2, path))[0]


def _u32(data: mmap.mmap, at: int, order: str, path: Path) -> int:
    return struct.unpack(order + "I", _take(data, at, 4, path))[0]
