"""Holds by saved search and their release; the nightly sweep task and its schedule."""

from __future__ import annotations

from datetime import date

import pytest

from archive import keys
from chartvault.db import session_scope
from chartvault.errors import BadInput, NotFound, PolicyRefusal
from chartvault.models import Document
from chartvault.policy import DEFAULT_POLICY_FILE, load_policy
from retention.holds import covered_ids, list_holds, place_hold, release_hold


def _held(store, document_id: str) -> bool:  # noqa: ANN001
    return all(v.legal_hold for v in store.list_versions(keys.document_prefix(document_id)))


def test_hold_by_saved_search_and_release(settings, store, seeder) -> None:  # noqa: ANN001
    match = seeder.document("TST000701", date(2001, 1, 1), text="quetzalcoatl incident")
    other = seeder.document("TST000702", date(2001, 1, 1), text="ordinary visit")
    hold = place_hold(settings, actor="alice", case_id="Q-1", reason="incident review",
                      query="quetzalcoatl")
    assert hold.document_ids == (match,) and hold.query == "quetzalcoatl"
    assert covered_ids(settings, hold.id) == [match]
    assert _held(store, match) and not _held(store, other)
    second = place_hold(settings, actor="bob", case_id="Q-2", reason="second matter",
                        document_ids=[match])
    release_hold(settings, hold.id, actor="alice", reason="review closed")
    assert _held(store, match)  # still under the second hold
    release_hold(settings, second.id, actor="bob", reason="closed")
    assert not _held(store, match)
    with session_scope(settings) as session:
        assert not session.get(Document, match).hold
    with pytest.raises(PolicyRefusal):
        release_hold(settings, second.id, actor="bob", reason="again")
    assert [h.case_id for h in list_holds(settings)] == ["Q-2", "Q-1"]
    assert list_holds(settings, include_released=False) == []


def test_hold_input_is_checked(settings, seeder) -> None:  # noqa: ANN001
    with pytest.raises(BadInput):
        place_hold(settings, actor="a", case_id="", reason="r", mrns=["TST000703"])
    with pytest.raises(BadInput):
        place_hold(settings, actor="a", case_id="c", reason="r")
    with pytest.raises(NotFound):
        place_hold(settings, actor="a", case_id="c", reason="r", document_ids=["nosuchdoc"])
    with pytest.raises(BadInput):
        release_hold(settings, "whatever", actor="a", reason=" ")


def test_nightly_sweep_reevaluates_then_proposes(settings, seeder, tmp_path, monkeypatch
                                                 ) -> None:  # noqa: ANN001
    from chartvault.settings import reset_settings_cache
    from retention.tasks import sweep

    due = seeder.document("TST000704", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    longer = seeder.document("TST000705", date(2001, 1, 1), retain_until=date(2011, 1, 1),
                             doc_type="birth_register")
    proposal_id = sweep()
    with session_scope(settings) as session:
        assert session.get(Document, due).policy_version == load_policy(settings).version
        assert session.get(Document, longer).retain_until.year == 9999  # permanent class
    from retention.destruction import get_destruction

    assert [i.document_id for i in get_destruction(settings, proposal_id).items] == [due]
    assert sweep() is None  # nothing new

    # a policy change: every document is evaluated again under the new version
    policy = tmp_path / "policy.yaml"
    policy.write_text(DEFAULT_POLICY_FILE.read_text() + "\n# amended\n")
    monkeypatch.setenv("CHARTVAULT_RETENTION_POLICY_FILE", str(policy))
    reset_settings_cache()
    sweep()
    with session_scope(settings) as session:
        version = session.get(Document, due).policy_version
    assert version == load_policy(settings.replace(retention_policy_file=policy)).version
    from retention.service import policy_history

    history = policy_history(settings)
    assert {h["version"] for h in history} == {version, load_policy(settings.replace(
        retention_policy_file=DEFAULT_POLICY_FILE)).version}
    assert history[0]["text"].endswith("# amended\n")


def test_the_sweep_is_on_the_beat_schedule() -> None:
    from chartvault.celery_app import TASK_MODULES, app

    assert "retention.tasks" in TASK_MODULES
    entry = app.conf.beat_schedule["nightly-retention-sweep"]
    assert entry["task"] == "retention.sweep"
    assert entry["schedule"].hour == {3} and entry["schedule"].minute == {15}
