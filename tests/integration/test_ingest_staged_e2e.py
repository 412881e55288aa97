"""A staged upload taken in by a real worker (ingest.take_staged), split and OCR'd."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.ingest_stacks import enqueue_elsewhere, three_patients, write_stack

pytestmark = pytest.mark.slow


def test_staged_stack_is_split_by_the_worker(settings, tmp_path: Path) -> None:  # noqa: ANN001
    from archive import open_store
    from chartvault.cli.documents import wait_for, worker_if_embedded
    from chartvault.db import session_scope
    from ingest.interface import IncomingFile, IntakeOptions
    from ingest.models import IntakeFile
    from ingest.staging import stage_files

    covers = three_patients()
    stack = tmp_path / "stack.pdf"
    write_stack([("cover", covers[0], 1), ("patch", None, 1)], stack)
    staged_ids: list[str] = []
    result = stage_files(settings, open_store(settings), [IncomingFile(stack, "stack.pdf")],
                         IntakeOptions(actor="web:clerk", source="web"), staged_ids.append)
    [staged] = result.outcomes
    with worker_if_embedded(settings, True) as worker:
        enqueue_elsewhere("ingest.tasks.enqueue_file", staged_ids)
        deadline = time.monotonic() + 120
        while True:
            with session_scope(settings) as session:
                row = session.scalars(select(IntakeFile).where(
                    IntakeFile.id == staged.intake_file_id)).one()
                status, parts = row.status, list(row.parts)
            if status not in ("staged", "splitting"):
                break
            assert time.monotonic() < deadline, "the worker did not take the staged file in"
            time.sleep(0.5)
        assert status == "split" and [p["pages"] for p in parts] == ["2", "4"]
        final = wait_for(settings, [p["document_id"] for p in parts], 180, False, worker)
    assert set(final.values()) == {"indexed"}
