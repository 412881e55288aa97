"""The ObjectStore contract: every backend passes the same tests.

Backends: the filesystem store with and without encryption, and the S3 store
against a real Ceph RGW, plain and with SSE-C (marked ``integration``;
skipped with the reason if Ceph is not installed). Each test works under its
own key prefix, so one S3 bucket per backend serves the whole session.
"""

from __future__ import annotations

import hashlib
import io
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from archive import (
    FilesystemStore,
    IntegrityMismatch,
    ObjectInfo,
    ObjectLocked,
    ObjectNotFound,
    ObjectStore,
)
from chartvault.errors import BadInput

MiB = 1024 * 1024
BUCKET = "chartvault-contract"


@pytest.fixture(scope="session")
def s3_store(rgw):
    from archive.s3 import S3Store

    return S3Store.connect(f"http://{rgw.endpoint}", rgw.access_key, rgw.secret_key, BUCKET,
                           region=rgw.region, part_size=5 * MiB)


@pytest.fixture(scope="session")
def s3_sse_c_store(rgw):
    from archive.s3 import S3Store

    return S3Store.connect(f"http://{rgw.endpoint}", rgw.access_key, rgw.secret_key,
                           BUCKET + "-sse-c", region=rgw.region, part_size=5 * MiB,
                           encryption="sse-c", storage_key=bytes(range(32)))


@pytest.fixture(params=[
    "filesystem-encrypted",
    "filesystem-plain",
    pytest.param("s3-rgw", marks=pytest.mark.integration),
    pytest.param("s3-rgw-sse-c", marks=pytest.mark.integration),
])
def store(request, tmp_path) -> ObjectStore:
    if request.param == "s3-rgw":
        return request.getfixturevalue("s3_store")
    if request.param == "s3-rgw-sse-c":
        return request.getfixturevalue("s3_sse_c_store")
    key = bytes(range(32)) if request.param == "filesystem-encrypted" else None
    return FilesystemStore(tmp_path / "store", key)


@pytest.fixture
def ns() -> str:
    """A key prefix of this test's own."""
    return f"t-{uuid.uuid4().hex[:12]}/"


class Pattern(io.RawIOBase):
    """``size`` deterministic bytes, produced as read (never whole in memory)."""

    def __init__(self, size: int, seed: int = 7) -> None:
        self.left, self.block = size, hashlib.sha256(str(seed).encode()).digest() * 2048
        self.offset = 0
        self.sha256 = hashlib.sha256()
        whole, rest = divmod(size, len(self.block))
        for _ in range(whole):
            self.sha256.update(self.block)
        self.sha256.update(self.block[:rest])

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        start = self.offset % len(self.block)
        n = min(len(buffer), self.left, len(self.block) - start)
        buffer[:n] = self.block[start:start + n]
        self.left -= n
        self.offset += n
        return n


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def wait_past(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.3)


def read_all(store: ObjectStore, key: str, version_id: str | None = None) -> bytes:
    with store.get(key, version_id) as stream:
        return stream.read()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# round trips ------------------------------------------------------------------


def test_put_get_round_trip(store, ns):
    info = store.put(ns + "a.txt", io.BytesIO(b"hello chart"), content_type="text/plain")
    assert isinstance(info, ObjectInfo)
    assert (info.key, info.size, info.sha256) == (ns + "a.txt", 11, sha(b"hello chart"))
    assert info.content_type == "text/plain" and info.version_id
    assert info.last_modified.tzinfo is not None and not info.legal_hold
    assert info.retain_until is None
    assert read_all(store, ns + "a.txt") == b"hello chart"
    assert store.stat(ns + "a.txt") == info


def test_multi_megabyte_stream_round_trip(store, ns):
    source = Pattern(13 * MiB + 12345)
    info = store.put(ns + "big.pdf", source, content_type="application/pdf",
                     expected_sha256=source.sha256.hexdigest())
    assert info.size == 13 * MiB + 12345 and info.sha256 == source.sha256.hexdigest()
    digest, total = hashlib.sha256(), 0
    with store.get(ns + "big.pdf") as stream:
        while chunk := stream.read(256 * 1024):
            digest.update(chunk)
            total += len(chunk)
    assert (total, digest.hexdigest()) == (info.size, info.sha256)


def test_empty_object(store, ns):
    info = store.put(ns + "empty", io.BytesIO(b""))
    assert info.size == 0 and info.sha256 == sha(b"")
    assert read_all(store, ns + "empty") == b""


