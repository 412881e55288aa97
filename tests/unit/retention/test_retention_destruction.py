"""The destruction workflow on the filesystem store: propose, two approvals, execute."""

from __future__ import annotations

import json
from datetime import date

import pytest

from archive import certificate_key, keys
from chartvault.db import session_scope
from chartvault.errors import PermissionDenied, PolicyRefusal
from chartvault.models import AuditEvent, Document, Page, StoredObject
from retention.certificate import certificate_bytes
from retention.destruction import approve, cancel, due_documents, execute, propose
from retention.holds import place_hold, release_hold
from retention.models import DestructionItem


def _seed(seeder):  # noqa: ANN001, ANN202
    doomed = [seeder.document("TST000201", date(2001, 1, 5), retain_until=date(2011, 1, 5)),
              seeder.document("TST000202", date(2003, 7, 9), retain_until=date(2013, 7, 9),
                              doc_type="discharge_summary", pages=3)]
    held = seeder.document("TST000203", date(2002, 2, 2), retain_until=date(2012, 2, 2))
    young = seeder.document("TST000204", date(2024, 1, 1), retain_until=date(2034, 1, 1))
    return doomed, held, young


def _confirmed(settings) -> str:  # noqa: ANN001
    proposal = propose(settings, actor="scheduler")
    approve(settings, proposal.id, user="alice")
    approve(settings, proposal.id, user="bob")
    return proposal.id


def test_end_to_end_destruction_on_the_filesystem(settings, store, index, seeder) -> None:  # noqa: ANN001
    doomed, held, young = _seed(seeder)
    place_hold(settings, actor="alice", case_id="CASE-7", reason="subpoena", mrns=["TST000203"])
    assert sorted(d.document_id for d in due_documents(settings)) == sorted(doomed)
    proposal = propose(settings, actor="scheduler")
    assert sorted(i.document_id for i in proposal.items) == sorted(doomed)
    assert due_documents(settings) == []  # listed once only
    with pytest.raises(PolicyRefusal):
        execute(settings, proposal.id, actor="carol")
    approve(settings, proposal.id, user="alice")
    with pytest.raises(PolicyRefusal, match="two-person"):
        approve(settings, proposal.id, user="alice")
    with pytest.raises(PolicyRefusal):
        execute(settings, proposal.id, actor="carol")
    approve(settings, proposal.id, user="carol")  # an admin confirms
    done = execute(settings, proposal.id, actor="carol")
    assert done.status == "executed"
    assert {i.status for i in done.items} == {"destroyed"}
    for document_id in doomed:
        assert list(store.list_versions(keys.document_prefix(document_id))) == []
    with session_scope(settings) as session:
        for document_id in doomed:
            doc = session.get(Document, document_id)
            assert doc.status == "destroyed" and doc.destroyed_at is not None
            assert doc.filename == "" and doc.sha256 == ""
            assert session.query(Page).filter_by(document_id=document_id).count() == 0
            rows = session.query(StoredObject).filter_by(document_id=document_id).all()
            assert len(rows) == 3 and all(r.deleted_at for r in rows)  # the ledger's record
        assert session.get(Document, held).status == "indexed"
        actions = [e.action for e in session.query(AuditEvent).order_by(AuditEvent.seq)]
    assert actions.count("destroy") == 2
    assert {"destruction_propose", "destruction_approve", "destruction_confirm",
            "destruction_certificate", "hold_place"} <= set(actions)
    from search import open_index

    fresh = open_index(settings)  # another process's view: what a later search sees
    index_ids = fresh.document_ids()
    fresh.close()
    assert not set(doomed) & index_ids and {held, young} <= index_ids
    assert len(list(store.list_versions(keys.document_prefix(held)))) == 3
    cert = json.loads(certificate_bytes(settings, proposal.id, "json", actor="alice"))
    assert sorted(r["document_id"] for r in cert["records"]) == sorted(doomed)
    assert cert["record_count"] == 2 and cert["page_count"] == 5
    for record in cert["records"]:  # every version destroyed, with its hash
        assert len(record["objects"]) == 3
        assert {o["key"] for o in record["objects"]} == {
            keys.original_key(record["document_id"], "ab" * 32, ".pdf"),
            keys.searchable_pdf_key(record["document_id"])}
    assert cert["inclusive_dates"] == {"from": "2001-01-05", "to": "2003-07-09"}
    assert (cert["proposed_by"], cert["approved_by"], cert["confirmed_by"],
            cert["executed_by"]) == ("scheduler", "alice", "carol", "carol")
    assert cert["policy"]["version"] and cert["facility"]
    pdf = certificate_bytes(settings, proposal.id, "pdf", actor="alice")
    assert pdf.startswith(b"%PDF")
    # the certificate is kept permanently, and re-running changes nothing
    info = store.stat(certificate_key(proposal.id, ".pdf"))
    assert info.retain_until.year == 2099 and info.legal_hold
    assert execute(settings, proposal.id, actor="carol").status == "executed"
    assert len(list(store.list_versions("certificates/"))) == 2


