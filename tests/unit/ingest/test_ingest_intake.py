"""Intake in process (no OCR): splitting, manifests with page ranges, duplicates,
patients, quarantine release and discard."""

from __future__ import annotations

import io
import shutil
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from chartvault.db import session_scope
from chartvault.errors import BadInput, PolicyRefusal
from chartvault.models import AuditEvent, Document, Patient, QuarantineEntry
from ingest.barcodes import CoverSheet
from ingest.models import IntakeFile
from tests.support.ingest_stacks import three_patients, write_stack


def documents(settings) -> list[Document]:  # noqa: ANN001
    with session_scope(settings) as session:
        rows = session.scalars(select(Document).order_by(Document.created_at)).all()
        session.expunge_all()
        return rows


def test_a_thirty_page_stack_becomes_three_documents(intake, tmp_path: Path) -> None:
    covers = three_patients()
    stack = tmp_path / "stack.pdf"
    write_stack([("cover", covers[0], 9), ("cover", covers[1], 10), ("cover", covers[2], 8)],
                stack, dpi=150)
    assert len(PdfReader(stack).pages) == 30
    result = intake([stack])
    assert [(o.status, o.mrn, o.doc_type, o.pages, o.page_range) for o in result.outcomes] == [
        ("queued", covers[0].mrn, "discharge_summary", 9, "2-10"),
        ("queued", covers[1].mrn, "progress_notes", 10, "12-21"),
        ("queued", covers[2].mrn, "lab_results", 8, "23-30")]
    docs = documents(intake.settings)
    assert [d.page_count for d in docs] == [9, 10, 8]
    for doc in docs:  # each original is its own PDF of just its pages
        with intake.store.get(doc.original_key) as stream:
            assert len(PdfReader(io.BytesIO(stream.read())).pages) == doc.page_count
    with session_scope(intake.settings) as session:
        stored = session.scalars(select(IntakeFile)).one()
        assert stored.status == "split" and stored.pages == 30 and stored.object_key
        assert [p["pages"] for p in stored.parts] == ["2-10", "12-21", "23-30"]
        patients = {p.mrn: p for p in session.scalars(select(Patient))}
        for cover in covers:  # registered on first sight with the cover sheet's name/DOB
            assert patients[cover.mrn].name == cover.patient_name
            assert patients[cover.mrn].date_of_birth == cover.date_of_birth
    with intake.store.get(stored.object_key) as stream:  # the stack as scanned, kept
        assert len(PdfReader(io.BytesIO(stream.read())).pages) == 30
    again = intake([(stack, "stack-again.pdf")])
    assert [o.status for o in again.outcomes] == ["duplicate"]
    assert again.outcomes[0].duplicate_of == docs[0].id


def test_a_tiff_stack_with_patch_t_sheets_and_a_leading_part(intake, tmp_path: Path) -> None:
    covers = three_patients()
    stack = tmp_path / "stack.tif"
    write_stack([("none", None, 2), ("cover", covers[0], 2), ("patch", None, 1)], stack,
                dpi=150, fmt="tiff")
    result = intake([stack], mrn=covers[2].mrn, doc_type="consent")
    # Pages before the first sheet go with --mrn; a PATCH T sheet keeps the cover's patient.
    assert [(o.status, o.mrn, o.doc_type, o.page_range) for o in result.outcomes] == [
        ("queued", covers[2].mrn, "consent", "1-2"),
        ("queued", covers[0].mrn, "discharge_summary", "4-5"),
        ("queued", covers[0].mrn, "discharge_summary", "7")]
    assert [d.mime for d in documents(intake.settings)] == ["image/tiff"] * 3


def test_no_split_keeps_the_file_whole(intake, tmp_path: Path) -> None:
    covers = three_patients()
    stack = tmp_path / "stack.pdf"
    write_stack([("cover", covers[0], 2)], stack, dpi=150)
    result = intake([stack], mrn="TST000777", split=False)
    assert [(o.status, o.pages, o.page_range) for o in result.outcomes] == [("queued", 3, None)]


def test_manifest_page_ranges_split_a_file(intake, small_chart, tmp_path: Path) -> None:
    chart = small_chart("day.pdf", pages=6)
    manifest = tmp_path / "list.csv"
    manifest.write_text("filename,mrn,document_type,service_date,pages,patient_name\n"
                        "day.pdf,TST000001,consent,2024-02-03,1-2,\"SAMPLE, One\"\n"
                        "day.pdf,TST000002,lab_results,,3-4,\n")
    result = intake([manifest, chart])
    got = [(o.status, o.mrn, o.page_range, o.code) for o in result.outcomes]
    assert got == [("manifest", None, None, None),
                   ("queued", "TST000001", "1-2", None),
                   ("queued", "TST000002", "3-4", None),
                   ("quarantined", None, "5-6", "manifest_pages_missing")]
    docs = documents(intake.settings)
    assert docs[0].service_date == date(2024, 2, 3) and docs[0].doc_type == "consent"


