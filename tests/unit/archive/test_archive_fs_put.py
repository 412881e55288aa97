"""The filesystem store's write path: format, failures, durability order, threads."""

import errno
import fcntl
import hashlib
import io
import multiprocessing
import os
import shutil
from pathlib import Path

import pytest

import archive.common
import archive.filesystem
import archive.fswrite
import archive.writeback
from archive import FilesystemStore, IntegrityMismatch, StorageUnavailable
from archive.sealed import SEGMENT, TAG

KEY = bytes(range(32))
DATA = Path(__file__).parent / "data"
# What the golden files in data/ hold, written by the store as of commit e3828b6.
CHART = b"".join(
    b"page %04d of a scanned chart: MRN 0000000 metformin 500 mg\n" % i for i in range(70)
)


@pytest.fixture(params=["sealed", "plain"])
def store(request, tmp_path):
    return FilesystemStore(tmp_path / "store", KEY if request.param == "sealed" else None)


@pytest.fixture
def buffered(monkeypatch):
    """Write through the page cache, as where the file system refuses O_DIRECT."""
    monkeypatch.setattr(archive.fswrite, "_O_DIRECT", 0)


def _direct_supported(folder: Path) -> bool:
    fd = os.open(folder / "probe", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        return archive.fswrite._set_direct(fd, True)
    finally:
        os.close(fd)


def _files(store) -> list[str]:
    return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", ["sealed", "plain"])
def test_versions_written_by_the_previous_code_still_read(tmp_path, kind):
    golden = next(DATA.glob(f"format2-{kind}-*.v"))
    version_id = golden.stem.split("-", 2)[2]
    store = FilesystemStore(tmp_path, KEY)
    path = store.version_path("documents/d1/original.txt", version_id)
    path.parent.mkdir(parents=True)
    shutil.copyfile(golden, path)
    info = store.stat("documents/d1/original.txt")
    assert (info.version_id, info.size) == (version_id, len(CHART))
    assert info.sha256 == hashlib.sha256(CHART).hexdigest()
    with store.get(info.key) as stream:
        assert stream.read() == CHART


def test_a_sha256_mismatch_leaves_no_file_behind(store):
    data = os.urandom(3 * SEGMENT + 5)
    with pytest.raises(IntegrityMismatch, match="nothing kept"):
        store.put("documents/d1/original.pdf", io.BytesIO(data),
                  expected_sha256=hashlib.sha256(data + b"x").hexdigest())
    assert list(store.list_versions()) == [] and _files(store) == []


def test_an_error_while_hashing_surfaces_and_removes_the_temp_file(store, monkeypatch):
    class FailingSha256:
        def update(self, data):
            raise MemoryError("hashing failed")

    monkeypatch.setattr(archive.common.hashlib, "sha256", FailingSha256)
    with pytest.raises(MemoryError, match="hashing failed"):
        store.put("k", io.BytesIO(os.urandom(2 * SEGMENT)))
    monkeypatch.undo()
    assert _files(store) == []
    info = store.put("k", io.BytesIO(b"after"))  # the kept writer thread still works
    assert [v.version_id for v in store.list_versions()] == [info.version_id]


def test_every_folder_that_changed_is_fsynced_before_put_returns(store, monkeypatch):
    """The version's folder after the rename (the version is in it); the folders the
    put created (each parent holding its new child) alongside the file's fsync."""
    synced = []
    real = archive.filesystem._fsync_dir

    def record(path):
        synced.append((Path(path), sorted(p.name for p in Path(path).iterdir())))
        real(path)

    monkeypatch.setattr(archive.filesystem, "_fsync_dir", record)
    info = store.put("documents/d1/original.pdf", io.BytesIO(b"chart"))
    objects = store.root / "objects"
    final = store.version_path(info.key, info.version_id).name
    assert sorted(synced) == [(objects, ["documents"]), (objects / "documents", ["d1"]),
                              (objects / "documents/d1", [final])]
    synced.clear()
    second = store.put("documents/d1/original.pdf", io.BytesIO(b"second version"))
    assert synced == [(objects / "documents/d1",
                       sorted([final, store.version_path(info.key, second.version_id).name]))]


def test_writeback_is_started_on_whole_pages_as_the_body_grows(store, buffered, monkeypatch):
    calls = []

    def fake(fd, offset, length, flags):
        calls.append((offset, length, flags))
        return 0

    monkeypatch.setattr(archive.writeback, "_sync_file_range", fake)
    data = os.urandom(3 * SEGMENT + 12345)
    info = store.put("k", io.BytesIO(data))
    page = archive.writeback._PAGE
    assert calls and all(flags == 2 for _, _, flags in calls)
    assert all(offset % page == 0 and length % page == 0 for offset, length, _ in calls)
    ends = [offset + length for offset, length, _ in calls]
    assert [offset for offset, _, _ in calls] == [0, *ends[:-1]]  # contiguous, in order
    with open(store.version_path("k", info.version_id), "rb") as raw:
        body = archive.filesystem._read_trailer(raw, "k")[2]
    # Never the partial page at the end (the trailer is still to be written into it);
    # what is left is at most one batch, for the final fsync.
    assert body - archive.writeback._BATCH - page < ends[-1] <= body - body % page
    with store.get("k", info.version_id) as stream:
        assert stream.read() == data


def test_a_file_system_without_sync_file_range_still_stores(store, buffered, monkeypatch):
    calls = []

    def refuse(fd, offset, length, flags):
        calls.append(offset)
        return -1  # e.g. ESPIPE or EINVAL: writeback is then left to fsync

    monkeypatch.setattr(archive.writeback, "_sync_file_range", refuse)
    data = os.urandom(2 * SEGMENT)
    info = store.put("k", io.BytesIO(data))
    assert len(calls) == 1  # tried once, then not again for this file
    with store.get("k", info.version_id) as stream:
        assert stream.read() == data


def _put_in_child(root: str, key: bytes | None, queue) -> None:
    store = FilesystemStore(Path(root), key)
    queue.put(store.put("child", io.BytesIO(os.urandom(SEGMENT + 1))).size)


def test_a_forked_child_writes_with_its_own_thread(store):
    """The parent's kept writer thread does not exist in a forked child (Celery's
    prefork workers): the child must start its own instead of waiting forever."""
    store.put("parent", io.BytesIO(os.urandom(SEGMENT + 1)))
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_put_in_child, args=(str(store.root), store._key, queue))
    child.start()
    try:
        child.join(30)
        assert child.exitcode == 0 and queue.get(timeout=5) == SEGMENT + 1
    finally:
        if child.is_alive():  # hung: the test failed; do not leave it behind
            child.kill()
            child.join()


