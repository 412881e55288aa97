"""Decompression bombs, generated small: a few hundred kilobytes that decode to
gigabytes (issue 21). Each is what an attacker, or a broken scanner, could upload."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pikepdf

MB = 1024 * 1024


def _deflated(size: int, byte: bytes = b" ", chunk: int = MB) -> bytes:
    """``size`` bytes of ``byte`` through zlib, without holding them all in memory."""
    out, packer, block = [], zlib.compressobj(9), byte * chunk
    for _ in range(size // chunk):
        out.append(packer.compress(block))
    out.append(packer.flush())
    return b"".join(out)


def flate_content_bomb(out: Path, pages: int = 20, mb: int = 256) -> Path:
    """Every page draws one shared Flate content stream of ``mb`` MB of spaces (the
    issue's 260 KB, 20-page PDF)."""
    pdf = pikepdf.new()
    content = pikepdf.Stream(pdf, b"")
    content.write(_deflated(mb * MB), filter=pikepdf.Name.FlateDecode)
    content = pdf.make_indirect(content)
    for _ in range(pages):
        page = pdf.add_blank_page(page_size=(612, 792))
        page.obj.Contents = content
    pdf.save(out)
    return out


def _image_bomb(out: Path, data: bytes, **image: object) -> Path:
    """One page drawing one image XObject whose dictionary declares ``image``."""
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(612, 792))
    xobject = pikepdf.Stream(pdf, b"")
    xobject.write(data, filter=image.pop("Filter"), decode_parms=image.pop("DecodeParms", None))
    for key, value in {"Type": pikepdf.Name.XObject, "Subtype": pikepdf.Name.Image,
                       **image}.items():
        xobject[f"/{key}"] = value
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=xobject))
    page.obj.Contents = pdf.make_stream(b"q 612 0 0 792 0 0 cm /Im0 Do Q")
    pdf.save(out)
    return out


def jbig2_bomb(out: Path, side: int = 100_000) -> Path:
    """A JBIG2 image declaring ``side`` x ``side`` 1-bit pixels (1.25 GB at 100,000)."""
    return _image_bomb(out, b"\x00" * 64, Filter=pikepdf.Name.JBIG2Decode, Width=side,
                       Height=side, BitsPerComponent=1, ColorSpace=pikepdf.Name.DeviceGray)


def ccitt_bomb(out: Path, side: int = 100_000) -> Path:
    """A CCITT G4 image declaring ``side`` x ``side`` pixels."""
    return _image_bomb(out, b"\x00" * 64, Filter=pikepdf.Name.CCITTFaxDecode,
                       DecodeParms=pikepdf.Dictionary(K=-1, Columns=side, Rows=side),
                       Width=side, Height=side, BitsPerComponent=1,
                       ColorSpace=pikepdf.Name.DeviceGray)


def flate_image_bomb(out: Path, side: int = 20_000) -> Path:
    """A Flate RGB image of ``side`` x ``side`` white pixels (1.2 GB at 20,000), really
    compressed, not merely declared."""
    return _image_bomb(out, _deflated(side * side * 3, b"\xff"), Filter=pikepdf.Name.FlateDecode,
                       Width=side, Height=side, BitsPerComponent=8,
                       ColorSpace=pikepdf.Name.DeviceRGB)


def png_bomb(out: Path, side: int = 12_000) -> Path:
    """A valid RGB PNG of ``side`` x ``side`` white pixels: under the pixel limit
    (144 million at 12,000), 432 MB once decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    packer, row, idat = zlib.compressobj(9), b"\x00" + b"\xff" * (side * 3), []
    rows_per_block = max(1, MB // len(row))
    for _ in range(side // rows_per_block):
        idat.append(packer.compress(row * rows_per_block))
    idat.append(packer.compress(row * (side % rows_per_block)) + packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    out.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                    + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b""))
    return out
