"""ocr_page, the page images and merge_pdfs end to end with the real engine, small pages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

from ocr.interface import UnreadableFile
from ocr.service import merge_pdfs, ocr_page, warm_engine
from ocr.thumbnails import page_images

MAX_CER = 0.03


def _words_inside(result) -> bool:  # noqa: ANN001
    return all(0 <= w.left and 0 <= w.top and w.left + w.width <= result.width
               and w.top + w.height <= result.height for w in result.words)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "pdf", "tiff", "tiff-g4"])
def test_reads_a_clean_page_in_every_format(chart, ocr_settings, tmp_path, char_error_rate, fmt):
    made = chart(fmt)
    result = ocr_page(made.path, 1, tmp_path / "work", ocr_settings)
    assert char_error_rate(result.text, made.page_texts[0]) < MAX_CER
    assert (result.source, result.rotation, result.skew, result.blank) == ("ocr", 0, 0.0, False)
    assert result.words and _words_inside(result)
    assert result.dpi == 150 and result.confidence > 80
    assert result.pdf_path.read_bytes().startswith(b"%PDF")
    assert set(result.images) == {"small", "large"}
    for name, width in (("small", 200), ("large", min(1000, result.width))):
        with Image.open(result.images[name]) as image:
            assert _gray(image)
            assert image.size == (width, round(result.height * width / result.width))


def _gray(image: Image.Image) -> bool:
    """No colour (WebP stores gray pages as RGB): channels agree to within rounding."""
    red, green, blue = (np.asarray(band, dtype=np.int16) for band in image.convert("RGB").split())
    return int(max(np.abs(red - green).max(), np.abs(green - blue).max())) <= 2


def test_words_can_be_searched(chart, ocr_settings, tmp_path):
    made = chart("png", seed=11, paragraphs=3)
    text = ocr_page(made.path, 1, tmp_path, ocr_settings).text
    assert made.spec.mrn in text and made.spec.patient_name in text
    assert made.spec.date_of_birth.isoformat() in text


def test_black_and_white_source_stays_small(chart, ocr_settings, tmp_path):
    made = chart("tiff-g4", dpi=300)
    result = ocr_page(made.path, 1, tmp_path, ocr_settings.replace(ocr_dpi=300))
    assert result.pdf_path.stat().st_size < 60_000  # G4 in the PDF, not an 8-bit JPEG
    assert made.spec.mrn in result.text


def test_second_page_of_a_tiff(chart, ocr_settings, tmp_path, char_error_rate):
    made = chart("tiff-g4", pages=2)
    result = ocr_page(made.path, 2, tmp_path, ocr_settings)
    assert result.number == 2 and "Page 2 of 2" in result.text
    assert char_error_rate(result.text, made.page_texts[1]) < MAX_CER


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_turned_pages_come_out_upright(chart, ocr_settings, tmp_path, char_error_rate, turn):
    made = chart("png", rotate=turn)
    result = ocr_page(made.path, 1, tmp_path, ocr_settings)
    assert result.rotation == turn
    assert char_error_rate(result.text, made.page_texts[0]) < MAX_CER
    with Image.open(result.images["large"]) as image:
        assert image.width < image.height  # portrait again


def test_skewed_page_reads_as_well_as_straight(chart, ocr_settings, tmp_path, char_error_rate):
    straight, skewed = chart("png"), chart("png", skew=3.0)
    flat = ocr_page(straight.path, 1, tmp_path / "a", ocr_settings)
    tilted = ocr_page(skewed.path, 1, tmp_path / "b", ocr_settings)
    assert tilted.skew == pytest.approx(3.0, abs=0.3)
    assert char_error_rate(tilted.text, skewed.page_texts[0]) <= (
        char_error_rate(flat.text, straight.page_texts[0]) + 0.01)


def test_noisy_page_reads(chart, ocr_settings, tmp_path, char_error_rate):
    made = chart("png", dpi=200, noise=True)
    result = ocr_page(made.path, 1, tmp_path, ocr_settings.replace(ocr_dpi=200))
    assert char_error_rate(result.text, made.page_texts[0]) < 0.05
    assert not result.blank


def test_born_digital_page_uses_its_text_layer(chart, ocr_settings, tmp_path, char_error_rate):
    made = chart("pdf-text", paragraphs=2)
    result = ocr_page(made.path, 1, tmp_path, ocr_settings)
    assert result.source == "text-layer" and result.confidence is None
    assert char_error_rate(result.text, made.page_texts[0]) < 0.01
    assert made.spec.mrn in {w.text for w in result.words} and _words_inside(result)
    mrn = next(w for w in result.words if w.text == made.spec.mrn)
    assert mrn.top < result.height // 4 and mrn.height < result.height // 30
    assert len(PdfReader(result.pdf_path).pages) == 1
    assert all(path.is_file() for path in result.images.values())


def test_ocr_force_ignores_the_text_layer(chart, ocr_settings, tmp_path):
    made = chart("pdf-text")
    result = ocr_page(made.path, 1, tmp_path, ocr_settings.replace(ocr_force=True))
    assert result.source == "ocr" and made.spec.mrn in result.text


def _scan_with_junk_text_layer(scan: Path, out: Path, junk: str) -> Path:
    pdf = canvas.Canvas(str(out), pagesize=letter)
    pdf.drawImage(str(scan), 0, 0, *letter)
    text = pdf.beginText(72, 720)
    text.setTextRenderMode(3)  # invisible, like an OCR layer
    for line in junk.splitlines():
        text.textLine(line)
    pdf.drawText(text)
    pdf.showPage()
    pdf.save()
    return out


@pytest.mark.parametrize("junk", ["   \n      \n  \t  ", "\x01\x01 \x01\x01\x01 " * 20],
                         ids=["white-space", "control-characters"])
def test_junk_text_layer_is_ocrd(chart, ocr_settings, tmp_path, char_error_rate, junk):
    made = chart("png")
    pdf = _scan_with_junk_text_layer(made.path, tmp_path / "junk.pdf", junk)
    result = ocr_page(pdf, 1, tmp_path / "work", ocr_settings)
    assert result.source == "ocr"
    assert char_error_rate(result.text, made.page_texts[0]) < MAX_CER


def test_blank_page_is_flagged_without_ocr(tmp_path, ocr_settings):
    blank = tmp_path / "blank.png"
    image = Image.new("L", (1275, 1650), 255)
    for x, y in ((100, 100), (900, 1200), (640, 33)):  # scanner dust
        image.putpixel((x, y), 0)
    image.save(blank, dpi=(150, 150))
    result = ocr_page(blank, 1, tmp_path / "work", ocr_settings)
    assert result.blank and result.text == "" and result.words == ()
    assert result.confidence is None and result.pdf_path.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("fade", [3, 8, "negative"])
def test_faint_page_is_read_as_the_dark_one(chart, tmp_path, ocr_settings, char_error_rate,
                                            fade):
    # text at gray 170 and 224 on white (a light photocopy, a faded fax), and white on
    # black (a negative: an old photostat or microfilm print)
    page = chart("png")
    faint = tmp_path / "faint.png"
    with Image.open(page.path) as dark:
        gray = dark.convert("L")
        changed = (gray.point(lambda v: 255 - v) if fade == "negative"
                   else gray.point(lambda v: 255 - (255 - v) // fade))
        changed.save(faint, dpi=(150, 150))
    result = ocr_page(faint, 1, tmp_path / "work", ocr_settings)
    assert not result.blank and result.confidence is not None
    assert char_error_rate(result.text, page.page_texts[0]) < 0.05


def test_no_such_page(chart, ocr_settings, tmp_path):
    with pytest.raises(UnreadableFile) as caught:
        ocr_page(chart("pdf", dpi=72).path, 2, tmp_path, ocr_settings)
    assert caught.value.code == "no_such_page"
    with pytest.raises(UnreadableFile):
        ocr_page(chart("png", dpi=72).path, 2, tmp_path, ocr_settings)


@pytest.mark.parametrize(("image_format", "suffix", "pillow_format"),
                         [("jpeg", ".jpg", "JPEG"), ("webp", ".webp", "WEBP"),
                          ("png", ".png", "PNG")])
def test_page_images(chart, tmp_path, image_format, suffix, pillow_format):
    page = chart("png", dpi=72).path
    with Image.open(page) as original:
        original.load()
        thumbs = page_images(original, tmp_path / "page-0001", image_format)
        assert set(thumbs) == {"small", "large"}
        assert {p.name for p in thumbs.values()} == {f"page-0001-small{suffix}",
                                                     f"page-0001-large{suffix}"}
        with Image.open(thumbs["small"]) as small:
            assert small.format == pillow_format
            assert small.width == 200 and small.height > small.width
        with Image.open(thumbs["large"]) as large:
            assert large.format == pillow_format
            assert large.size == original.size  # 612 px wide: never enlarged
        assert page_images(original, tmp_path / "page-0001", image_format) == thumbs


def test_page_images_default_to_jpeg_as_the_setting_does(chart, tmp_path):
    from chartvault.settings import PAGE_IMAGE_FORMATS, Settings
    from ocr.thumbnails import FORMATS

    assert tuple(FORMATS) == PAGE_IMAGE_FORMATS  # the setting's choices, one list each side
    assert Settings(home=tmp_path).page_image_format == "jpeg"
    with Image.open(chart("png", dpi=72).path) as original:
        original.load()
        assert page_images(original, tmp_path / "p")["large"].suffix == ".jpg"


@pytest.mark.parametrize("in_process", [True, False], ids=["pikepdf", "pdfunite"])
def test_merge_pdfs_gives_one_searchable_pdf(chart, ocr_settings, tmp_path, monkeypatch,
                                             in_process):
    import ocr.pdf

    monkeypatch.setattr(ocr.pdf, "IN_PROCESS_MERGE_PAGES", 100 if in_process else 2)
    made = chart("tiff", pages=3)
    pages = [ocr_page(made.path, n, tmp_path / "work", ocr_settings) for n in (1, 2, 3)]
    out = merge_pdfs([p.pdf_path for p in pages], tmp_path / "out" / "doc.pdf")
    reader = PdfReader(out)
    assert len(reader.pages) == 3
    for number, page in enumerate(reader.pages, start=1):
        assert f"Page {number} of 3" in page.extract_text()
        assert made.spec.mrn in page.extract_text()
    assert list(out.parent.iterdir()) == [out]  # no temp file left


@pytest.mark.parametrize("limit", [100, 2], ids=["pikepdf", "pdfunite"])
def test_merging_a_damaged_page_pdf_is_a_clear_error(chart, ocr_settings, tmp_path,
                                                     monkeypatch, limit):
    import ocr.pdf
    from ocr.interface import UnreadableFile

    monkeypatch.setattr(ocr.pdf, "IN_PROCESS_MERGE_PAGES", limit)
    made = chart("tiff", pages=2)
    good = [ocr_page(made.path, n, tmp_path / "work", ocr_settings).pdf_path for n in (1, 2)]
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\nthis is not a PDF body\n")
    with pytest.raises(UnreadableFile) as caught:
        merge_pdfs([*good, bad], tmp_path / "out" / "doc.pdf")
    assert caught.value.code == "corrupt_pdf"
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_bbox_html_is_parsed_and_scaled():
    from ocr.textlayer import parse_bbox_html

    document = ('<page width="612" height="792"><word xMin="72.0" yMin="36.0" xMax="144.0" '
                'yMax="48.0">Metformin&amp;co</word><word xMin="1" yMin="1" xMax="2" '
                'yMax="2"> </word></page>')
    (word,) = parse_bbox_html(document, 150 / 72)
    assert (word.text, word.left, word.top, word.width, word.height) == (
        "Metformin&co", 150, 75, 150, 25)


def test_sixteen_bit_grayscale_scan_is_not_washed_out(chart, ocr_settings, tmp_path):
    import numpy as np

    made = chart("png")
    with Image.open(made.path) as page:
        wide = (np.asarray(page, dtype=np.uint16) * 257).astype(np.uint16)
    path = tmp_path / "sixteen.png"
    Image.fromarray(wide).save(path, dpi=(150, 150))
    result = ocr_page(path, 1, tmp_path / "work", ocr_settings)
    assert not result.blank and made.spec.mrn in result.text


def test_image_without_dpi_gives_a_letter_sized_pdf_page(chart, ocr_settings, tmp_path):
    made = chart("png")
    untagged = tmp_path / "untagged.png"
    with Image.open(made.path) as page:
        page.save(untagged)  # no pHYs chunk
    result = ocr_page(untagged, 1, tmp_path / "work", ocr_settings)
    assert result.dpi == 150
    width_in = float(PdfReader(result.pdf_path).pages[0].mediabox.width) / 72
    assert width_in == pytest.approx(8.5, abs=0.1)


def test_warm_engine_never_stops_a_worker_process_starting(ocr_settings, caplog):
    # A language that is not installed: the pool process starts, the log says why, and
    # the first page will fail with the engine's own message (tesseract-ocr-xyz).
    warm_engine(ocr_settings.replace(ocr_engine="tesserocr", ocr_language="xyz"))
    warned = [r for r in caplog.records if "could not load its model" in r.getMessage()]
    assert warned and "install tesseract-ocr-xyz" in warned[0].getMessage()
    assert warned[0].code == "OcrFailed"
    warm_engine(ocr_settings.replace(ocr_engine="tesserocr"))  # eng: loads, says nothing
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1