SIZES = [0, 1, 4095, 4096, 4097, SEGMENT - 51, SEGMENT - 1, SEGMENT, SEGMENT + 1,
         2 * SEGMENT + 4096 - 51 - 2 * TAG, 3 * SEGMENT + 777]


@pytest.mark.parametrize("mode", ["direct", "buffered"])
def test_sizes_around_block_and_segment_edges_round_trip(store, mode, monkeypatch):
    if mode == "buffered":
        monkeypatch.setattr(archive.fswrite, "_O_DIRECT", 0)
    for size in SIZES:
        data = os.urandom(size)
        info = store.put(f"s/{size}", io.BytesIO(data),
                         expected_sha256=hashlib.sha256(data).hexdigest())
        assert info.size == size
        with store.get(info.key) as stream:
            assert stream.read() == data, size


def test_the_body_goes_to_disk_with_o_direct_and_the_tail_without(store, monkeypatch):
    if not _direct_supported(store.root):
        pytest.skip(f"{store.root} does not take O_DIRECT")
    seen = []
    real = archive.fswrite.write_all

    def spy(out, data):
        seen.append((len(data), bool(fcntl.fcntl(out.fileno(), fcntl.F_GETFL) & os.O_DIRECT)))
        return real(out, data)

    monkeypatch.setattr(archive.fswrite, "write_all", spy)
    store.put("k", io.BytesIO(os.urandom(2 * SEGMENT + 5000)))
    *body, tail = seen
    assert body and all(direct and n % 4096 == 0 for n, direct in body)
    assert not tail[1] and 0 < tail[0] < 4096


def test_a_file_system_refusing_o_direct_gets_the_page_cache(store, monkeypatch):
    real = fcntl.fcntl

    def refuse(fd, cmd, arg=0):
        if cmd == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, cmd, arg)

    monkeypatch.setattr(archive.fswrite.fcntl, "fcntl", refuse)
    data = os.urandom(SEGMENT + 4097)
    info = store.put("k", io.BytesIO(data))
    with store.get("k", info.version_id) as stream:
        assert stream.read() == data


def test_a_failing_disk_write_surfaces_and_removes_the_temp_file(store, monkeypatch):
    calls = []
    real = archive.fswrite.write_all

    def failing(out, data):
        calls.append(len(data))
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(out, data)

    monkeypatch.setattr(archive.fswrite, "write_all", failing)
    with pytest.raises(StorageUnavailable, match="No space left"):
        store.put("documents/d1/original.pdf", io.BytesIO(os.urandom(5 * SEGMENT)))
    assert list(store.list_versions()) == [] and _files(store) == []


def _scribble_buffers(done) -> None:
    plain, stages = archive.fswrite._buffers()
    for buffer in (*plain, *stages):
        buffer[:5] = b"child"
    done.put(True)


def test_a_forked_child_does_not_share_the_write_buffers(store):
    store.put("parent", io.BytesIO(b"p" * SEGMENT))  # the buffers exist now
    plain, stages = archive.fswrite._buffers()
    buffers = (*plain, *stages)
    before = [bytes(buffer[:5]) for buffer in buffers]
    ctx = multiprocessing.get_context("fork")
    done = ctx.Queue()
    child = ctx.Process(target=_scribble_buffers, args=(done,))
    child.start()
    assert done.get(timeout=30) is True
    child.join(30)
    assert [bytes(buffer[:5]) for buffer in buffers] == before
    assert b"child" not in before
