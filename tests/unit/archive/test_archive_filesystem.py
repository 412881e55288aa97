"""Filesystem-store behaviour the contract suite cannot reach: the bytes on disk."""

import base64
import io
import multiprocessing
import os
from pathlib import Path

import pytest

from archive import FilesystemStore, IntegrityMismatch, open_store
from archive.sealed import SEGMENT
from chartvault.errors import ConfigurationError
from chartvault.settings import Settings

KEY = bytes(range(32))


@pytest.fixture(params=["sealed", "plain"])
def store(request, tmp_path):
    return FilesystemStore(tmp_path / "store", KEY if request.param == "sealed" else None)


def _data_file(store, info) -> Path:
    return store.version_path(info.key, info.version_id)


def _read(store, key, version_id=None) -> bytes:
    with store.get(key, version_id) as stream:
        return stream.read()


@pytest.mark.parametrize("where", [0.1, 0.5, 0.99])
def test_flipped_byte_is_detected_on_get(store, where):
    data = os.urandom(2 * SEGMENT + 1234)
    info = store.put("a/b", io.BytesIO(data))
    path = _data_file(store, info)
    raw = bytearray(path.read_bytes())
    raw[int(len(raw) * where)] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityMismatch):
        _read(store, "a/b")


def test_sealed_never_returns_bytes_of_an_altered_segment(tmp_path):
    store = FilesystemStore(tmp_path, KEY)
    data = os.urandom(3 * SEGMENT)
    info = store.put("k", io.BytesIO(data))
    path = _data_file(store, info)
    raw = bytearray(path.read_bytes())
    raw[-SEGMENT // 2] ^= 0x80  # inside the third segment
    path.write_bytes(bytes(raw))
    got = bytearray()
    with pytest.raises(IntegrityMismatch), store.get("k") as stream:
        while chunk := stream.read(65536):
            got += chunk
    assert data.startswith(bytes(got)) and len(got) <= 2 * SEGMENT


@pytest.mark.parametrize("cut", [1, 16, SEGMENT + 16])
def test_truncation_is_detected(store, cut):
    info = store.put("k", io.BytesIO(os.urandom(2 * SEGMENT)))
    path = _data_file(store, info)
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(IntegrityMismatch):
        _read(store, "k")


def test_sealed_file_copied_over_another_version_does_not_decrypt(tmp_path):
    store = FilesystemStore(tmp_path, KEY)
    first = store.put("k", io.BytesIO(b"first version"))
    second = store.put("k", io.BytesIO(b"other version"))
    _data_file(store, second).write_bytes(_data_file(store, first).read_bytes())
    with pytest.raises(IntegrityMismatch):
        _read(store, "k", second.version_id)


def test_sealed_bytes_are_not_plaintext(tmp_path):
    store = FilesystemStore(tmp_path, KEY)
    secret = b"PATIENT MRN 12345678 " * 1000
    info = store.put("k", io.BytesIO(secret))
    assert b"PATIENT" not in _data_file(store, info).read_bytes()


class _Exploding(io.RawIOBase):
    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.left <= 0:
            raise RuntimeError("scanner unplugged")
        n = min(len(buffer), self.left)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


def test_crash_mid_write_leaves_no_version_and_no_files(store):
    store.put("k", io.BytesIO(b"v1"))
    with pytest.raises(RuntimeError, match="scanner unplugged"):
        store.put("k", _Exploding(3 * SEGMENT // 2))
    assert [v.size for v in store.list_versions()] == [2]
    leftovers = os.listdir(store.root / "objects")
    assert not [n for n in leftovers if n.endswith(".tmp")], leftovers


def test_leftover_temp_files_from_a_killed_writer_are_invisible(store):
    info = store.put("k", io.BytesIO(b"v1"))
    folder = store.root / "objects"
    (folder / ".k@99999999999999999999-0123456789ab.tmp").write_bytes(b"half written")
    (folder / ".k@garbage.v").write_bytes(b"not a version name")
    assert store.stat("k") == info
    assert [v.version_id for v in store.list_versions()] == [info.version_id]


def _writer(root: str, key: bytes | None, worker: int, keys: int) -> None:
    store = FilesystemStore(Path(root), key)
    for n in range(keys):
        store.put(f"shared/{n}", io.BytesIO(f"{worker}:{n}".encode() * 1000))
        store.put(f"own/{worker}/{n}", io.BytesIO(os.urandom(10000)))


def test_several_processes_write_at_once(store):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(store.root), store._key, w, 10))
             for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    versions = list(store.list_versions("shared/"))
    assert len(versions) == 40 and len({v.version_id for v in versions}) == 40
    assert len(list(store.list("own/"))) == 40
    for info in versions:
        with store.get(info.key, info.version_id) as stream:
            assert stream.read().decode().count(":") == 1000


def test_open_store_filesystem(tmp_path):
    settings = Settings(home=tmp_path, store_path=tmp_path / "objects",
                        storage_key=base64.b64encode(KEY).decode())
    store = open_store(settings)
    assert isinstance(store, FilesystemStore) and store._key == KEY
    assert open_store(settings.replace(storage_key=""))._key is None


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_open_store_bad_key_names_the_variable(tmp_path, bad):
    settings = Settings(home=tmp_path, store_path=tmp_path, storage_key=bad)
    with pytest.raises(ConfigurationError, match="CHARTVAULT_STORAGE_KEY"):
        open_store(settings)


def test_reading_with_another_key_or_none_is_refused(tmp_path):
    FilesystemStore(tmp_path, KEY).put("k", io.BytesIO(b"chart"))
    with pytest.raises(IntegrityMismatch):
        _read(FilesystemStore(tmp_path, bytes(32)), "k")
    with pytest.raises(ConfigurationError, match="CHARTVAULT_STORAGE_KEY"):
        _read(FilesystemStore(tmp_path, None), "k")


def test_several_threads_write_at_once(store):
    from concurrent.futures import ThreadPoolExecutor

    blobs = {f"t/{n}": os.urandom(SEGMENT * 2 + n * 1000) for n in range(12)}

    def put(key):
        return store.put(key, io.BytesIO(blobs[key]))

    with ThreadPoolExecutor(4) as pool:
        infos = list(pool.map(put, blobs))
    for info in infos:
        assert _read(store, info.key, info.version_id) == blobs[info.key]


def test_files_and_folders_are_private(store):
    info = store.put("documents/d1/original.pdf", io.BytesIO(b"chart"))
    store.set_legal_hold(info.key, info.version_id, True)
    folder = store.version_path(info.key, info.version_id).parent
    for path in (folder, folder.parent, *folder.iterdir()):
        assert path.stat().st_mode & 0o077 == 0, path