def test_exact_segment_multiple_round_trips(store, ns):
    data = bytes(range(256)) * (4 * 4096)  # 4 MiB exactly
    store.put(ns + "four", io.BytesIO(data))
    assert read_all(store, ns + "four") == data


def test_expected_sha256_matching_is_accepted(store, ns):
    info = store.put(ns + "k", io.BytesIO(b"abc"), expected_sha256=sha(b"abc").upper())
    assert info.sha256 == sha(b"abc")


def test_expected_sha256_mismatch_keeps_nothing(store, ns):
    with pytest.raises(IntegrityMismatch):
        store.put(ns + "k", io.BytesIO(b"abc"), expected_sha256=sha(b"abd"))
    assert list(store.list_versions(ns)) == []
    with pytest.raises(ObjectNotFound):
        store.stat(ns + "k")


def test_a_failing_source_stream_keeps_nothing(store, ns):
    class Broken(io.RawIOBase):
        sent = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            if self.sent > 6 * MiB:
                raise ConnectionResetError("upload connection lost")
            self.sent += len(buffer)
            buffer[:] = b"z" * len(buffer)
            return len(buffer)

    with pytest.raises(ConnectionResetError):
        store.put(ns + "k", Broken(), expected_sha256="0" * 64)
    assert list(store.list_versions(ns)) == []


# versions and listing -----------------------------------------------------------


def test_two_puts_to_one_key_make_two_versions(store, ns):
    first = store.put(ns + "k", io.BytesIO(b"one"))
    second = store.put(ns + "k", io.BytesIO(b"two"))
    assert first.version_id != second.version_id
    assert read_all(store, ns + "k") == b"two"
    assert read_all(store, ns + "k", first.version_id) == b"one"
    assert store.stat(ns + "k", first.version_id) == first
    assert [v.version_id for v in store.list_versions(ns)] == [second.version_id,
                                                               first.version_id]
    assert [v.version_id for v in store.list(ns)] == [second.version_id]


def test_list_latest_in_key_order_under_prefix(store, ns):
    for key in ("b", "a/2", "a/1", "c/d/e"):
        store.put(ns + key, io.BytesIO(key.encode()))
    store.put(ns + "a/1", io.BytesIO(b"newer"))
    store.put(f"x{ns}k", io.BytesIO(b"outside the prefix"))
    listed = list(store.list(ns))
    assert [i.key for i in listed] == [ns + "a/1", ns + "a/2", ns + "b", ns + "c/d/e"]
    assert listed[0].size == len(b"newer")
    assert [i.key for i in store.list(ns + "a/")] == [ns + "a/1", ns + "a/2"]
    assert [i.key for i in store.list(ns + "c")] == [ns + "c/d/e"]
    assert len(list(store.list_versions(ns + "a/"))) == 3


def test_list_of_unknown_prefix_is_empty(store, ns):
    assert list(store.list(ns)) == [] and list(store.list_versions(ns)) == []


# missing and bad input --------------------------------------------------------------


def test_missing_key_or_version_is_object_not_found(store, ns):
    info = store.put(ns + "k", io.BytesIO(b"x"))
    calls = [
        lambda: store.stat(ns + "missing"),
        lambda: store.get(ns + "missing"),
        lambda: store.stat(ns + "k", "nonexistentversion"),
        lambda: store.get(ns + "k", "nonexistentversion"),
        lambda: store.delete_version(ns + "missing", info.version_id),
        lambda: store.delete_version(ns + "k", "nonexistentversion"),
        lambda: store.set_legal_hold(ns + "missing", info.version_id, True),
        lambda: store.set_retention(ns + "k", "nonexistentversion", later(60)),
    ]
    for call in calls:
        with pytest.raises(ObjectNotFound):
            call()


@pytest.mark.parametrize("key", ["", "/etc/passwd", "a/../b", "../b", "a\x00b", "a//b", ".x"])
def test_bad_key_is_refused(store, key):
    with pytest.raises(BadInput):
        store.put(key, io.BytesIO(b"x"))
    with pytest.raises(BadInput):
        store.stat(key)
    with pytest.raises(BadInput):
        store.get(key)


def test_bad_prefix_is_refused(store):
    with pytest.raises(BadInput):
        list(store.list("../"))


