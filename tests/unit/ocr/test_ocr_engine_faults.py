"""ocr_page with fault-injecting fake engines (after OCRmyPDF's tests/plugins).

No tesseract here: the fakes check what the service asks of an engine, how
often, within which time budget, and that engine errors come through intact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from chartvault.types import WordBox
from ocr import cleanup
from ocr.interface import OcrEngine, OcrFailed, OcrTimeout, Orientation, Recognition
from ocr.service import ocr_page

PDF = b"%PDF-1.4 fake"


@dataclass
class FakeEngine:
    """Answers from a script; records every call and the timeout it was given."""

    confidences: list[float] = field(default_factory=lambda: [95.0])
    rotate: int = 0
    osd_confidence: float = 10.0
    fail_with: Exception | None = None
    sleep: float = 0.0
    calls: list[tuple[str, int]] = field(default_factory=list)

    def recognize(self, image: Path, *, language: str, dpi: int, timeout: int,
                  text_only: bool = False) -> Recognition:
        self.calls.append(("recognize", timeout))
        time.sleep(self.sleep)
        if self.fail_with is not None:
            raise self.fail_with
        confidence = self.confidences.pop(0) if len(self.confidences) > 1 else self.confidences[0]
        word = WordBox("word", 1, 1, 5, 5, confidence)
        return Recognition(text=f"text at {confidence}", words=(word,), confidence=confidence,
                           pdf=PDF)

    def orientation(self, image: Path, *, timeout: int) -> Orientation:
        self.calls.append(("orientation", timeout))
        return Orientation(rotate=self.rotate, confidence=self.osd_confidence)

    def languages(self) -> set[str]:
        return {"eng"}

    def warm(self, language: str) -> None:
        self.calls.append(("warm", 0))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def scan(chart) -> Path:
    return chart("png", dpi=100).path


@pytest.fixture
def orientation_unclear(monkeypatch):  # noqa: ANN201
    """As for a page without enough Latin text lines to judge ascenders by."""
    monkeypatch.setattr(cleanup, "upright_score", lambda image: 0.0)


def test_fake_is_an_engine():
    assert isinstance(FakeEngine(), OcrEngine)


def test_upright_page_costs_one_engine_run(scan, ocr_settings, tmp_path):
    engine = FakeEngine()
    result = ocr_page(scan, 1, tmp_path, ocr_settings, engine)
    assert engine.names() == ["recognize"]
    assert result.text == "text at 95.0" and result.pdf_path.read_bytes() == PDF


def test_blank_page_never_reaches_the_engine(tmp_path, ocr_settings):
    blank = tmp_path / "blank.png"
    Image.new("L", (850, 1100), 250).save(blank)
    engine = FakeEngine()
    assert ocr_page(blank, 1, tmp_path / "w", ocr_settings, engine).blank
    assert engine.calls == []


def test_sideways_page_asks_for_orientation_first(chart, ocr_settings, tmp_path):
    engine = FakeEngine(rotate=90)
    result = ocr_page(chart("png", dpi=100, rotate=90).path, 1, tmp_path, ocr_settings, engine)
    assert engine.names() == ["orientation", "recognize"] and result.rotation == 90


def test_upside_down_page_asks_for_orientation_first(chart, ocr_settings, tmp_path):
    engine = FakeEngine(rotate=180)
    result = ocr_page(chart("png", dpi=100, rotate=180).path, 1, tmp_path, ocr_settings, engine)
    assert engine.names() == ["orientation", "recognize"] and result.rotation == 180


def test_poor_reading_of_a_clearly_upright_page_is_not_blamed_on_orientation(
        scan, ocr_settings, tmp_path):
    engine = FakeEngine(confidences=[30.0])
    assert ocr_page(scan, 1, tmp_path, ocr_settings, engine).confidence == 30.0
    assert engine.names() == ["recognize"]


@pytest.mark.usefixtures("orientation_unclear")
def test_doubtful_reading_is_retried_upside_down_and_the_better_kept(scan, ocr_settings,
                                                                     tmp_path):
    engine = FakeEngine(confidences=[30.0, 90.0], rotate=180)
    result = ocr_page(scan, 1, tmp_path, ocr_settings, engine)
    assert engine.names() == ["recognize", "orientation", "recognize"]
    assert result.rotation == 180 and result.confidence == 90.0


@pytest.mark.usefixtures("orientation_unclear")
def test_worse_second_reading_is_discarded(scan, ocr_settings, tmp_path):
    engine = FakeEngine(confidences=[50.0, 20.0], rotate=180)
    result = ocr_page(scan, 1, tmp_path, ocr_settings, engine)
    assert result.rotation == 0 and result.confidence == 50.0
    with Image.open(result.images["large"]) as image, Image.open(scan) as original:
        assert (result.width, result.height) == original.size
        assert image.width == min(1000, original.width)
        assert image.height == round(original.height * image.width / original.width)


@pytest.mark.usefixtures("orientation_unclear")
def test_unsure_orientation_is_not_acted_on(scan, ocr_settings, tmp_path):
    engine = FakeEngine(confidences=[30.0], rotate=180, osd_confidence=0.4)
    result = ocr_page(scan, 1, tmp_path, ocr_settings, engine)
    assert engine.names() == ["recognize", "orientation"] and result.rotation == 0


@pytest.mark.parametrize("error", [OcrFailed("engine crashed: exit 134"),
                                   OcrTimeout("engine took too long")])
def test_engine_errors_come_through_unchanged(scan, ocr_settings, tmp_path, error):
    with pytest.raises(OcrFailed) as caught:
        ocr_page(scan, 1, tmp_path, ocr_settings, FakeEngine(fail_with=error))
    assert caught.value is error and caught.value.code == error.code


def test_engine_gets_the_page_budget_as_its_timeout(scan, ocr_settings, tmp_path):
    engine = FakeEngine()
    ocr_page(scan, 1, tmp_path, ocr_settings.replace(ocr_page_timeout=7), engine)
    assert 1 <= engine.calls[0][1] <= 7


@pytest.mark.usefixtures("orientation_unclear")
def test_page_budget_is_shared_by_every_step(scan, ocr_settings, tmp_path):
    engine = FakeEngine(confidences=[10.0], sleep=2.1)  # doubtful: would ask OSD next
    with pytest.raises(OcrTimeout) as caught:
        ocr_page(scan, 1, tmp_path, ocr_settings.replace(ocr_page_timeout=2), engine)
    assert "CHARTVAULT_OCR_PAGE_TIMEOUT" in caught.value.message
    assert engine.names() == ["recognize"]


def test_orientation_is_asked_at_most_once(chart, ocr_settings, tmp_path):
    engine = FakeEngine(confidences=[20.0], rotate=0)  # looks upside down, engine says no
    ocr_page(chart("png", dpi=100, rotate=180).path, 1, tmp_path, ocr_settings, engine)
    assert engine.names() == ["orientation", "recognize"]
