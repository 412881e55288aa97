"""What every OcrEngine must do, run against each engine: the tesseract command
line (TesseractEngine) and Tesseract's C API kept loaded (TesserocrEngine)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from ocr.interface import OcrEngine, OcrFailed, OcrTimeout
from ocr.tesseract import TesseractEngine
from ocr.tesserocr_engine import TesserocrEngine

ENGINES = {"cli": TesseractEngine, "tesserocr": TesserocrEngine}


@pytest.fixture(scope="module", params=sorted(ENGINES))
def engine(request) -> OcrEngine:  # noqa: ANN001
    return ENGINES[request.param]()


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def _image_count(pdf: bytes, tmp_path: Path) -> int:
    path = tmp_path / "count.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return len(out.splitlines()) - 2


def test_is_an_ocr_engine(engine):
    assert isinstance(engine, OcrEngine)
    assert {"eng", "osd"} <= engine.languages()


def test_one_run_gives_text_words_confidence_and_pdf(engine, chart, char_error_rate, tmp_path):
    made = chart("png")
    result = engine.recognize(made.path, language="eng", dpi=150, timeout=60)
    assert char_error_rate(result.text, made.page_texts[0]) < 0.03
    assert result.pdf.startswith(b"%PDF") and not result.text_only
    assert _image_count(result.pdf, tmp_path) == 1
    assert result.words and 80 < result.confidence <= 100
    assert all(0 <= w.confidence <= 100 and w.text.strip() for w in result.words)
    mrn = next(w for w in result.words if w.text == made.spec.mrn)
    assert 0 < mrn.left < 1275 and 0 < mrn.top < 1650 // 3 and 10 < mrn.height < 60


def test_text_only_pdf_has_the_words_and_no_image(engine, chart, tmp_path):
    made = chart("png")
    result = engine.recognize(made.path, language="eng", dpi=150, timeout=60, text_only=True)
    assert result.text_only and _image_count(result.pdf, tmp_path) == 0
    assert made.spec.mrn in _pdf_text(result.pdf, tmp_path)


def test_warm_then_read(engine, chart):
    engine.warm("eng")
    made = chart("png", paragraphs=1)
    assert made.spec.mrn in engine.recognize(made.path, language="eng", dpi=150,
                                              timeout=60).text


def test_tesserocr_warm_loads_the_model_once_ahead_of_the_first_page(chart, monkeypatch):
    import tesserocr

    loaded, real = [], tesserocr.PyTessBaseAPI

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        loaded.append(kwargs.get("lang"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tesserocr, "PyTessBaseAPI", counting)
    engine = TesserocrEngine()
    engine.warm("eng")
    assert loaded == ["eng"]
    made = chart("png", paragraphs=1)
    engine.recognize(made.path, language="eng", dpi=150, timeout=60)
    assert loaded == ["eng"]  # the first page found it loaded


def test_tesserocr_warm_with_a_language_not_installed_says_which():
    with pytest.raises(OcrFailed, match="tesseract-ocr-xyz"):
        TesserocrEngine().warm("xyz")


def test_tesserocr_runs_the_same_tesseract_as_the_cli():
    # scripts/setup.sh builds tesserocr on Debian's libtesseract; PyPI's wheel bundles
    # another version, which reads a letter here and there differently.
    import tesserocr

    cli = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout
    assert tesserocr.tesseract_version().splitlines()[0] == cli.splitlines()[0]


@pytest.mark.parametrize("fmt", ["png", "tiff-g4"])
def test_engines_read_the_same_text(chart, fmt):
    made = chart(fmt, paragraphs=3)
    cli, api = (ENGINES[name]().recognize(made.path, language="eng", dpi=150, timeout=60)
                for name in ("cli", "tesserocr"))
    assert api.text == cli.text
    assert api.words == cli.words  # boxes and confidences too


def test_orientation_of_a_page_on_its_side(engine, chart, tmp_path):
    made = chart("png", dpi=150, paragraphs=2)
    turned = tmp_path / "turned.png"
    Image.open(made.path).transpose(Image.Transpose.ROTATE_90).save(turned)  # anticlockwise
    found = engine.orientation(turned, timeout=30)
    assert found.rotate == 90 and found.confidence > 1


def test_orientation_of_a_blank_page_is_upright_and_unsure(engine, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (600, 800), 255).save(blank)
    found = engine.orientation(blank, timeout=30)
    assert (found.rotate, found.confidence) == (0, 0.0)


def test_unreadable_image_is_ocr_failed(engine, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(OcrFailed) as caught:
        engine.recognize(bad, language="eng", dpi=300, timeout=30)
    assert not isinstance(caught.value, OcrTimeout) and caught.value.message


def test_missing_language_is_ocr_failed(engine, chart):
    with pytest.raises(OcrFailed):
        engine.recognize(chart("png", dpi=72).path, language="xxx", dpi=72, timeout=30)


def test_a_page_over_its_time_is_stopped_and_the_engine_goes_on(engine, chart, tmp_path):
    made = chart("png", dpi=300, paragraphs=8)
    page = Image.open(made.path)
    tall = Image.new("L", (page.width, page.height * 3), 255)
    for i in range(3):
        tall.paste(page, (0, i * page.height))
    big = tmp_path / "three-pages.png"
    tall.save(big, dpi=(300, 300))
    with pytest.raises(OcrTimeout) as caught:
        engine.recognize(big, language="eng", dpi=300, timeout=1)
    assert caught.value.code == "ocr_timeout"
    after = engine.recognize(chart("png").path, language="eng", dpi=150, timeout=60)
    assert after.words  # the same engine reads the next page


def test_tesserocr_without_its_data_says_what_to_set(tmp_path, chart):
    engine = TesserocrEngine(tmp_path / "no-tessdata")
    with pytest.raises(OcrFailed) as caught:
        engine.recognize(chart("png", dpi=72).path, language="eng", dpi=72, timeout=30)
    assert "CHARTVAULT_OCR_TESSDATA" in caught.value.message


def test_the_engine_is_chosen_by_setting_and_kept_per_process(ocr_settings):
    from ocr.service import default_engine

    chosen = default_engine(ocr_settings)  # the default: Tesseract kept loaded in-process
    assert isinstance(chosen, TesserocrEngine)
    assert default_engine(ocr_settings.replace(ocr_language="deu")) is chosen  # model kept
    cli = default_engine(ocr_settings.replace(ocr_engine="tesseract"))
    assert isinstance(cli, TesseractEngine)