def test_manifest_rows_that_overlap_or_reach_past_the_end(intake, small_chart,
                                                         tmp_path: Path) -> None:
    chart = small_chart("day.pdf", pages=2)
    manifest = tmp_path / "list.csv"
    manifest.write_text("filename,mrn,document_type,pages\n"
                        "day.pdf,TST000001,consent,1-2\nday.pdf,TST000002,consent,2-3\n")
    [_, outcome] = intake([manifest, chart]).outcomes
    assert outcome.code == "manifest_bad_pages" and "beyond" in outcome.reason


def test_patient_checks(intake, small_chart, settings) -> None:  # noqa: ANN001
    first = small_chart("a.pdf", seed=1)
    intake([first], mrn="TST000555", date_of_birth=date(1970, 1, 2))
    [mismatch] = intake([small_chart("b.pdf", seed=2)], mrn="TST000555",
                        date_of_birth=date(1980, 5, 5)).outcomes
    assert mismatch.code == "patient_mismatch"
    intake.settings = settings.replace(register_patients=False)
    [unknown] = intake([small_chart("c.pdf", seed=3)], mrn="TST000556").outcomes
    assert unknown.code == "unknown_patient"
    [known] = intake([small_chart("d.pdf", seed=4)], mrn="TST000555").outcomes
    assert known.status == "queued"


def test_release_with_corrections_and_discard(intake, small_chart, tmp_path: Path) -> None:
    from ingest.interface import IntakeOptions
    from ingest.quarantine import discard, list_entries, release

    good = small_chart("chart.pdf", seed=7)
    shutil.copyfile(good, tmp_path / "renamed.pdf")
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.4 nothing else")
    result = intake([good, (tmp_path / "renamed.pdf", "../x.pdf"), junk])
    missing, unsafe, corrupt = result.outcomes
    assert [o.code for o in result.outcomes] == ["missing_mrn", "unsafe_filename", "corrupt_pdf"]
    assert len(list_entries(intake.settings)) == 3

    options = IntakeOptions(actor="clerk", mrn="TST000999", doc_type="consent",
                            patient_name="SAMPLE, Released")
    released = release(intake.settings, intake.store, missing.quarantine_id, options,
                       intake.queued.append)
    assert released.status == "queued" and intake.queued == [released.document_id]
    with pytest.raises(PolicyRefusal):
        release(intake.settings, intake.store, missing.quarantine_id, options, print)
    # The same bytes under a corrected name: a duplicate of the one just released.
    again = release(intake.settings, intake.store, unsafe.quarantine_id, options, print,
                    filename="chart-copy.pdf")
    assert again.status == "duplicate" and again.duplicate_of == released.document_id
    with pytest.raises(BadInput) as caught:  # corrupt bytes: no metadata fixes them, the
        release(intake.settings, intake.store, corrupt.quarantine_id, options, print)
    assert caught.value.code == "not_releasable"  # entry stays open (and no Release shown)
    assert [e["id"] for e in list_entries(intake.settings)] == [corrupt.quarantine_id]
    with pytest.raises(BadInput):
        discard(intake.settings, intake.store, corrupt.quarantine_id, "clerk", " ")
    discard(intake.settings, intake.store, corrupt.quarantine_id, "clerk", "unreadable scan")
    assert list_entries(intake.settings) == []
    with session_scope(intake.settings) as session:
        entry = session.get(QuarantineEntry, corrupt.quarantine_id)
        assert entry.resolution == "discarded" and entry.resolved_by == "clerk"
        actions = session.scalars(select(AuditEvent.action)).all()
        assert {"quarantine", "quarantine_released", "quarantine_discarded"} <= set(actions)
        stored = session.scalars(select(IntakeFile).where(
            IntakeFile.filename == "chart.pdf")).one()
        assert stored.parts[0]["status"] == "queued"
        assert stored.parts[0]["document_id"] == released.document_id
    assert not list(intake.store.list("quarantine/" + corrupt.quarantine_id))


def test_cover_sheet_and_batch_views(intake, tmp_path: Path) -> None:
    from ingest.service import batch_files

    stack = tmp_path / "s.pdf"
    write_stack([("cover", CoverSheet(mrn="TST000321", doc_type="Consent"), 1),
                 ("cover", CoverSheet(mrn="TST000321", doc_type="consent"), 0)], stack)
    result = intake([stack])
    assert [(o.status, o.code) for o in result.outcomes] == [("queued", None),
                                                             ("empty", "empty_part")]
    [entry] = batch_files(intake.settings, result.batch_id)
    assert entry["status"] == "split" and entry["pages"] == 3


