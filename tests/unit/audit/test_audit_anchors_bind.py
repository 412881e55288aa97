"""Issue 22 finding 7: anchors that bind.

With the anchor object moved away, `audit verify` reported "0 anchors" and passed
after an event was edited and the chain re-hashed. The chain records every anchor it
was given (an ``audit_anchor`` event), so a missing one now fails the check; the
report says how many events no anchor binds yet; each anchor can go to a second place.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from archive import open_store
from chartvault import audit
from chartvault.audit_tasks import verify_all, write_anchor
from chartvault.db import session_scope
from tests.support.audit_tamper import rehash_from


def _append(settings, n: int) -> None:  # noqa: ANN001
    with session_scope(settings) as session:
        for i in range(n):
            audit.record(session, "tester", "view", object_type="document",
                         object_id=f"d{i}", mrn="TST000001", detail={"n": i})


def test_an_anchor_moved_away_fails_the_check(settings, tmp_path) -> None:  # noqa: ANN001
    _append(settings, 3)
    anchor = write_anchor(settings)
    _append(settings, 2)
    assert verify_all(settings).ok
    store = open_store(settings)
    path = store.version_path(anchor.key, anchor.version_id)
    shutil.move(path, tmp_path / "hidden.v")  # what someone with the disk would do
    rehash_from(settings, 2, actor="mallory")
    report = verify_all(settings)
    assert not report.ok and report.first_broken_seq == 4  # the event that recorded it
    assert "missing from the store" in report.problem and anchor.key in report.problem


def test_the_report_counts_the_unanchored_tail(settings) -> None:  # noqa: ANN001
    _append(settings, 3)
    assert verify_all(settings).unanchored == 3  # no anchor yet: every event
    write_anchor(settings)  # anchors 3; its own event is 4
    _append(settings, 2)
    report = verify_all(settings)
    assert report.ok and report.head_seq == 6 and report.unanchored == 3
    assert report.as_dict()["unanchored"] == 3


def test_cli_verify_says_how_many_events_no_anchor_binds(cv_env, settings) -> None:  # noqa: ANN001
    _append(settings, 2)
    write_anchor(settings)
    out = subprocess.run([sys.executable, "-m", "chartvault", "audit", "verify"],
                         env={**cv_env, "PATH": "/usr/bin:/bin"}, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "1 event(s) after the last anchor" in out.stdout


def test_each_anchor_is_exported_to_a_file_when_set(cv_env, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    from chartvault.settings import get_settings, reset_settings_cache

    target = tmp_path / "anchors.jsonl"
    monkeypatch.setenv("CHARTVAULT_AUDIT_ANCHOR_EXPORT", str(target))
    reset_settings_cache()
    settings = get_settings()
    _append(settings, 2)
    first = write_anchor(settings)
    second = write_anchor(settings)
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(x["seq"], x["hash"], x["version"]) for x in lines] == [
        (first.seq, first.hash, first.version_id), (second.seq, second.hash,
                                                    second.version_id)]


def test_a_relative_export_path_is_refused(cv_env, monkeypatch) -> None:  # noqa: ANN001
    import pytest

    from chartvault.errors import ConfigurationError
    from chartvault.settings import load_settings

    monkeypatch.setenv("CHARTVAULT_AUDIT_ANCHOR_EXPORT", "anchors.log")
    with pytest.raises(ConfigurationError, match="AUDIT_ANCHOR_EXPORT"):
        load_settings()


def test_anchors_are_scheduled_hourly_and_at_scheduler_start() -> None:
    from celery.signals import beat_init

    from chartvault.celery_app import _anchor_at_start, app

    anchor = [e for e in app.conf.beat_schedule.values()
              if e["task"] == "chartvault.audit_anchor"]
    assert len(anchor) == 1 and anchor[0]["schedule"].hour == set(range(24))
    assert any(receiver() is _anchor_at_start for _, receiver in beat_init.receivers)
