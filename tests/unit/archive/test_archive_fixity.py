"""Fixity finds missing and altered objects on disk."""

import hashlib
import io
import random

import pytest

from archive import FilesystemStore
from archive.fixity import ExpectedObject, FixityReport, verify
from chartvault.errors import BadInput


@pytest.fixture(params=["sealed", "plain"])
def store(request, tmp_path):
    return FilesystemStore(tmp_path, bytes(32) if request.param == "sealed" else None)


def _put(store, key, data: bytes) -> ExpectedObject:
    info = store.put(key, io.BytesIO(data))
    return ExpectedObject(info.key, info.version_id, hashlib.sha256(data).hexdigest(), len(data))


def _file(store, item):
    return store.version_path(item.key, item.version_id)


def test_clean_store_reports_ok(store):
    items = [_put(store, f"k{n}", bytes([n]) * 3000) for n in range(5)]
    report = verify(store, items)
    assert isinstance(report, FixityReport)
    assert report.ok and report.checked == 5 and report.bytes_read == 15000
    assert report.problems == ()


def test_flipped_byte_and_deleted_files_are_reported(store):
    good, flipped, no_data, gone = (_put(store, k, k.encode() * 5000)
                                    for k in ("good", "flipped", "no-data", "gone"))
    data_file = _file(store, flipped)
    raw = bytearray(data_file.read_bytes())
    raw[len(raw) // 2] ^= 0x04
    data_file.write_bytes(bytes(raw))
    _file(store, gone).unlink()
    store.set_legal_hold(no_data.key, no_data.version_id, True)  # leaves a .lock file
    _file(store, no_data).unlink()
    report = verify(store, [good, flipped, no_data, gone])
    assert not report.ok and report.checked == 4
    assert [p.key for p in report.altered] == ["flipped"]
    assert sorted(p.key for p in report.missing) == ["gone", "no-data"]
    assert report.unreadable == ()


def test_catalog_disagreeing_with_the_store_is_altered(store):
    item = _put(store, "k", b"abc")
    wrong_hash = ExpectedObject(item.key, item.version_id, "0" * 64, item.size)
    wrong_size = ExpectedObject(item.key, item.version_id, item.sha256, 4)
    report = verify(store, [wrong_hash, wrong_size])
    assert len(report.altered) == 2 and report.missing == ()


def test_unknown_version_is_missing(store):
    item = _put(store, "k", b"abc")
    report = verify(store, [ExpectedObject("k", "00000000000000000000-nothere", item.sha256, 3)])
    assert [p.kind for p in report.missing] == ["missing"]


def test_sample_checks_that_many_at_random(store):
    items = [_put(store, f"k{n}", b"x" * n) for n in range(20)]
    report = verify(store, iter(items), sample=5, rng=random.Random(1))
    assert report.checked == 5 and report.ok
    assert verify(store, items, sample=50).checked == 20
    assert verify(store, items, sample=0).checked == 0


def test_negative_sample_is_bad_input(store):
    with pytest.raises(BadInput):
        verify(store, [], sample=-1)