def test_a_bug_in_one_file_does_not_stop_the_batch(intake, small_chart, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.service as service

    covers = three_patients()
    stack = tmp_path / "stack.pdf"
    write_stack([("cover", covers[0], 1), ("cover", covers[1], 1)], stack)
    real_write = service.write_pages

    def flaky_write(path, kind, pages, out):  # noqa: ANN001, ANN202
        if pages == [4]:
            raise ValueError("damaged page")
        return real_write(path, kind, pages, out)

    monkeypatch.setattr(service, "write_pages", flaky_write)
    split = intake([stack])
    assert [(o.status, o.code) for o in split.outcomes] == [("queued", None),
                                                            ("quarantined", "split_failed")]

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("bug")

    monkeypatch.setattr(service, "iter_segments", broken)
    result = intake([(small_chart("a.pdf", seed=1), "a.pdf"), small_chart("b.pdf", seed=2)],
                    mrn="TST000123", split=True)
    assert [(o.status, o.code) for o in result.outcomes] == [
        ("quarantined", "intake_error"), ("quarantined", "intake_error")]
    assert "RuntimeError" in result.outcomes[0].reason
    fine = intake([small_chart("c.pdf", seed=3)], mrn="TST000123", split=False)
    assert fine.outcomes[0].status == "queued"


def test_a_stacks_first_part_is_queued_before_the_rest_is_searched(settings, tmp_path: Path
                                                                  ) -> None:  # noqa: ANN001
    from archive import open_store
    from ingest.interface import IncomingFile, IntakeOptions
    from ingest.service import ingest_files

    covers = three_patients()
    stack = tmp_path / "stack.pdf"
    write_stack([("cover", covers[0], 2), ("cover", covers[1], 2), ("cover", covers[2], 3)],
                stack)
    events: list[tuple[str, object]] = []

    def progress(event: str, **facts: object) -> None:
        if event == "page":
            events.append(("page", facts["number"]))

    result = ingest_files(settings, open_store(settings), [IncomingFile(stack, stack.name)],
                          IntakeOptions(actor="test"), lambda i: events.append(("queued", i)),
                          progress=progress)
    ids = [o.document_id for o in result.outcomes]
    assert [o.page_range for o in result.outcomes] == ["2-3", "5-6", "8-10"]
    # Each part is queued once the sheet after it is found: the next page is searched after.
    assert events == [("page", 1), ("page", 2), ("page", 3), ("page", 4), ("queued", ids[0]),
                      ("page", 5), ("page", 6), ("page", 7), ("queued", ids[1]),
                      ("page", 8), ("page", 9), ("page", 10), ("queued", ids[2])]


def test_a_search_that_breaks_off_keeps_the_parts_found_and_the_rest(
        intake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.service as service
    from ingest.interface import IntakeOptions
    from ingest.quarantine import release

    covers = three_patients()
    stack = tmp_path / "stack.pdf"
    write_stack([("cover", covers[0], 2), ("cover", covers[1], 2), ("cover", covers[2], 1)],
                stack)
    real = service.iter_segments

    def breaks_after_the_first(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        segments = real(*args, **kwargs)
        yield next(segments)
        raise MemoryError("a bug in the search")

    monkeypatch.setattr(service, "iter_segments", breaks_after_the_first)
    result = intake([stack])
    assert [(o.status, o.code, o.page_range) for o in result.outcomes] == [
        ("queued", None, "2-3"), ("quarantined", "split_failed", "4-8")]
    rest = result.outcomes[1]
    assert "pages 4-8 could not be searched for separator sheets (MemoryError)" in rest.reason
    with session_scope(intake.settings) as session:
        row = session.scalars(select(IntakeFile)).one()
        assert row.status == "split" and row.object_key  # the stack itself is archived
    released = release(intake.settings, intake.store, rest.quarantine_id,
                       IntakeOptions(actor="clerk", mrn=covers[1].mrn, doc_type="consent"),
                       intake.queued.append)
    assert released.status == "queued" and released.pages == 5
    assert intake.queued == [result.outcomes[0].document_id, released.document_id]


def test_duplex_backs_of_cover_sheets_are_not_chart_pages(intake, tmp_path: Path) -> None:
    covers = three_patients()
    stack = tmp_path / "duplex.pdf"
    write_stack([("duplex", covers[0], 2), ("duplex", covers[1], 1)], stack, dpi=150)
    result = intake([stack])
    assert [(o.mrn, o.page_range, o.pages) for o in result.outcomes] == [
        (covers[0].mrn, "3-4", 2), (covers[1].mrn, "7", 1)]
