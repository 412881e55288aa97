"""Merging the per-page searchable PDFs into the document's one PDF."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from ocr.interface import UnreadableFile
from ocr.service import merge_pdfs


def _page_pdf(path: Path, shade: int) -> Path:
    Image.new("L", (850, 1100), shade).save(path, "PDF", resolution=100)
    return path


def test_pages_come_out_in_order(tmp_path: Path) -> None:
    parts = [_page_pdf(tmp_path / f"{n}.pdf", 40 * n) for n in range(1, 6)]
    out = merge_pdfs(parts, tmp_path / "out" / "doc.pdf")
    assert len(PdfReader(out).pages) == 5
    assert not list((tmp_path / "out").glob("*.part"))


def test_a_single_page_is_copied(tmp_path: Path) -> None:
    out = merge_pdfs([_page_pdf(tmp_path / "1.pdf", 0)], tmp_path / "doc.pdf")
    assert len(PdfReader(out).pages) == 1


def test_a_damaged_page_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    good = _page_pdf(tmp_path / "1.pdf", 0)
    bad = tmp_path / "2.pdf"
    bad.write_bytes(b"%PDF-1.4\nnot really a pdf")
    with pytest.raises(UnreadableFile) as caught:
        merge_pdfs([good, bad], tmp_path / "doc.pdf")
    assert caught.value.code == "corrupt_pdf"
    assert not (tmp_path / "doc.pdf").exists() and not (tmp_path / "doc.pdf.part").exists()
