"""Applying retain-until dates and holds to the catalog and every stored version."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from archive import ObjectLocked, keys
from chartvault.db import session_scope
from chartvault.models import AuditEvent, Document, Patient, StoredObject
from chartvault.policy import load_policy
from retention.apply import apply_retention, correct_date_of_birth, record_encounter
from retention.holds import place_hold


def _doc(settings, document_id: str) -> Document:  # noqa: ANN001
    with session_scope(settings) as session:
        return session.get(Document, document_id)


def _versions(store, document_id: str):  # noqa: ANN001, ANN202
    return list(store.list_versions(keys.document_prefix(document_id)))


def test_apply_sets_the_policy_date_on_every_version(settings, store, seeder) -> None:  # noqa: ANN001
    recent = date.today() - timedelta(days=30)
    document_id = seeder.document("TST000101", recent)
    until = apply_retention(settings, document_id)
    assert until == date(recent.year + 10, recent.month, recent.day)
    doc = _doc(settings, document_id)
    assert doc.policy_version == load_policy(settings).version
    assert doc.retention_class == "health_record"
    versions = _versions(store, document_id)
    assert len(versions) == 3  # two versions of the original and the derived PDF
    for info in versions:
        assert info.retain_until == datetime(until.year, until.month, until.day, tzinfo=UTC)
    with session_scope(settings) as session:
        rows = session.query(StoredObject).filter_by(document_id=document_id).all()
        assert {r.retain_until for r in rows} == {until}
        assert session.query(AuditEvent).filter_by(action="retention_set").count() == 1
    # the store refuses to delete, and the date cannot be shortened
    with pytest.raises(ObjectLocked):
        store.delete_version(versions[0].key, versions[0].version_id)
    with pytest.raises(ObjectLocked):
        store.set_retention(versions[0].key, versions[0].version_id,
                            datetime.now(UTC) + timedelta(days=2))


def test_apply_is_idempotent(settings, seeder) -> None:  # noqa: ANN001
    document_id = seeder.document("TST000102", date.today() - timedelta(days=3))
    first = apply_retention(settings, document_id)
    assert apply_retention(settings, document_id) == first
    with session_scope(settings) as session:
        assert session.query(AuditEvent).filter_by(action="retention_set").count() == 1


def test_a_new_encounter_extends_an_adults_other_documents(settings, store, seeder) -> None:  # noqa: ANN001
    seeder.patient("TST000103", date(1960, 1, 1))
    old = seeder.document("TST000103", date(2020, 1, 10))
    assert apply_retention(settings, old) == date(2030, 1, 10)
    newer = seeder.document("TST000103", date(2024, 5, 6))
    apply_retention(settings, newer)
    assert _doc(settings, old).retain_until == date(2034, 5, 6)
    assert all(v.retain_until.date() == date(2034, 5, 6) for v in _versions(store, old))
    # an encounter recorded without a document extends them too
    record_encounter(settings, "TST000103", date(2025, 1, 2), actor="alice")
    assert _doc(settings, old).retain_until == date(2035, 1, 2)
    with session_scope(settings) as session:
        assert session.get(Patient, "TST000103").last_encounter == date(2025, 1, 2)


def test_a_minors_chart_follows_the_date_of_birth(settings, seeder) -> None:  # noqa: ANN001
    seeder.patient("TST000104", date(2015, 8, 9))
    document_id = seeder.document("TST000104", date(2019, 3, 4))
    assert apply_retention(settings, document_id) == date(2036, 8, 9)  # 18 + 3 years


def test_a_corrected_date_of_birth_can_extend_but_never_shorten(settings, seeder) -> None:  # noqa: ANN001
    seeder.patient("TST000105", date(1950, 1, 1))
    document_id = seeder.document("TST000105", date(2020, 1, 1))
    assert apply_retention(settings, document_id) == date(2030, 1, 1)
    correct_date_of_birth(settings, "TST000105", date(2015, 1, 1), actor="alice")
    assert _doc(settings, document_id).retain_until == date(2036, 1, 1)
    correct_date_of_birth(settings, "TST000105", date(1950, 1, 1), actor="alice")
    assert _doc(settings, document_id).retain_until == date(2036, 1, 1)


def test_a_shorter_policy_never_shortens_an_applied_date(settings, seeder, tmp_path) -> None:  # noqa: ANN001
    document_id = seeder.document("TST000106", date(2024, 2, 2))
    assert apply_retention(settings, document_id) == date(2034, 2, 2)
    short = tmp_path / "short.yaml"
    short.write_text("classes: {c: {trigger: service_date, years: 1}}\ndefault_class: c\n")
    shorter = settings.replace(retention_policy_file=short)
    assert apply_retention(shorter, document_id) == date(2034, 2, 2)
    assert _doc(settings, document_id).policy_version == load_policy(shorter).version


def test_a_patient_hold_covers_documents_ingested_later(settings, store, seeder) -> None:  # noqa: ANN001
    first = seeder.document("TST000107", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    hold = place_hold(settings, actor="alice", case_id="CASE-1", reason="litigation",
                      mrns=["TST000107"])
    assert hold.documents_covered == 1
    assert _doc(settings, first).hold
    assert all(v.legal_hold for v in _versions(store, first))
    later = seeder.document("TST000107", date(2002, 2, 2), retain_until=date(2012, 2, 2))
    assert not _doc(settings, later).hold
    apply_retention(settings, later)  # what the finish step triggers
    assert _doc(settings, later).hold
    assert all(v.legal_hold for v in _versions(store, later))
