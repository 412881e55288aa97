"""Intake and the records lifecycle: dates from each record's own facts, the object
ledger, scan stacks kept only while intake needs them (in process, no OCR)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from archive import ledger
from archive.ledger import Owner
from chartvault.db import session_scope
from chartvault.models import Document, StoredObject
from ingest.barcodes import CoverSheet
from ingest.models import IntakeFile
from tests.support.ingest_stacks import write_stack

COVERS = [CoverSheet(mrn="TST772001", doc_type="progress_note", patient_name="TESTPATIENT, A",
                     date_of_birth=date(1950, 1, 1)),
          CoverSheet(mrn="TST772002", doc_type="progress_note", patient_name="TESTPATIENT, B",
                     date_of_birth=date(1950, 1, 1))]


def _doc(settings, document_id: str) -> Document:  # noqa: ANN001
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        session.expunge(doc)
        return doc


def _ledger(settings, **where) -> list[StoredObject]:  # noqa: ANN001
    with session_scope(settings) as session:
        rows = list(session.scalars(select(StoredObject).filter_by(**where)))
        session.expunge_all()
        return rows


def test_a_back_scanned_record_gets_its_policy_date_and_no_lock(intake, small_chart) -> None:  # noqa: ANN001
    result = intake([small_chart("old.pdf")], mrn="TST772010", doc_type="progress_note",
                    service_date=date(1990, 1, 15))
    doc = _doc(intake.settings, result.outcomes[0].document_id)
    assert doc.retain_until == date(2000, 1, 15)  # 10 years after the encounter
    assert (doc.retention_basis, doc.retention_trigger, doc.retention_trigger_date) == (
        "policy", "last_encounter", date(1990, 1, 15))
    assert doc.locked_until is None
    info = intake.store.stat(doc.original_key, doc.original_version)
    assert info.retain_until is None  # ended before it was scanned: due at the next sweep
    [row] = _ledger(intake.settings, document_id=doc.id)
    assert (row.kind, row.owner_type, row.owner_id, row.retain_until) == (
        "original", "document", doc.id, None)
    assert row.sha256 == doc.sha256 and row.version_id == doc.original_version


def test_a_recent_record_is_locked_until_its_policy_date(intake, small_chart) -> None:  # noqa: ANN001
    served = date.today() - timedelta(days=400)
    result = intake([small_chart("recent.pdf")], mrn="TST772011", doc_type="progress_note",
                    service_date=served)
    doc = _doc(intake.settings, result.outcomes[0].document_id)
    policy = served.replace(year=served.year + 10)
    assert doc.retain_until == doc.locked_until == policy
    info = intake.store.stat(doc.original_key, doc.original_version)
    assert info.retain_until == datetime(policy.year, policy.month, policy.day, tzinfo=UTC)


def test_the_minimum_retention_window_locks_but_keeps_the_policy_date(settings, small_chart,  # noqa: ANN001
                                                                     monkeypatch) -> None:
    from chartvault.settings import get_settings, reset_settings_cache
    from tests.unit.ingest.conftest import Intake

    monkeypatch.setenv("CHARTVAULT_MINIMUM_RETENTION_DAYS", "30")
    reset_settings_cache()
    intake = Intake(get_settings())
    result = intake([small_chart("old.pdf")], mrn="TST772012", doc_type="progress_note",
                    service_date=date(1990, 1, 15))
    doc = _doc(intake.settings, result.outcomes[0].document_id)
    assert doc.retain_until == date(2000, 1, 15)
    assert doc.locked_until == date.today() + timedelta(days=30)
    info = intake.store.stat(doc.original_key, doc.original_version)
    assert info.retain_until.date() == date.today() + timedelta(days=30)


def test_incomplete_facts_get_the_default_until_they_arrive(intake, small_chart) -> None:  # noqa: ANN001
    from retention.apply import record_encounter

    result = intake([small_chart("undated.pdf")], mrn="TST772013", doc_type="progress_note")
    doc = _doc(intake.settings, result.outcomes[0].document_id)
    default = date.today() + timedelta(days=round(365.25 * 10))
    assert (doc.retention_basis, doc.retain_until, doc.locked_until) == (
        "intake_default", default, default)
    # The encounter date arrives: the record gets its policy date, earlier than the
    # default (set, not extended); the store's lock is never shortened.
    record_encounter(intake.settings, "TST772013", date(1995, 6, 1), actor="test",
                     store=intake.store)
    doc = _doc(intake.settings, doc.id)
    assert (doc.retention_basis, doc.retain_until) == ("policy", date(2005, 6, 1))
    assert doc.locked_until == default
    assert intake.store.stat(doc.original_key).retain_until.date() == default
    from retention.destruction import due_documents

    assert doc.id not in {d.document_id for d in due_documents(intake.settings)}


def test_a_stack_is_in_the_ledger_and_goes_once_its_parts_are_settled(intake, tmp_path: Path,  # noqa: ANN001
                                                                     monkeypatch) -> None:
    from ingest.artifacts import release_stacks, stacks_holding

    stack = tmp_path / "stack.pdf"
    write_stack([("cover", COVERS[0], 1), ("cover", COVERS[1], 1)], stack, dpi=150)
    result = intake([stack], service_date=date(1990, 1, 15))
    made = [o.document_id for o in result.outcomes]
    assert len(made) == 2
    [row] = _ledger(intake.settings, kind="stack")
    assert row.owner_type == "intake_file" and row.key.startswith("batches/")
    assert row.retain_until is not None  # CHARTVAULT_INTAKE_LOCK_HOURS (24) by default
    with session_scope(intake.settings) as session:
        holding = stacks_holding(session, made)
        assert set(holding) == set(made)
        assert "not yet indexed" in holding[made[0]].waiting_for
    assert release_stacks(intake.settings, intake.store) == []  # parts not indexed yet
    with session_scope(intake.settings) as session:
        for doc in session.scalars(select(Document)):
            doc.status = "indexed"
    # settled, but the short lock holds it: the hourly sweep deletes it after
    assert release_stacks(intake.settings, intake.store) == []
    assert list(intake.store.list_versions(row.key))
    with session_scope(intake.settings) as session:  # the lock ends (as in a day's time)
        session.get(StoredObject, row.id).retain_until = date.today() - timedelta(days=2)
    monkeypatch.setattr("archive.filesystem.utcnow",
                        lambda: datetime.now(UTC) + timedelta(days=2))
    assert release_stacks(intake.settings, intake.store) == [row.key]
    assert not list(intake.store.list_versions(row.key))
    [gone] = _ledger(intake.settings, kind="stack")
    assert gone.deleted_at is not None
    with session_scope(intake.settings) as session:
        record = session.scalars(select(IntakeFile)).one()
        assert record.sha256 and [p["pages"] for p in record.parts] == ["2", "4"]
        assert ledger.objects_of(session, Owner("intake_file", record.id)) == []


def test_a_discarded_quarantine_entry_leaves_no_bytes(intake, small_chart) -> None:  # noqa: ANN001
    from ingest.quarantine import discard

    result = intake([small_chart("no-mrn.pdf")], doc_type="progress_note")  # no MRN given
    outcome = result.outcomes[0]
    assert outcome.status == "quarantined"
    [row] = _ledger(intake.settings, owner_type="quarantine")
    assert row.owner_id == outcome.quarantine_id and row.retain_until is None
    assert list(intake.store.list_versions(row.key))
    discard(intake.settings, intake.store, outcome.quarantine_id, "test", "unreadable")
    assert not list(intake.store.list_versions(row.key))
    assert _ledger(intake.settings, owner_type="quarantine")[0].deleted_at is not None


def test_destruction_waits_for_a_scan_stack_then_takes_it_with_the_record(  # noqa: ANN001
        intake, tmp_path: Path, monkeypatch) -> None:
    from retention.destruction import approve, execute, propose
    from search import open_index
    from tests.support.retention_seed import add_users

    stack = tmp_path / "stack.pdf"
    write_stack([("cover", COVERS[0], 1), ("cover", COVERS[1], 1)], stack, dpi=150)
    result = intake([stack], service_date=date(1990, 1, 15))
    with session_scope(intake.settings) as session:  # as OCR leaves them
        for doc in session.scalars(select(Document)):
            doc.status = "indexed"
    [row] = _ledger(intake.settings, kind="stack")
    add_users(intake.settings)
    proposal = propose(intake.settings, actor="scheduler")
    assert len(proposal.items) == 2  # 10 years after 1990: due, the stack aside
    approve(intake.settings, proposal.id, user="alice")
    approve(intake.settings, proposal.id, user="bob")
    index = open_index(intake.settings)
    done = execute(intake.settings, proposal.id, actor="alice", index=index)
    assert done.status == "partial"
    assert {i.status for i in done.items} == {"waiting"}
    assert all(row.key in i.reason and "still holds its pages" in i.reason for i in done.items)
    for outcome in result.outcomes:  # nothing of either record went while the stack stays
        assert list(intake.store.list_versions(f"documents/{outcome.document_id}/"))
    # a day later the stack's short lock has ended: the next execution takes it first
    monkeypatch.setattr("archive.filesystem.utcnow", lambda: datetime.now(UTC) + timedelta(days=2))
    monkeypatch.setattr("retention.destruction.store_now",
                        lambda: datetime.now(UTC) + timedelta(days=2))
    monkeypatch.setattr("archive.ledger.today_utc", lambda: date.today() + timedelta(days=2))
    done = execute(intake.settings, proposal.id, actor="alice", index=open_index(intake.settings))
    assert done.status == "executed" and {i.status for i in done.items} == {"destroyed"}
    assert list(intake.store.list_versions("batches/")) == []
    assert list(intake.store.list_versions("documents/")) == []