@pytest.mark.parametrize("when", [datetime(2099, 1, 1), datetime(2000, 1, 1, tzinfo=UTC)])
def test_naive_or_past_retention_is_refused(store, ns, when):
    with pytest.raises(BadInput):
        store.put(ns + "k", io.BytesIO(b"x"), retain_until=when)
    assert list(store.list_versions(ns)) == []


# retention and holds -------------------------------------------------------------------


def test_retention_is_stored_to_the_second(store, ns):
    until = later(3600).replace(microsecond=250_000)
    info = store.put(ns + "k", io.BytesIO(b"x"), retain_until=until)
    assert info.retain_until == until.replace(microsecond=0) + timedelta(seconds=1)
    assert store.stat(ns + "k").retain_until == info.retain_until


def test_delete_is_refused_while_retained(store, ns):
    info = store.put(ns + "k", io.BytesIO(b"x"), retain_until=later(3600))
    with pytest.raises(ObjectLocked):
        store.delete_version(ns + "k", info.version_id)
    assert read_all(store, ns + "k") == b"x"


def test_delete_is_refused_while_held(store, ns):
    info = store.put(ns + "k", io.BytesIO(b"x"), legal_hold=True)
    assert info.legal_hold
    with pytest.raises(ObjectLocked):
        store.delete_version(ns + "k", info.version_id)
    assert store.stat(ns + "k").legal_hold


def test_delete_is_allowed_after_hold_cleared_and_retention_passed(store, ns):
    until = later(1)
    info = store.put(ns + "k", io.BytesIO(b"x"), retain_until=until, legal_hold=True)
    keep = store.put(ns + "k", io.BytesIO(b"y"))
    released = store.set_legal_hold(ns + "k", info.version_id, False)
    assert not released.legal_hold
    with pytest.raises(ObjectLocked):
        store.delete_version(ns + "k", info.version_id)  # still retained
    wait_past(info.retain_until)
    store.delete_version(ns + "k", info.version_id)
    with pytest.raises(ObjectNotFound):
        store.stat(ns + "k", info.version_id)
    assert [v.version_id for v in store.list_versions(ns)] == [keep.version_id]
    del until


def test_delete_of_an_unlocked_version(store, ns):
    info = store.put(ns + "k", io.BytesIO(b"x"))
    store.delete_version(ns + "k", info.version_id)
    assert list(store.list(ns)) == []
    with pytest.raises(ObjectNotFound):
        store.get(ns + "k")


def test_retention_can_be_extended_not_shortened(store, ns):
    info = store.put(ns + "k", io.BytesIO(b"x"), retain_until=later(600))
    extended = store.set_retention(ns + "k", info.version_id, later(1200))
    assert extended.retain_until > info.retain_until
    assert store.stat(ns + "k").retain_until == extended.retain_until
    same = store.set_retention(ns + "k", info.version_id, extended.retain_until)
    assert same.retain_until == extended.retain_until
    with pytest.raises(ObjectLocked):
        store.set_retention(ns + "k", info.version_id, later(900))
    assert store.stat(ns + "k").retain_until == extended.retain_until


def test_retention_can_be_added_later(store, ns):
    info = store.put(ns + "k", io.BytesIO(b"x"))
    locked = store.set_retention(ns + "k", info.version_id, later(600))
    assert locked.retain_until is not None
    with pytest.raises(ObjectLocked):
        store.delete_version(ns + "k", info.version_id)


def test_legal_hold_on_and_off(store, ns):
    info = store.put(ns + "k", io.BytesIO(b"x"))
    assert store.set_legal_hold(ns + "k", info.version_id, True).legal_hold
    assert store.stat(ns + "k", info.version_id).legal_hold
    assert store.set_legal_hold(ns + "k", info.version_id, True).legal_hold  # idempotent
    assert not store.set_legal_hold(ns + "k", info.version_id, False).legal_hold
    assert not store.stat(ns + "k", info.version_id).legal_hold


def test_large_object_gets_its_retention_and_hold(store, ns):
    """Multipart uploads too (Ceph RGW drops lock headers on them; the backend re-applies)."""
    source = Pattern(11 * MiB)
    info = store.put(ns + "big", source, retain_until=later(3600), legal_hold=True,
                     expected_sha256=source.sha256.hexdigest())
    assert info.retain_until is not None and info.legal_hold
    assert store.stat(ns + "big") == info


# the server refuses, not just the code ---------------------------------------------------


