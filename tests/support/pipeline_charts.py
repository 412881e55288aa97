"""One synthetic chart taken in by the real intake, for the OCR stage's in-process tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from archive import open_store
from chartvault.settings import Settings
from chartvault.synthetic import ChartSpec, make_chart
from ingest.service import IncomingFile, IntakeOptions, ingest_files


def ingest_chart(settings: Settings, folder: Path, pages: int = 3,
                 enqueue: Callable[[str], object] | None = None) -> str:
    """The id of the one document made of a ``pages``-page chart; ``enqueue`` (if given)
    is called with it, as intake calls the OCR stage after its commit."""
    spec = ChartSpec(mrn="TST000777", patient_name="TESTPATIENT, Carol",
                     date_of_birth=date(1960, 3, 4), doc_type="lab_results",
                     service_date=date(2023, 1, 2), pages=pages, seed=5, paragraphs=1)
    chart = make_chart(spec, folder / "chart.pdf", dpi=150)
    queued: list[str] = []

    def record(document_id: str) -> None:
        queued.append(document_id)
        if enqueue is not None:
            enqueue(document_id)

    result = ingest_files(settings, open_store(settings), [IncomingFile(chart.path, "c.pdf")],
                          IntakeOptions(actor="test", mrn=spec.mrn, doc_type=spec.doc_type),
                          record)
    assert queued == result.queued_ids and len(queued) == 1
    return queued[0]
