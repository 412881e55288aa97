"""Access report, accounting of disclosures and break-the-glass."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from chartvault import access, audit
from chartvault.audit_models import Disclosure
from chartvault.db import session_scope
from chartvault.errors import BadInput, NotFound
from chartvault.models import AuditEvent, Batch, Document, Patient, utcnow


def _catalog(settings) -> None:  # noqa: ANN001
    with session_scope(settings) as session:
        for mrn in ("TST000001", "TST000002"):
            session.add(Patient(mrn=mrn, name="TESTPATIENT, Bob", date_of_birth=date(1980, 1, 1)))
        session.add(Batch(id="b1", created_by="tester", source="cli"))
        session.flush()
        for doc_id, mrn, restricted in (("d1", "TST000001", False), ("d2", "TST000001", True),
                                        ("d3", "TST000002", False)):
            session.add(Document(id=doc_id, batch_id="b1", mrn=mrn, doc_type="consult",
                                 filename="x.pdf", mime="application/pdf", original_key="k",
                                 original_version="v", sha256="0" * 64, size=1, page_count=1,
                                 restricted=restricted))


def test_open_document_records_the_read_with_purpose(settings) -> None:  # noqa: ANN001
    _catalog(settings)
    with session_scope(settings) as session:
        doc = access.open_document(session, "web:nurse", "d1", action="download",
                                   purpose="continuity of care", client="10.0.0.9")
        assert doc.id == "d1"
    with session_scope(settings) as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "download"))
        assert event.mrn == "TST000001" and event.detail == {"purpose": "continuity of care"}
        with pytest.raises(NotFound):
            access.open_document(session, "web:nurse", "nope")
        with pytest.raises(BadInput):
            access.open_document(session, "web:nurse", "d1", action="delete")


def test_restricted_document_needs_a_reason_and_the_refusal_is_kept(settings) -> None:  # noqa: ANN001
    _catalog(settings)
    with pytest.raises(access.ReasonRequired) as caught, session_scope(settings) as session:
        access.open_document(session, "web:clerk", "d2")
    assert caught.value.http_status == 403
    with pytest.raises(BadInput), session_scope(settings) as session:
        access.open_document(session, "web:clerk", "d2", reason="x")  # too short
    with session_scope(settings) as session:
        access.open_document(session, "web:nurse", "d2", reason="patient in ED, consult")
    with session_scope(settings) as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        assert actions == ["break_glass_refused", "break_glass", "view"]
        assert audit.verify(session).ok
        listed = access.break_glass_events(session)
        assert len(listed) == 1 and listed[0].access.reason == "patient in ED, consult"
        assert listed[0].mrn == "TST000001" and listed[0].reviewed_by is None
        access.review_break_glass(session, "privacy-officer", listed[0].access.seq, "justified")
    with session_scope(settings) as session:
        reviewed = access.break_glass_events(session)[0]
        assert reviewed.reviewed_by == "privacy-officer" and reviewed.review_note == "justified"
        assert access.break_glass_events(session, unreviewed_only=True) == []
        with pytest.raises(NotFound):
            access.review_break_glass(session, "privacy-officer", 1)  # a refusal, not a glass break


def test_access_report_lists_reads_searches_and_disclosures(settings) -> None:  # noqa: ANN001
    _catalog(settings)
    with session_scope(settings) as session:
        access.open_document(session, "web:nurse", "d1", purpose="treatment")
        access.open_document(session, "web:other", "d3")  # another patient
        access.record_search(session, "web:clerk", "knee", mrns=["TST000001", "TST000002"],
                             hits=2)
        access.record_search(session, "web:clerk", "TST000001 knee", mrns=[], hits=0)
        access.record_disclosure(session, "him:roi", "d1", recipient="Dr. Example, Clinic",
                                 purpose="continuity of care", description="discharge summary")
    with session_scope(settings) as session:
        report = access.access_report(session, "TST000001")
    assert [e.action for e in report.entries] == ["view", "search", "disclose"]
    assert report.users == ["him:roi", "web:clerk", "web:nurse"]
    assert report.entries[0].purpose == "treatment"
    assert len(report.disclosures) == 1
    disclosure = report.disclosures[0]
    assert disclosure.recipient == "Dr. Example, Clinic" and disclosure.audit_seq is not None
    assert report.as_dict()["disclosures"][0]["purpose"] == "continuity of care"


def test_accounting_of_disclosures_covers_six_years(settings) -> None:  # noqa: ANN001
    _catalog(settings)
    now = utcnow()
    with session_scope(settings) as session:
        for years in (1, 5, 7):
            session.add(Disclosure(document_id="d1", mrn="TST000001", recipient=f"r{years}",
                                   purpose="legal", description="", disclosed_by="roi",
                                   disclosed_at=now - timedelta(days=365 * years)))
    with session_scope(settings) as session:
        listed = access.accounting_of_disclosures(session, "TST000001", now=now)
        assert [d.recipient for d in listed] == ["r5", "r1"]
        with pytest.raises(BadInput):
            access.record_disclosure(session, "roi", "d1", recipient=" ", purpose="x")


@pytest.mark.integration
def test_access_report_on_postgres(cv_env, postgres_url, monkeypatch) -> None:  # noqa: ANN001
    from chartvault.settings import get_settings, reset_settings_cache

    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", postgres_url)
    reset_settings_cache()
    settings = get_settings()
    _catalog(settings)
    with session_scope(settings) as session:
        access.record_search(session, "web:clerk", "knee", mrns=["TST000001"], hits=1)
        access.record_disclosure(session, "roi", "d1", recipient="Clinic", purpose="care")
        access.open_document(session, "web:nurse", "d2", reason="emergency access")
    with session_scope(settings) as session:
        report = access.access_report(session, "TST000001")
        assert [e.action for e in report.entries] == ["search", "disclose", "break_glass",
                                                       "view"]
        assert len(report.disclosures) == 1 and audit.verify(session).ok


def test_marking_restricted_is_audited(settings) -> None:  # noqa: ANN001
    _catalog(settings)
    with session_scope(settings) as session:
        with pytest.raises(BadInput):
            access.set_restricted(session, "privacy", "d1", True, reason="")
        access.set_restricted(session, "privacy", "d1", True, reason="behavioral health")
        access.set_restricted(session, "privacy", "d1", True, reason="again: no new event")
    with session_scope(settings) as session:
        assert session.get(Document, "d1").restricted
        with pytest.raises(access.ReasonRequired):
            access.open_document(session, "web:nurse", "d1")
    with session_scope(settings) as session:
        access.set_restricted(session, "privacy", "d1", False, reason="reviewed")
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        assert actions == ["restrict", "break_glass_refused", "unrestrict"]


def test_cli_restrict_access_report_and_break_glass_list(settings) -> None:  # noqa: ANN001
    import json

    from click.testing import CliRunner

    from chartvault.cli import main

    _catalog(settings)
    runner = CliRunner()
    done = runner.invoke(main, ["audit", "restrict", "d1", "--reason", "behavioral health"])
    assert done.exit_code == 0 and "restricted" in done.output
    with session_scope(settings) as session:
        access.open_document(session, "web:nurse", "d1", reason="on call, patient in ED")
        access.record_disclosure(session, "roi", "d1", recipient="Insurer", purpose="payment")
    report = json.loads(runner.invoke(main, ["audit", "access", "TST000001", "--json"]).output)
    assert [e["action"] for e in report["entries"]] == ["break_glass", "view", "disclose"]
    assert report["disclosures"][0]["recipient"] == "Insurer"
    listed = json.loads(runner.invoke(main, ["audit", "break-glass", "--json"]).output)
    assert listed[0]["reason"] == "on call, patient in ED" and listed[0]["reviewed_by"] is None
    done = runner.invoke(main, ["audit", "review", str(listed[0]["seq"]), "--note", "ok"])
    assert done.exit_code == 0
    assert runner.invoke(main, ["audit", "break-glass", "--unreviewed", "--json"]).output \
        .strip() == "[]"
    refused = runner.invoke(main, ["audit", "review", "1"])
    assert refused.exit_code == 66  # not a break-the-glass event
