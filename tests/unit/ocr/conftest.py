"""Fixtures for the OCR tests: small synthetic pages, settings, a CER helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from rapidfuzz.distance import Levenshtein

from chartvault.settings import Settings
from chartvault.synthetic import ChartSpec, SyntheticChart, fake_patients, make_chart, spec_for

SAMPLES = (Path(__file__).resolve().parents[3] / "../shared/samples").resolve()
SMALL_DPI = 150


def cer(text: str, truth: str) -> float:
    """Character error rate after folding white space, as in the samples' README."""
    got, want = " ".join(text.split()), " ".join(truth.split())
    return Levenshtein.distance(got, want) / max(1, len(want))


@pytest.fixture
def char_error_rate() -> Callable[[str, str], float]:
    return cer


@pytest.fixture
def ocr_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", ocr_dpi=SMALL_DPI, ocr_page_timeout=60)


@pytest.fixture
def chart(tmp_path: Path) -> Callable[..., SyntheticChart]:
    """``chart(fmt="png", dpi=150, **spec_options)``: a short synthetic chart page."""
    made = iter(range(1000))

    def build(fmt: str = "png", dpi: int = SMALL_DPI, seed: int = 5,
              **options: object) -> SyntheticChart:
        options.setdefault("paragraphs", 1)
        spec: ChartSpec = spec_for(fake_patients(1, seed)[0], seed, **options)
        suffix = fmt.split("-")[0]
        return make_chart(spec, tmp_path / f"chart-{next(made)}.{suffix}", fmt, dpi)

    return build


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"real scans not found at {SAMPLES} (the shared samples folder)")
    return SAMPLES
