"""Issue 22 finding 9: the embedded store's locks cannot be edited on disk.

Shortening ``retain_until`` in a version's trailer, or adding a ``.lock`` file that
releases it, let ``delete_version`` destroy a retained original unnoticed. Both are
now caught by the metadata MAC: delete refuses, ``chartvault verify`` reports it.
"""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from archive import FilesystemStore, ObjectLocked
from archive.metamac import MetadataUnauthenticated

KEY = bytes(range(32))
RETAINED = datetime(2040, 1, 2, tzinfo=UTC)


@pytest.fixture
def store(tmp_path) -> FilesystemStore:  # noqa: ANN001
    return FilesystemStore(tmp_path / "store", KEY)


def _put(store: FilesystemStore, key: str = "documents/d1/original.pdf"):  # noqa: ANN202
    return store.put(key, io.BytesIO(b"%PDF chart"), retain_until=RETAINED)


def _shorten_trailer(store: FilesystemStore, key: str, version_id: str) -> None:
    path = store.version_path(key, version_id)
    data = path.read_bytes()
    assert data.count(b"2040-01-02") == 1
    path.write_bytes(data.replace(b"2040-01-02", b"2000-01-02"))  # same length: parses


def test_a_shortened_trailer_is_refused_and_the_original_kept(store) -> None:  # noqa: ANN001
    info = _put(store)
    _shorten_trailer(store, info.key, info.version_id)
    with pytest.raises(MetadataUnauthenticated, match="fails authentication"):
        store.delete_version(info.key, info.version_id)
    assert store.version_path(info.key, info.version_id).exists()
    with store.get(info.key) as stream:  # the bytes still read: they verify themselves
        assert stream.read() == b"%PDF chart"
    assert [(k, v) for k, v, _ in store.metadata_problems()] == [(info.key, info.version_id)]


def test_an_added_lock_file_is_refused(store) -> None:  # noqa: ANN001
    info = _put(store)
    lock = store.version_path(info.key, info.version_id).with_suffix(".lock")
    lock.write_text(json.dumps({"retain_until": None, "legal_hold": False}))
    with pytest.raises(MetadataUnauthenticated, match="lock file"):
        store.delete_version(info.key, info.version_id)
    assert store.version_path(info.key, info.version_id).exists()


def test_a_lock_file_moved_from_another_version_is_refused(store) -> None:  # noqa: ANN001
    short = store.put("documents/d2/original.pdf", io.BytesIO(b"other"),
                      retain_until=datetime.now(UTC) + timedelta(days=1))
    store.set_retention(short.key, short.version_id, short.retain_until + timedelta(days=1))
    info = _put(store)
    lock_of = lambda i: store.version_path(i.key, i.version_id).with_suffix(".lock")  # noqa: E731
    shutil.copyfile(lock_of(short), lock_of(info))
    with pytest.raises(MetadataUnauthenticated):
        store.stat(info.key, info.version_id)


def test_authentic_changes_still_work(store) -> None:  # noqa: ANN001
    info = _put(store)
    store.set_legal_hold(info.key, info.version_id, True)
    store.set_retention(info.key, info.version_id, RETAINED + timedelta(days=1))
    assert store.stat(info.key, info.version_id).legal_hold
    store.set_legal_hold(info.key, info.version_id, False)
    with pytest.raises(ObjectLocked):
        store.delete_version(info.key, info.version_id)
    assert list(store.metadata_problems()) == []


def test_chartvault_verify_reports_edited_metadata(settings) -> None:  # noqa: ANN001
    from archive import open_store
    from chartvault.cli import main

    store = open_store(settings)
    info = _put(store, "audit/anchors/2026-01-01.json")  # not in the catalog: still checked
    assert CliRunner().invoke(main, ["verify"]).exit_code == 0
    _shorten_trailer(store, info.key, info.version_id)
    result = CliRunner().invoke(main, ["verify", "--json"])
    assert result.exit_code == 1
    problem = json.loads(result.output)["problems"][0]
    assert (problem["kind"], problem["key"]) == ("altered", info.key)
    assert "fails authentication" in problem["detail"]
    # sealing never blesses an edit
    assert CliRunner().invoke(main, ["seal-store", "--unedited"]).output.startswith(
        "sealed the metadata of 0")
    assert CliRunner().invoke(main, ["verify"]).exit_code == 1