@pytest.mark.integration
def test_raw_s3_client_cannot_delete_locked_versions(s3_store, rgw, ns):
    from minio import Minio
    from minio.commonconfig import COMPLIANCE
    from minio.error import S3Error
    from minio.retention import Retention

    raw = Minio(rgw.endpoint, access_key=rgw.access_key, secret_key=rgw.secret_key,
                secure=False, region=rgw.region)
    retained = s3_store.put(ns + "retained", io.BytesIO(b"x"), retain_until=later(3600))
    held = s3_store.put(ns + "held", io.BytesIO(b"y"), legal_hold=True)
    for info in (retained, held):
        with pytest.raises(S3Error) as refused:
            raw.remove_object(BUCKET, info.key, version_id=info.version_id)
        assert refused.value.code == "AccessDenied"
    with pytest.raises(S3Error):
        raw.set_object_retention(BUCKET, retained.key, Retention(COMPLIANCE, later(60)),
                                 version_id=retained.version_id)
    assert s3_store.stat(retained.key, retained.version_id) == retained
    assert s3_store.stat(held.key, held.version_id) == held


@pytest.mark.integration
def test_sse_c_object_with_the_wrong_key_is_refused(s3_sse_c_store, rgw, ns):
    from archive import StorageRejected
    from archive.s3 import S3Store

    info = s3_sse_c_store.put(ns + "k", io.BytesIO(b"chart"))
    wrong = S3Store.connect(f"http://{rgw.endpoint}", rgw.access_key, rgw.secret_key,
                            s3_sse_c_store.bucket, encryption="sse-c", storage_key=bytes(32))
    with pytest.raises(StorageRejected, match="CHARTVAULT_STORAGE_KEY"):
        read_all(wrong, ns + "k", info.version_id)


def test_put_from_a_file_with_and_without_expected_hash(store, ns, tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"%PDF-1.7 " + bytes(range(256)) * 30000)
    with path.open("rb") as source:
        source.seek(9)  # from the current position on
        info = store.put(ns + "a", source)
    assert (info.size, info.sha256) == (256 * 30000, sha(bytes(range(256)) * 30000))
    with path.open("rb") as source:
        again = store.put(ns + "b", source, expected_sha256=sha(path.read_bytes()))
    assert read_all(store, ns + "b", again.version_id) == path.read_bytes()


def test_fixity_reads_back_every_backend(store, ns):
    from archive.fixity import ExpectedObject, verify

    infos = [store.put(ns + f"f{n}", io.BytesIO(bytes([n]) * (n * 70_000))) for n in range(3)]
    expected = [ExpectedObject(i.key, i.version_id, i.sha256, i.size) for i in infos]
    report = verify(store, expected)
    assert report.ok and report.checked == 3 and report.bytes_read == sum(i.size for i in infos)
    gone = ExpectedObject(ns + "never-stored", infos[0].version_id, infos[0].sha256, 1)
    wrong = ExpectedObject(infos[1].key, infos[1].version_id, "0" * 64, infos[1].size)
    report = verify(store, [gone, wrong])
    assert [p.key for p in report.missing] == [gone.key]
    assert [p.key for p in report.altered] == [wrong.key]


@pytest.mark.integration
def test_bucket_without_object_lock_is_refused(rgw):
    from minio import Minio

    from archive.s3 import S3Store
    from chartvault.errors import ConfigurationError

    bucket = f"no-lock-{uuid.uuid4().hex[:12]}"
    Minio(rgw.endpoint, access_key=rgw.access_key, secret_key=rgw.secret_key,
          secure=False).make_bucket(bucket)
    store = S3Store.connect(f"http://{rgw.endpoint}", rgw.access_key, rgw.secret_key, bucket)
    with pytest.raises(ConfigurationError, match="Object Lock"):
        store.put("k", io.BytesIO(b"x"))


def test_a_key_and_keys_below_it_coexist(store, ns):
    store.put(ns + "x", io.BytesIO(b"parent"))
    store.put(ns + "x/y", io.BytesIO(b"child"))
    store.put(ns + "x/y/z", io.BytesIO(b"grandchild"))
    assert [i.key for i in store.list(ns)] == [ns + "x", ns + "x/y", ns + "x/y/z"]
    assert read_all(store, ns + "x") == b"parent"
    assert read_all(store, ns + "x/y") == b"child"
    info = store.stat(ns + "x/y")
    store.delete_version(info.key, info.version_id)
    assert [i.key for i in store.list(ns)] == [ns + "x", ns + "x/y/z"]
