"""Fixtures for the intake tests: in-process intake with a recording enqueue."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(_ROOT))

SAMPLES = (_ROOT.parent / "shared" / "samples").resolve()


class Intake:
    """``intake([paths or (path, name)], **options)`` -> IntakeResult; ``queued`` holds
    every id handed to enqueue."""

    def __init__(self, settings) -> None:  # noqa: ANN001
        from archive import open_store

        self.settings, self.store, self.queued = settings, open_store(settings), []

    def __call__(self, files, **options):  # noqa: ANN001, ANN204
        from ingest.interface import IncomingFile, IntakeOptions
        from ingest.service import ingest_files

        incoming = [IncomingFile(f, f.name) if isinstance(f, Path) else IncomingFile(*f)
                    for f in files]
        return ingest_files(self.settings, self.store, incoming,
                            IntakeOptions(actor="test", **options), self.queued.append)


@pytest.fixture
def intake(settings) -> Intake:  # noqa: ANN001
    return Intake(settings)


@pytest.fixture
def small_chart(tmp_path: Path) -> Callable[..., Path]:
    """A small synthetic scan (150 dpi, one paragraph a page) written to tmp_path/name."""
    from datetime import date

    from chartvault.synthetic import ChartSpec, make_chart

    def make(name: str, pages: int = 1, seed: int = 1, mrn: str = "TST000123",
             fmt: str = "pdf") -> Path:
        spec = ChartSpec(mrn=mrn, patient_name="TESTPATIENT, Alice Q.",
                         date_of_birth=date(1970, 1, 2), doc_type="progress_notes",
                         service_date=date(2024, 5, 6), pages=pages, seed=seed, paragraphs=1)
        return make_chart(spec, tmp_path / name, fmt=fmt, dpi=150).path

    return make