def test_roles_and_the_two_person_rule(settings, seeder) -> None:  # noqa: ANN001
    _seed(seeder)
    proposal = propose(settings)
    with pytest.raises(PermissionDenied):
        approve(settings, proposal.id, user="dave")  # a clerk
    with pytest.raises(PermissionDenied):
        approve(settings, proposal.id, user="nobody")
    with pytest.raises(PermissionDenied):
        approve(settings, proposal.id, user="carol")  # an admin confirms, never approves first
    approve(settings, proposal.id, user="bob")
    with pytest.raises(PolicyRefusal):
        approve(settings, proposal.id, user="bob")
    with pytest.raises(PermissionDenied):
        approve(settings, proposal.id, user="dave")
    with pytest.raises(PermissionDenied):
        cancel(settings, proposal.id, user="dave", reason="a clerk may not")
    cancelled = cancel(settings, proposal.id, user="alice", reason="review again")
    assert cancelled.status == "cancelled"
    assert len(due_documents(settings)) == 3  # free to be proposed again


def test_a_hold_placed_after_the_proposal_is_respected(settings, store, seeder) -> None:  # noqa: ANN001
    doomed, unheld, _ = _seed(seeder)  # no hold on the third patient in this test
    destruction_id = _confirmed(settings)
    hold = place_hold(settings, actor="bob", case_id="LATE-1", reason="new claim",
                      document_ids=[doomed[0]])
    done = execute(settings, destruction_id, actor="alice")
    status = {i.document_id: (i.status, i.reason) for i in done.items}
    assert status[doomed[0]] == ("skipped", "under legal hold")
    assert status[doomed[1]][0] == "destroyed"
    assert len(list(store.list_versions(keys.document_prefix(doomed[0])))) == 3
    cert = json.loads(certificate_bytes(settings, destruction_id, "json", actor="alice"))
    assert sorted(r["document_id"] for r in cert["records"]) == sorted([doomed[1], unheld])
    assert cert["not_destroyed"] == [{"document_id": doomed[0], "reason": "under legal hold"}]
    release_hold(settings, hold.id, actor="bob", reason="claim settled")
    assert [d.document_id for d in due_documents(settings)] == [doomed[0]]


def test_a_store_lock_past_the_policy_date_keeps_the_record_off_the_list(settings, store,  # noqa: ANN001
                                                                        seeder) -> None:
    from datetime import UTC, datetime, timedelta

    locked = seeder.document("TST000205", date(2001, 1, 1), retain_until=date(2011, 1, 1),
                             object_retention=datetime.now(UTC) + timedelta(days=1))
    assert propose(settings, actor="scheduler") is None  # due when the lock ends
    with session_scope(settings) as session:
        assert session.get(Document, locked).locked_until == (
            datetime.now(UTC) + timedelta(days=1)).date()
    assert len(list(store.list_versions(keys.document_prefix(locked)))) == 3


