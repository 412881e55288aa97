"""TesseractEngine against the real tesseract binary, on small synthetic pages."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from PIL import Image

from ocr.interface import OcrEngine, OcrFailed, OcrTimeout
from ocr.tesseract import TesseractEngine, parse_tsv


@pytest.fixture(scope="module")
def engine() -> TesseractEngine:
    return TesseractEngine()


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-tesseract"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_is_an_ocr_engine(engine):
    assert isinstance(engine, OcrEngine)
    assert {"eng", "osd"} <= engine.languages()


def test_one_run_gives_text_words_confidence_and_pdf(engine, chart, char_error_rate):
    made = chart("png")
    result = engine.recognize(made.path, language="eng", dpi=150, timeout=60)
    assert char_error_rate(result.text, made.page_texts[0]) < 0.03
    assert result.pdf.startswith(b"%PDF")
    assert result.words and 80 < result.confidence <= 100
    assert all(0 <= w.confidence <= 100 and w.text.strip() for w in result.words)


def test_runs_single_threaded(tmp_path):
    fake = _script(tmp_path, 'echo "$OMP_THREAD_LIMIT" > "$2.txt"; touch "$2.pdf" "$2.tsv"')
    result = TesseractEngine(fake).recognize(tmp_path / "x.png", language="eng", dpi=0,
                                             timeout=10)
    assert result.text == "1"


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
    assert caught.value.__cause__ is None or not isinstance(caught.value.__cause__, OcrFailed)
    assert "tesseract exited" in caught.value.message


def test_missing_language_is_ocr_failed(engine, chart):
    with pytest.raises(OcrFailed):
        engine.recognize(chart("png", dpi=72).path, language="xxx", dpi=72, timeout=30)


def test_missing_binary_says_what_to_install(tmp_path):
    engine = TesseractEngine(str(tmp_path / "no-such-tesseract"))
    with pytest.raises(OcrFailed) as caught:
        engine.recognize(tmp_path / "x.png", language="eng", dpi=300, timeout=5)
    assert "tesseract-ocr" in caught.value.message
    assert isinstance(caught.value.__cause__, OSError)


def test_timeout_is_translated(tmp_path):
    engine = TesseractEngine(_script(tmp_path, "sleep 5"))
    with pytest.raises(OcrTimeout) as caught:
        engine.recognize(tmp_path / "x.png", language="eng", dpi=300, timeout=1)
    assert caught.value.code == "ocr_timeout"


def test_parse_tsv_keeps_real_words_only():
    tsv = "\n".join([
        "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext",
        "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t",
        "5\t1\t1\t1\t1\t1\t10\t20\t30\t12\t96.5\tMetformin",
        "5\t1\t1\t1\t1\t2\t45\t20\t5\t12\t10.0\t ",
        "5\t1\t1\t1\t1\t3\tx\t20\t5\t12\t90\tbroken",
        "5\t1\t1\t1\t1\t4\t55\t20\t8\t12\t91\t\"quoted",
    ])
    words = parse_tsv(tsv)
    assert [w.text for w in words] == ["Metformin", '"quoted']
    assert (words[0].left, words[0].top, words[0].width, words[0].height) == (10, 20, 30, 12)
