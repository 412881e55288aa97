"""The hash chain, its head and the daily anchors: any edit is caught."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from archive import ObjectLocked, open_store
from chartvault import audit
from chartvault.audit_tasks import load_anchors, verify_all, write_anchor
from chartvault.db import session_scope
from chartvault.models import AuditEvent, AuditHead, utcnow
from tests.support.audit_tamper import rehash_from


def _append(settings, n: int, start: int = 0) -> None:  # noqa: ANN001
    with session_scope(settings) as session:
        for i in range(start, start + n):
            audit.record(session, "tester", "view", object_type="document",
                         object_id=f"d{i}", mrn="TST000001", detail={"n": i})


def test_chain_verifies_and_head_matches(settings) -> None:  # noqa: ANN001
    _append(settings, 4)
    report = verify_all(settings)
    assert report.ok and report.events == 4 and report.head_seq == 4


def test_edit_without_rehash_is_caught_at_that_event(settings) -> None:  # noqa: ANN001
    _append(settings, 5)
    with session_scope(settings) as session:
        session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(
            detail={"n": 99}))
    report = verify_all(settings)
    assert not report.ok and report.first_broken_seq == 3
    assert "does not match its hash" in report.problem


def test_rehashed_chain_passes_alone_but_not_against_the_anchor(settings) -> None:  # noqa: ANN001
    _append(settings, 3)
    anchor = write_anchor(settings)  # anchors seq 3; the anchor itself is event 4
    assert anchor.seq == 3 and anchor.key == "audit/anchors/" + anchor.day.isoformat() + ".json"
    _append(settings, 3, start=3)
    rehash_from(settings, 2, actor="mallory")
    with session_scope(settings) as session:
        assert audit.verify(session).ok  # the chain alone cannot tell
    report = verify_all(settings)
    assert not report.ok
    assert report.first_broken_seq == 1
    assert "re-hashed" in report.problem and anchor.day.isoformat() in report.problem


def test_second_anchor_narrows_the_damaged_range(settings) -> None:  # noqa: ANN001
    _append(settings, 2)
    write_anchor(settings)  # anchors 2, event 3 records it
    _append(settings, 2, start=2)  # events 4, 5
    write_anchor(settings)  # anchors 5 (a second version of today's anchor), event 6
    rehash_from(settings, 4, actor="mallory")
    report = verify_all(settings)
    assert report.first_broken_seq == 3  # anchor at 2 still matches: damage is in 3..5
    assert report.anchors == 2


def test_truncated_tail_is_caught_by_head_and_anchor(settings) -> None:  # noqa: ANN001
    _append(settings, 3)
    write_anchor(settings)
    with session_scope(settings) as session:
        for event in session.scalars(select(AuditEvent).where(AuditEvent.seq >= 3)):
            session.delete(event)
    report = verify_all(settings)
    assert not report.ok and report.first_broken_seq == 3 and "missing" in report.problem
    # resetting the head as well still leaves the anchor
    with session_scope(settings) as session:
        prev = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 2))
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=2, hash=prev))
    report = verify_all(settings)
    assert not report.ok and report.first_broken_seq == 3 and "anchor" in report.problem


def test_anchor_is_retained_in_the_store(settings) -> None:  # noqa: ANN001
    _append(settings, 1)
    anchor = write_anchor(settings)
    store = open_store(settings)
    info = store.stat(anchor.key, anchor.version_id)
    assert info.retain_until is not None
    assert info.retain_until.date() >= date.today() + timedelta(days=365 * 6)
    with pytest.raises(ObjectLocked):
        store.delete_version(anchor.key, anchor.version_id)
    anchors, problems = load_anchors(store)
    assert [a.seq for a in anchors] == [1] and not problems


def test_garbage_anchor_is_reported(settings) -> None:  # noqa: ANN001
    from io import BytesIO

    _append(settings, 1)
    open_store(settings).put("audit/anchors/2020-01-01.json", BytesIO(b"{not json"))
    report = verify_all(settings)
    assert not report.ok and "unreadable anchor" in report.problem


def test_anchor_json_round_trip() -> None:
    anchor = audit.Anchor(date(2026, 1, 2), 7, "ab" * 32, datetime(2026, 1, 2, 0, 5))
    assert audit.Anchor.from_json(anchor.to_json()) == anchor
    with pytest.raises(ValueError):
        audit.Anchor.from_json(b'{"format": "other"}')


def test_events_filter_by_time_and_mrn(settings) -> None:  # noqa: ANN001
    _append(settings, 2)
    with session_scope(settings) as session:
        audit.record(session, "tester", "view", mrn="TST000002")
        assert len(list(audit.events(session, mrn="TST000002"))) == 1
        assert len(list(audit.events(session, since=utcnow() + timedelta(hours=1)))) == 0
        row = audit.flat_row(audit.event_dict(next(audit.events(session))))
        assert row["detail"] == '{"n":0}' and len(row["hash"]) == 64


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chartvault", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=120)


def test_cli_verify_export_and_exit_code(cv_env, settings, tmp_path) -> None:  # noqa: ANN001
    _append(settings, 3)
    assert _cli("audit", "anchor", env=cv_env).returncode == 0
    good = _cli("audit", "verify", env=cv_env)
    assert good.returncode == 0 and "verifies" in good.stdout, good.stderr
    out = tmp_path / "events.csv"
    done = _cli("audit", "export", "--mrn", "TST000001", "--format", "csv", "-o", str(out),
                env=cv_env)
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("seq,at,actor,action") and len(lines) == 4
    as_json = _cli("audit", "export", "--format", "json", "--from", "2000-01-01", "--to",
                   date.today().isoformat(), env=cv_env)
    assert as_json.returncode == 0 and '"audit_anchor"' in as_json.stdout
    rehash_from(settings, 2, actor="mallory")
    bad = _cli("audit", "verify", env=cv_env)
    assert bad.returncode == 65
    assert "audit_chain_broken" in bad.stderr and "first broken event: 1" in bad.stderr


@pytest.mark.integration
def test_anchors_catch_a_rehashed_chain_on_postgres(cv_env, postgres_url, monkeypatch) -> None:  # noqa: ANN001
    from chartvault.settings import get_settings, reset_settings_cache

    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", postgres_url)
    reset_settings_cache()
    settings = get_settings()
    _append(settings, 3)
    write_anchor(settings)
    _append(settings, 2, start=3)
    assert verify_all(settings).ok
    rehash_from(settings, 1, detail={"n": 42})
    report = verify_all(settings)
    assert not report.ok and report.first_broken_seq == 1 and "re-hashed" in report.problem


def test_verify_is_independent_of_the_database_time_zone(settings) -> None:  # noqa: ANN001
    from datetime import timezone

    _append(settings, 2)
    with session_scope(settings) as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    for event in events:  # as a PostgreSQL session with TimeZone=Europe/Berlin returns them
        event.at = audit._aware(event.at).astimezone(timezone(timedelta(hours=2)))
    assert audit.verify_chain(events).ok
