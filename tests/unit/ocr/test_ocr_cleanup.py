"""Clean-up measurements on probe masks: blank, skew, sideways."""

from __future__ import annotations

from datetime import date

import pytest
from PIL import Image

from chartvault.synthetic import ChartSpec, render_page
from ocr import cleanup


def _page(**options: object) -> Image.Image:
    spec = ChartSpec(mrn="TST000001", patient_name="DEMOCASE, Bruno K.",
                     date_of_birth=date(1970, 1, 1), doc_type="Consultation",
                     service_date=date(2023, 3, 3), paragraphs=3, **options)  # type: ignore[arg-type]
    return render_page(spec, 1, dpi=100)[0]


def test_white_and_dusty_pages_are_blank():
    page = Image.new("L", (850, 1100), 255)
    assert cleanup.is_blank(cleanup.probe(page))
    for x in range(0, 850, 37):
        page.putpixel((x, (x * 7) % 1100), 0)
    assert cleanup.is_blank(cleanup.probe(page))


@pytest.mark.parametrize("paper", [255, 225])
def test_noisy_scan_of_empty_paper_is_blank(paper):
    import random

    from chartvault.synthetic import _noisy

    page = _noisy(Image.new("L", (1275, 1650), paper), random.Random(3))
    assert cleanup.is_blank(cleanup.probe(page))


def test_text_and_noisy_text_are_not_blank():
    assert not cleanup.is_blank(cleanup.probe(_page()))
    assert not cleanup.is_blank(cleanup.probe(_page(noise=True)))


@pytest.mark.parametrize("fade", [3, 6, 12])
def test_faint_text_is_not_blank(fade):
    # a light photocopy or a faded fax: black text at gray 170, 213 and 234 on white
    # (Tesseract reads all three); the cap at gray 160 made each of them blank
    page = _page().convert("L").point(lambda v: 255 - (255 - v) // fade)
    assert not cleanup.is_blank(cleanup.probe(page))


def test_white_on_black_page_is_not_blank():
    # a negative (an old photostat, a microfilm print): the paper is dark, the ink light
    from PIL import ImageOps

    assert not cleanup.is_blank(cleanup.probe(ImageOps.invert(_page().convert("L"))))


def test_shaded_empty_paper_is_blank():
    import numpy as np

    shade = np.tile(np.linspace(250, 215, 1275).astype(np.uint8), (1650, 1))
    assert cleanup.is_blank(cleanup.probe(Image.fromarray(shade)))


@pytest.mark.parametrize("skew", [-4.0, -2.0, 1.5, 3.0, 5.0])
def test_skew_is_measured(skew):
    assert cleanup.skew_angle(cleanup.probe(_page(skew=skew))) == pytest.approx(skew, abs=0.25)


def test_straight_page_is_left_alone():
    page = _page()
    assert cleanup.skew_angle(cleanup.probe(page)) == 0.0
    assert cleanup.deskew(page, 0.0) is page


def test_deskew_levels_the_page():
    page = _page(skew=3.0)
    level = cleanup.deskew(page, cleanup.skew_angle(cleanup.probe(page)))
    assert cleanup.skew_angle(cleanup.probe(level)) == 0.0


@pytest.mark.parametrize("turn,sideways", [(0, False), (90, True), (180, False), (270, True)])
def test_sideways_check(turn, sideways):
    assert cleanup.looks_sideways(cleanup.probe(_page(rotate=turn))) is sideways


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_rotate_upright_undoes_a_turn(turn):
    upright = _page()
    back = cleanup.rotate_upright(_page(rotate=turn), turn)
    assert back.tobytes() == upright.tobytes()


@pytest.mark.parametrize("noise", [False, True])
def test_upright_score_tells_upright_from_upside_down(noise):
    assert cleanup.upright_score(_page(noise=noise)) > cleanup.CLEARLY_UPRIGHT
    assert cleanup.upright_score(_page(noise=noise, rotate=180)) < cleanup.UPSIDE_DOWN


def test_upright_score_says_nothing_without_text():
    assert cleanup.upright_score(Image.new("L", (850, 1100), 255)) == 0.0
