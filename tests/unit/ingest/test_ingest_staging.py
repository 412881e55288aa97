"""Staged intake: the upload durable at once, a worker takes each file in later."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from chartvault.db import session_scope
from ingest.models import IntakeFile
from tests.support.ingest_stacks import three_patients, write_stack


def test_stage_then_take_in(settings, tmp_path: Path, small_chart) -> None:  # noqa: ANN001
    from archive import open_store
    from ingest.interface import IncomingFile, IntakeOptions
    from ingest.staging import stage_files, take_staged

    store = open_store(settings)
    covers = three_patients()
    stack = tmp_path / "stack.pdf"
    write_stack([("cover", covers[0], 1), ("cover", covers[1], 2)], stack)
    chart = small_chart("a.pdf")
    manifest = tmp_path / "m.csv"
    manifest.write_text("filename,mrn,document_type,service_date,pages\n"
                        "a.pdf,TST000001,consent,2024-01-02,1\n")
    files = [IncomingFile(manifest, "m.csv"), IncomingFile(stack, "stack.pdf"),
             IncomingFile(chart, "a.pdf"), IncomingFile(chart, "../a.pdf")]
    staged_ids: list[str] = []
    result = stage_files(settings, store, files, IntakeOptions(actor="web:clerk", source="web"),
                         staged_ids.append)
    assert [o.status for o in result.outcomes] == ["manifest", "staged", "staged",
                                                   "quarantined"]
    assert len(staged_ids) == 2 and len(list(store.list("staging/"))) == 2

    queued: list[str] = []
    made = [take_staged(settings, store, record, queued.append) for record in staged_ids]
    assert [[(o.status, o.mrn, o.page_range) for o in outcomes] for outcomes in made] == [
        [("queued", covers[0].mrn, "2"), ("queued", covers[1].mrn, "4-5")],
        [("queued", "TST000001", None)]]
    assert len(queued) == 3
    assert take_staged(settings, store, staged_ids[0], queued.append) == []  # idempotent
    assert len(queued) == 3 and list(store.list("staging/")) == []
    with session_scope(settings) as session:
        statuses = session.scalars(select(IntakeFile.status).where(
            IntakeFile.batch_id == result.batch_id).order_by(IntakeFile.created_at)).all()
    assert statuses == ["split", "archived", "quarantined"]
