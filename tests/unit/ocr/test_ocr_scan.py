"""Scanned PDF pages read from their own image, and the text grafted onto the original page.

The fast path (:mod:`ocr.scan`) must read what rendering would read, keep the
scan as it was scanned, and step aside for every page that is not one plain
full-page image.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pikepdf
import pytest

from ocr import rasterize
from ocr.scan import page_image
from ocr.service import ocr_page
from ocr.tesseract import TesseractEngine

DPI = 150  # the tests' ocr_settings resolution


def _rendered(monkeypatch) -> None:  # noqa: ANN001
    """Force the poppler path, as before the fast path existed."""
    monkeypatch.setattr(rasterize, "page_image", lambda *args: None)


def _images(pdf: Path) -> list[list[str]]:
    """``pdfimages -list`` rows: page, num, type, width, height, color, comp, bpc, enc..."""
    out = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True,
                         check=True).stdout
    return [line.split() for line in out.splitlines()[2:]]


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def _raw_image(pdf: Path) -> bytes:
    with pikepdf.open(pdf) as doc:
        (image,) = (obj for obj in doc.objects if isinstance(obj, pikepdf.Stream)
                    and obj.get("/Subtype") == "/Image")
        return image.read_raw_bytes()


def test_scanned_pdf_page_is_taken_out_not_rendered(chart):
    made = chart("pdf")
    found = page_image(made.path, 1, DPI)
    assert found is not None and not found.bilevel
    assert found.jpeg == _raw_image(made.path)  # the stored JPEG, byte for byte
    assert found.image.mode == "L" and found.image.size == (1275, 1650)


def test_a_look_decodes_a_jpeg_scan_at_reduced_scale(chart):
    made = chart("pdf", dpi=300, paragraphs=1)
    whole = page_image(made.path, 1, None)
    assert whole.image.size == (2550, 3300) and whole.jpeg is not None
    half = page_image(made.path, 1, None, longest=1650)  # libjpeg's 1/2 scale fits exactly
    assert half.image.size == (1275, 1650) and half.image.mode == "L"
    assert half.jpeg is None  # not the stored pixels: never handed to Tesseract as is
    assert page_image(made.path, 1, None, longest=2200).image.size == (2550, 3300)  # 1/2 < 2200


def test_extracted_and_rendered_pages_read_the_same(chart, ocr_settings, tmp_path,
                                                    char_error_rate, monkeypatch):
    made = chart("pdf", paragraphs=3)
    fast = ocr_page(made.path, 1, tmp_path / "fast", ocr_settings)
    _rendered(monkeypatch)
    slow = ocr_page(made.path, 1, tmp_path / "slow", ocr_settings)
    truth = made.page_texts[0]
    # Poppler resamples the JPEG a little when it draws it, so the two engine inputs
    # are not bit-identical: the texts must agree to within a few characters, and the
    # extracted page must read as well as the rendered one.
    assert char_error_rate(fast.text, slow.text) < 0.01
    assert char_error_rate(fast.text, truth) <= char_error_rate(slow.text, truth) + 0.005
    assert (fast.width, fast.height, fast.dpi) == (slow.width, slow.height, slow.dpi)
    fast_mrn, slow_mrn = ([w for w in r.words if w.text == made.spec.mrn] for r in (fast, slow))
    assert fast_mrn and slow_mrn  # the same word in the same place, to a pixel or two
    assert all(abs(a - b) <= 2 for a, b in zip(
        (fast_mrn[0].left, fast_mrn[0].top, fast_mrn[0].width, fast_mrn[0].height),
        (slow_mrn[0].left, slow_mrn[0].top, slow_mrn[0].width, slow_mrn[0].height), strict=True))


def test_searchable_page_is_the_original_scan_with_a_text_layer(chart, ocr_settings, tmp_path):
    made = chart("pdf", paragraphs=2)
    result = ocr_page(made.path, 1, tmp_path, ocr_settings)
    rows = _images(result.pdf_path)
    assert len(rows) == 1 and rows[0][3:5] == ["1275", "1650"] and rows[0][8] == "jpeg"
    assert _raw_image(result.pdf_path) == _raw_image(made.path)  # not re-encoded
    text = _text(result.pdf_path)
    assert made.spec.mrn in text and made.spec.patient_name.split(",")[0] in text
    with pikepdf.open(result.pdf_path) as pdf, pikepdf.open(made.path) as source:
        assert [float(v) for v in pdf.pages[0].mediabox] == [
            float(v) for v in source.pages[0].mediabox]
    # The layer lies where the words are on the scan: the MRN starts where it starts on
    # the image; its end is Tesseract 5.3's estimate of the glyph widths, within the word.
    mrn = next(w for w in result.words if w.text == made.spec.mrn)
    bbox = subprocess.run(["pdftotext", "-bbox", str(result.pdf_path), "-"], capture_output=True,
                          text=True, check=True).stdout
    line = next(x for x in bbox.splitlines() if f">{made.spec.mrn}<" in x)
    x_min = float(line.split('xMin="')[1].split('"')[0])
    x_max = float(line.split('xMax="')[1].split('"')[0])
    left, right = mrn.left * 72 / DPI, (mrn.left + mrn.width) * 72 / DPI
    assert abs(x_min - left) < 1.5
    assert left + 0.6 * (right - left) < x_max < right + 1.5


def test_text_only_pdf_from_the_engine_has_no_image(chart, tmp_path):
    made = chart("png", paragraphs=1)
    rec = TesseractEngine().recognize(made.path, language="eng", dpi=DPI, timeout=60,
                                      text_only=True)
    assert rec.text_only
    out = tmp_path / "layer.pdf"
    out.write_bytes(rec.pdf)
    assert _images(out) == []
    assert made.spec.mrn in _text(out)


def test_turned_scan_is_not_grafted_but_rebuilt_upright(chart, ocr_settings, tmp_path,
                                                         char_error_rate):
    made = chart("pdf", rotate=180)
    assert page_image(made.path, 1, DPI) is not None  # taken out, then corrected
    result = ocr_page(made.path, 1, tmp_path, ocr_settings)
    assert result.rotation == 180
    assert char_error_rate(result.text, made.page_texts[0]) < 0.03
    assert _raw_image(result.pdf_path) != _raw_image(made.path)  # the upright image
    assert made.spec.mrn in _text(result.pdf_path)


def test_black_and_white_scan_keeps_its_g4_image(samples, tmp_path, char_error_rate):
    from chartvault.settings import Settings

    settings = Settings(home=tmp_path / "home", ocr_dpi=300, ocr_page_timeout=120)
    source = samples / "ocrmypdf-ccitt.pdf"
    found = page_image(source, 1, 300)
    assert found is not None and found.bilevel and found.jpeg is None
    result = ocr_page(source, 1, tmp_path / "w", settings)
    assert _raw_image(result.pdf_path) == _raw_image(source)
    assert _images(result.pdf_path)[0][8] == "ccitt"
    truth = (samples / "ocrmypdf-linn.ref.txt").read_text(encoding="utf-8")
    assert char_error_rate(result.text, truth) < 0.03
    assert "Linn" in _text(result.pdf_path)


# ---- pages that are not one plain full-page image: rendered as before -----------------

def _edit(made: Path, out: Path, change) -> Path:  # noqa: ANN001
    with pikepdf.open(made) as pdf:
        change(pdf, pdf.pages[0])
        pdf.save(out)
    return out


def _content(data: bytes):  # noqa: ANN202
    return lambda pdf, page: setattr(page.obj, "Contents", pdf.make_stream(data))


def _second_image(pdf: pikepdf.Pdf, page: pikepdf.Page) -> None:
    image = page.obj.Resources.XObject["/image"]
    page.obj.Resources.XObject["/other"] = image
    page.obj.Contents = pdf.make_stream(
        b"q 612 0 0 792 0 0 cm /image Do Q q 100 0 0 100 10 10 cm /other Do Q")


def _masked(pdf: pikepdf.Pdf, page: pikepdf.Page) -> None:
    mask = pdf.make_stream(b"\xff" * 100, Type=pikepdf.Name.XObject,
                           Subtype=pikepdf.Name.Image, Width=10, Height=10,
                           ColorSpace=pikepdf.Name.DeviceGray, BitsPerComponent=8)
    page.obj.Resources.XObject["/image"].SMask = mask


def _inverted(pdf: pikepdf.Pdf, page: pikepdf.Page) -> None:
    page.obj.Resources.XObject["/image"].Decode = pikepdf.Array([1, 0])


CASES = {
    "turned by /Rotate": lambda pdf, page: setattr(page.obj, "Rotate", 90),
    "drawn at half size": _content(b"q 306 0 0 396 0 0 cm /image Do Q"),
    "drawn flipped": _content(b"q 612 0 0 -792 0 792 cm /image Do Q"),
    "text over the image": _content(
        b"q 612 0 0 792 0 0 cm /image Do Q BT /F1 12 Tf 72 72 Td (hello) Tj ET"),
    "a vector line too": _content(b"q 612 0 0 792 0 0 cm /image Do Q 0 0 m 100 100 l S"),
    "two images": _second_image,
    "a soft mask": _masked,
    "a /Decode array": _inverted,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_pages_that_are_not_a_plain_scan_are_rendered(chart, tmp_path, case):
    made = chart("pdf")
    assert page_image(made.path, 1, DPI) is not None
    odd = _edit(made.path, tmp_path / "odd.pdf", CASES[case])
    assert page_image(odd, 1, DPI) is None


def test_scan_at_another_resolution_is_rendered(chart):
    made = chart("pdf", dpi=100)
    assert page_image(made.path, 1, DPI) is None
    assert page_image(made.path, 1, 100) is not None


@pytest.mark.parametrize("name", ["ocrmypdf-skew.pdf", "gcp-Winnie_the_Pooh_3_Pages.pdf",
                                  "paperless-barcode-qr-asn-000123-upscale-dpi.pdf"])
def test_other_encodings_and_layouts_are_rendered(samples, name):
    # JBIG2; a page with three images and a soft mask; JPEG 2000 at 150 dpi
    assert page_image(samples / name, 1, 300) is None


def test_born_digital_and_damaged_pdfs_are_left_to_the_renderer(chart, tmp_path):
    assert page_image(chart("pdf-text").path, 1, DPI) is None
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(chart("pdf").path.read_bytes()[:2000])
    assert page_image(broken, 1, DPI) is None


def test_odd_page_still_reads_through_the_renderer(chart, ocr_settings, tmp_path,
                                                   char_error_rate):
    made = chart("pdf", paragraphs=2)
    odd = _edit(made.path, tmp_path / "odd.pdf", CASES["a vector line too"])
    result = ocr_page(odd, 1, tmp_path / "w", ocr_settings)
    assert char_error_rate(result.text, made.page_texts[0]) < 0.03
    assert _images(result.pdf_path)[0][3:5] == ["1275", "1650"]
