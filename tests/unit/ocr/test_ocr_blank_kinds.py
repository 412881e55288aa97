"""The blank check never throws away a page Tesseract reads (issue 21).

Every page kind of ``tests.support.page_kinds`` is written as a scanner would write it,
rasterised as the pipeline does (``ocr.rasterize``) and given to the blank check
(``ocr.cleanup``). A page called blank must be one from which raw Tesseract, on the
very same pixels, reads no word; empty paper must still be called blank.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from chartvault.settings import Settings
from ocr import cleanup
from ocr.rasterize import Raster, rasterize
from tests.support.page_kinds import PageKind, bilevel, blank_kinds, page_kinds, text_page

pytestmark = pytest.mark.slow


def _raster(kind: PageKind, folder: Path) -> Raster:
    settings = Settings(home=folder / "home")
    return rasterize(kind.write(folder), kind.kind, 1, folder / "work", settings, 120)


def _called_blank(raster: Raster) -> bool:
    return cleanup.is_blank(cleanup.probe(raster.image))


def _raw_tesseract_words(raster: Raster, folder: Path) -> list[str]:
    """The words ``tesseract`` itself reads from the raster's pixels (two or more letters
    or digits: a stray mark read as "|" or "." is not a word)."""
    png = folder / "same-pixels.png"
    raster.image.save(png, dpi=(raster.dpi, raster.dpi))
    out = subprocess.run(["tesseract", str(png), "stdout", "--dpi", str(raster.dpi)],
                         capture_output=True, text=True, check=True, timeout=120,
                         env={**os.environ, "OMP_THREAD_LIMIT": "1"}).stdout
    return [w for w in out.split() if sum(c.isalnum() for c in w) >= 2]


def test_no_page_called_blank_holds_a_word_tesseract_reads(tmp_path):
    wrong = {}
    for kind in page_kinds():
        raster = _raster(kind, tmp_path)
        if _called_blank(raster):
            words = _raw_tesseract_words(raster, tmp_path)
            if words:
                wrong[kind.name] = " ".join(words[:6])
    assert not wrong, f"called blank, but tesseract reads words: {wrong}"


def test_empty_paper_is_still_blank(tmp_path):
    kinds = blank_kinds()
    assert {k.name.split()[0] for k in kinds} >= {"white", "shaded", "dusty", "noisy"}
    not_blank = [k.name for k in kinds if not _called_blank(_raster(k, tmp_path))]
    assert not not_blank


def test_phototest_sized_bilevel_page_is_read(tmp_path):
    # the case: a 640x480 1-bit TIFF at 200 dpi, like Tesseract's phototest.tif
    page = bilevel(text_page(200).crop((160, 160, 800, 640)))
    kind = PageKind("phototest", page, 200, "tiff-g4", blank=False)
    raster = _raster(kind, tmp_path)
    assert raster.image.size == (640, 480)
    assert not _called_blank(raster)
    assert len(_raw_tesseract_words(raster, tmp_path)) > 10
