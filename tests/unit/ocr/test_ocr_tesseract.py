"""TesseractEngine specifics (the subprocess edge); what every engine must do is in
test_ocr_engine_contract.py."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ocr.interface import OcrFailed, OcrTimeout
from ocr.tesseract import TesseractEngine, parse_tsv


@pytest.fixture(scope="module")
def engine() -> TesseractEngine:
    return TesseractEngine()


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-tesseract"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_runs_single_threaded(tmp_path):
    fake = _script(tmp_path, 'echo "$OMP_THREAD_LIMIT" > "$2.txt"; touch "$2.pdf" "$2.tsv"')
    result = TesseractEngine(fake).recognize(tmp_path / "x.png", language="eng", dpi=0,
                                             timeout=10)
    assert result.text == "1"


def test_unreadable_image_is_ocr_failed(engine, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(OcrFailed) as caught:
        engine.recognize(bad, language="eng", dpi=300, timeout=30)
    assert caught.value.__cause__ is None or not isinstance(caught.value.__cause__, OcrFailed)
    assert "tesseract exited" in caught.value.message


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
