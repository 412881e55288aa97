"""inspect(): the type from the content, the page count, and the bad-input corpus."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import pytest
from pypdf import PdfWriter

from chartvault.errors import BadInput
from ocr.interface import SourceInfo, UnreadableFile
from ocr.service import inspect


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width x height but holds one tiny IDAT: never allocate it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _blank_pdf(path: Path, pages: int) -> Path:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    with path.open("wb") as f:
        writer.write(f)
    return path


def _code(path: Path, settings) -> UnreadableFile:  # noqa: ANN001
    with pytest.raises(UnreadableFile) as caught:
        inspect(path, settings)
    assert caught.value.message and path.name in caught.value.message
    return caught.value


@pytest.mark.parametrize("fmt,kind,mime", [
    ("pdf", "pdf", "application/pdf"), ("tiff", "tiff", "image/tiff"),
    ("tiff-g4", "tiff", "image/tiff"), ("png", "png", "image/png"),
    ("jpeg", "jpeg", "image/jpeg"),
])
def test_good_files_are_sniffed_and_counted(chart, ocr_settings, fmt, kind, mime):
    pages = 1 if fmt in ("png", "jpeg") else 3
    made = chart(fmt, dpi=72, pages=pages)
    assert inspect(made.path, ocr_settings) == SourceInfo(kind=kind, mime=mime, page_count=pages)


def test_zero_byte_file_is_bad_input_with_status_422(tmp_path, ocr_settings):
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    error = _code(path, ocr_settings)
    assert error.code == "empty_file" and "0 bytes" in error.message
    assert isinstance(error, BadInput) and error.http_status == 422


def test_random_bytes_named_pdf_are_unsupported(tmp_path, ocr_settings):
    path = tmp_path / "scan.pdf"
    path.write_bytes(os.urandom(4096).replace(b"%PDF-", b"xxxxx"))
    error = _code(path, ocr_settings)
    assert error.code == "unsupported_type"
    assert "content" in error.message


def test_jpeg_named_pdf_is_sniffed_as_jpeg(chart, ocr_settings):
    made = chart("jpeg", dpi=72)
    lying = made.path.rename(made.path.with_suffix(".pdf"))
    assert inspect(lying, ocr_settings).kind == "jpeg"


def test_encrypted_pdf(chart, tmp_path, ocr_settings):
    writer = PdfWriter(clone_from=chart("pdf", dpi=72).path)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-128")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as f:
        writer.write(f)
    error = _code(path, ocr_settings)
    assert error.code == "encrypted_pdf"
    assert "password" in error.message


def test_pdf_with_only_an_owner_password_is_readable(chart, tmp_path, ocr_settings):
    writer = PdfWriter(clone_from=chart("pdf", dpi=72).path)
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    path = tmp_path / "restricted.pdf"
    with path.open("wb") as f:
        writer.write(f)
    assert inspect(path, ocr_settings).page_count == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_pdf(chart, tmp_path, ocr_settings, damage):
    path = tmp_path / f"{damage}.pdf"
    if damage == "garbage":
        path.write_bytes(b"%PDF-1.7\n" + os.urandom(5000))
    else:
        data = chart("pdf", dpi=72).path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    assert _code(path, ocr_settings).code == "corrupt_pdf"


def test_zero_page_pdf(tmp_path, ocr_settings):
    assert _code(_blank_pdf(tmp_path / "none.pdf", 0), ocr_settings).code == "zero_pages"


def test_two_thousand_pages_over_the_limit_is_refused_quickly(tmp_path, ocr_settings):
    path = _blank_pdf(tmp_path / "huge.pdf", 2000)
    started = time.monotonic()
    error = _code(path, ocr_settings)
    assert error.code == "too_many_pages" and "2000" in error.message
    assert time.monotonic() - started < 5
    assert inspect(path, ocr_settings.replace(max_pages=2000)).page_count == 2000


@pytest.mark.parametrize("fmt", ["tiff", "tiff-g4"])
def test_truncated_tiff(chart, tmp_path, ocr_settings, fmt):
    data = chart(fmt, dpi=100, pages=2).path.read_bytes()
    for fraction in (0.3, 0.7, 0.98):
        path = tmp_path / f"cut-{fraction}.tif"
        path.write_bytes(data[: int(len(data) * fraction)])
        assert _code(path, ocr_settings).code == "truncated_image"


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_truncated_png_and_jpeg(chart, tmp_path, ocr_settings, fmt):
    data = chart(fmt, dpi=72).path.read_bytes()
    path = tmp_path / f"cut.{fmt}"
    path.write_bytes(data[: len(data) // 2])
    assert _code(path, ocr_settings).code == "truncated_image"


def test_decompression_bomb_png_is_refused_without_decoding(tmp_path, ocr_settings):
    path = _png_header_only(tmp_path / "bomb.png", 40_000, 40_000)
    started = time.monotonic()
    error = _code(path, ocr_settings)
    assert error.code == "image_too_large"
    assert time.monotonic() - started < 2


def test_image_over_max_pixels_but_under_pillows_hard_limit(tmp_path, ocr_settings):
    # 144 Mpx: Pillow only warns (an error under this suite's filterwarnings); we decide.
    path = _png_header_only(tmp_path / "big.png", 12_000, 12_000)
    error = _code(path, ocr_settings.replace(max_pixels=100_000_000))
    assert error.code == "image_too_large" and "CHARTVAULT_MAX_PIXELS" in error.message


def test_file_too_large(tmp_path, ocr_settings):
    path = tmp_path / "big.pdf"
    path.write_bytes(b"%PDF-1.4\n" + b"\0" * (2 * 2**20))
    assert _code(path, ocr_settings.replace(max_file_mb=1)).code == "file_too_large"


def test_unidentifiable_image_is_corrupt(tmp_path, ocr_settings):
    path = tmp_path / "junk.tif"
    path.write_bytes(b"II*\x00\x08\x00\x00\x00" + b"\xff" * 64)
    assert _code(path, ocr_settings).code in {"corrupt_image", "truncated_image"}