def test_the_store_is_checked_again_at_execution(settings, store, index, seeder) -> None:  # noqa: ANN001
    from datetime import UTC, datetime, timedelta
    from io import BytesIO

    doomed = seeder.document("TST000205", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    destruction_id = _confirmed(settings)
    # A version the ledger never recorded (a crash between store and catalog), locked.
    store.put(keys.derived_key(doomed, "late.json"), BytesIO(b"{}"),
              retain_until=datetime.now(UTC) + timedelta(days=1))
    done = execute(settings, destruction_id, actor="alice")
    assert done.status == "partial"
    assert done.items[0].status == "waiting"
    assert "locks" in done.items[0].reason
    assert len(list(store.list_versions(keys.document_prefix(doomed)))) == 4  # nothing went
    again = execute(settings, destruction_id, actor="alice")  # retried, still waiting
    assert again.items[0].status == "waiting" and again.status == "partial"
    first = json.loads(certificate_bytes(settings, destruction_id, "json", actor="alice"))
    assert first["record_count"] == 0 and first["waiting"][0]["document_id"] == doomed


def test_the_nightly_sweep_retries_a_partial_list_once_the_lock_ends(  # noqa: ANN001
        settings, store, index, seeder, monkeypatch) -> None:
    from datetime import UTC, datetime, timedelta
    from io import BytesIO

    from retention.tasks import sweep

    doomed = seeder.document("TST000207", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    destruction_id = _confirmed(settings)
    store.put(keys.derived_key(doomed, "late.json"), BytesIO(b"{}"),
              retain_until=datetime.now(UTC) + timedelta(days=1))
    assert execute(settings, destruction_id, actor="alice").status == "partial"
    later = lambda: datetime.now(UTC) + timedelta(days=2)  # noqa: E731 - the lock has ended
    monkeypatch.setattr("archive.filesystem.utcnow", later)
    monkeypatch.setattr("retention.destruction.store_now", later)
    sweep()
    done = execute(settings, destruction_id, actor="alice")
    assert done.status == "executed" and done.items[0].status == "destroyed"
    assert list(store.list_versions(keys.document_prefix(doomed))) == []
    cert = json.loads(certificate_bytes(settings, destruction_id, "json", actor="alice"))
    assert cert["certificate_id"] == f"{destruction_id}-2" and cert["waiting"] == []
    assert len(cert["records"][0]["objects"]) == 4  # the three recorded and the late one
    assert len(list(store.list_versions("certificates/"))) == 4  # two certificates, kept


def test_nothing_due_makes_no_proposal(settings, seeder) -> None:  # noqa: ANN001
    seeder.document("TST000206", date(2024, 1, 1), retain_until=date(2034, 1, 1))
    assert propose(settings) is None


def test_no_record_is_destroyed_while_the_index_files_still_hold_it(settings, store, index,  # noqa: ANN001
                                                                   seeder, monkeypatch) -> None:
    from search import SearchUnavailable

    doomed = seeder.document("TST000208", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    destruction_id = _confirmed(settings)

    def outage(self) -> None:  # noqa: ANN001
        raise SearchUnavailable("the index could not be rewritten")

    monkeypatch.setattr(type(index), "expunge_deleted", outage)
    with pytest.raises(SearchUnavailable):
        execute(settings, destruction_id, actor="alice", index=index)
    with session_scope(settings) as session:
        assert {i.status for i in session.query(DestructionItem).filter_by(
            destruction_id=destruction_id)} == {"deleting"}
        assert not session.query(AuditEvent).filter_by(action="destroy").count()
    assert list(store.list_versions("certificates/")) == []
    monkeypatch.undo()
    done = execute(settings, destruction_id, actor="alice")
    assert done.status == "executed" and done.items[0].status == "destroyed"
    cert = json.loads(certificate_bytes(settings, destruction_id, "json", actor="alice"))
    assert cert["records"][0]["document_id"] == doomed
    assert len(cert["records"][0]["objects"]) == 3
