"""Real public scans from ../shared/samples (see its README.md for sources and truths).

Skipped, saying why, when the folder is absent. Full-resolution pages take a
few seconds each, so most of these are marked ``slow``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chartvault.settings import Settings
from ocr.interface import SourceInfo, UnreadableFile
from ocr.rasterize import RENDER_PIXEL_CAP
from ocr.service import inspect, ocr_page

LINN = "ocrmypdf-linn.ref.txt"
EXPECTED_PAGES = {
    "gcp-Winnie_the_Pooh_3_Pages.pdf": 3, "ocrmypdf-ccitt.pdf": 1, "ocrmypdf-linn.png": 1,
    "ocrmypdf-multipage.pdf": 6, "ocrmypdf-skew.pdf": 1, "ocrmypdf-typewriter.png": 1,
    "paperless-barcode-fax-image.pdf": 3, "scribe-multicol_05.jpg": 1,
    "paperless-barcode-qr-asn-000123-upscale-dpi.pdf": 1,
}


@pytest.fixture
def full_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", ocr_dpi=300, ocr_page_timeout=120)


def _truth(samples: Path, name: str) -> str:
    return (samples / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name,pages", sorted(EXPECTED_PAGES.items()))
def test_inspect_every_sample(samples, full_settings, name, pages):
    info = inspect(samples / name, full_settings)
    assert isinstance(info, SourceInfo) and info.page_count == pages


def test_ccitt_g4_page_reads(samples, full_settings, tmp_path, char_error_rate):
    result = ocr_page(samples / "ocrmypdf-ccitt.pdf", 1, tmp_path, full_settings)
    assert char_error_rate(result.text, _truth(samples, LINN)) < 0.03


def test_junk_white_space_text_layer_is_ocrd(samples, full_settings, tmp_path):
    result = ocr_page(samples / "gcp-Winnie_the_Pooh_3_Pages.pdf", 1, tmp_path, full_settings)
    assert result.source == "ocr"
    assert "Winnie-the-Pooh" in result.text and "Christopher Robin" in result.text


def test_9000_px_page_is_rendered_within_limits(samples, full_settings, tmp_path):
    result = ocr_page(samples / "ocrmypdf-multipage.pdf", 2, tmp_path, full_settings)
    assert result.width * result.height <= RENDER_PIXEL_CAP
    assert result.dpi < 300 and "megapixels" in result.text


@pytest.mark.slow
def test_skewed_pdf_is_deskewed_and_reads_like_the_straight_scan(samples, full_settings,
                                                                tmp_path, char_error_rate):
    truth = _truth(samples, LINN)
    straight = ocr_page(samples / "ocrmypdf-linn.png", 1, tmp_path / "a", full_settings)
    skewed = ocr_page(samples / "ocrmypdf-skew.pdf", 1, tmp_path / "b", full_settings)
    assert abs(skewed.skew) >= 1.0
    assert char_error_rate(skewed.text, truth) < char_error_rate(straight.text, truth) + 0.005
    assert char_error_rate(skewed.text, truth) < 0.03


@pytest.mark.slow
def test_winnie_three_pages_read_close_to_the_reference(samples, full_settings, tmp_path,
                                                        char_error_rate):
    texts = [ocr_page(samples / "gcp-Winnie_the_Pooh_3_Pages.pdf", n, tmp_path,
                      full_settings).text for n in (1, 2, 3)]
    truth = _truth(samples, "gcp-Winnie_the_Pooh_3_Pages.ref-docai.txt")
    assert char_error_rate("\n".join(texts), truth) < 0.12  # the reference is another engine


@pytest.mark.slow
def test_typewritten_two_column_report(samples, full_settings, tmp_path, char_error_rate):
    result = ocr_page(samples / "scribe-multicol_05.jpg", 1, tmp_path, full_settings)
    assert char_error_rate(result.text, _truth(samples, "scribe-multicol_05.gt.txt")) < 0.03


@pytest.mark.slow
def test_every_page_of_the_mixed_pdf_gives_a_result_or_a_clear_error(samples, full_settings,
                                                                     tmp_path):
    for number in range(1, 7):
        try:
            result = ocr_page(samples / "ocrmypdf-multipage.pdf", number, tmp_path,
                              full_settings)
        except UnreadableFile as error:  # allowed, but it must say what is wrong
            assert error.code != "unreadable_file" and error.message
            continue
        assert result.width * result.height <= RENDER_PIXEL_CAP
        assert all(p.is_file() for p in result.images.values()) and result.pdf_path.is_file()
