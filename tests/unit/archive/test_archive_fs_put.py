"""The filesystem store's write path: format, failures, durability order, threads."""

import errno
import fcntl
import hashlib
import io
import multiprocessing
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import archive.common
import archive.filesystem
import archive.fswrite
import archive.writeback
from archive import FilesystemStore, IntegrityMismatch, StorageUnavailable
from archive.metamac import MetadataUnauthenticated
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
        return archive.fswrite._set_direct(fd)
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
    with store.get("documents/d1/original.txt") as stream:  # the bytes verify themselves
        assert stream.read() == CHART
    # its retention metadata has no MAC: not trusted until the administrator seals it
    with pytest.raises(MetadataUnauthenticated, match="seal-store"):
        store.stat("documents/d1/original.txt")
    assert store.seal_legacy_metadata() == 1 and store.seal_legacy_metadata() == 0
    info = store.stat("documents/d1/original.txt")
    assert (info.version_id, info.size) == (version_id, len(CHART))
    assert info.sha256 == hashlib.sha256(CHART).hexdigest()
    with store.get(info.key) as stream:
        assert stream.read() == CHART


@pytest.mark.parametrize("size", [0, 1000, SEGMENT - 1, 3 * SEGMENT + 5])
def test_a_sha256_mismatch_leaves_no_file_behind(store, size):
    """The trailer names the expected digest before the hash is done: the check before
    the rename is what keeps a wrong body from becoming a version."""
    data = os.urandom(size)
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


@pytest.mark.parametrize("size", [1000, SEGMENT - 1, 2 * SEGMENT + 5])
def test_the_file_is_fsynced_before_its_rename_and_the_folder_after(store, monkeypatch, size):
    """The order a crash-safe write needs: the file's bytes and size, then its name."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        real_fsync(fd)
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    def replace(src, dst):
        real_replace(src, dst)
        events.append(("rename", str(dst)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    data = os.urandom(size)
    info = store.put("documents/d1/original.pdf", io.BytesIO(data),
                     expected_sha256=hashlib.sha256(data).hexdigest())
    final = store.version_path(info.key, info.version_id)
    mine = [event for event in events
            if event[1] in (str(final.with_suffix(".tmp")), str(final), str(final.parent))]
    assert mine == [("fsync", str(final.with_suffix(".tmp"))), ("rename", str(final)),
                    ("fsync", str(final.parent))]


@pytest.mark.parametrize("which", ["file", "folder", "new parent"])
def test_a_failing_fsync_leaves_no_version(store, monkeypatch, which):
    """Whichever flush fails, put raises and nothing it wrote is left to be read."""
    real = os.fsync
    target = {"file": ".tmp", "folder": "/d1", "new parent": "/documents"}[which]

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(target):
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(StorageUnavailable, match="Input/output error"):
        store.put("documents/d1/original.pdf", io.BytesIO(os.urandom(1000)))
    monkeypatch.undo()
    assert list(store.list_versions()) == [] and _files(store) == []


@pytest.mark.parametrize("size", [10, SEGMENT - 1, SEGMENT + 10])
def test_the_longest_trailer_fits_the_staging_buffer(store, size):
    """Key and content type at their limits, in characters JSON escapes the most (a
    4-byte character becomes 12): the trailer fits in TRAILER_ROOM wherever it starts."""
    key = "/".join(["\U0001d11e" * 50] * 5)  # 200 bytes a component, 1004 in all
    content_type = "\U0001d11e" * 255
    data = os.urandom(size)
    info = store.put(key, io.BytesIO(data), content_type=content_type,
                     retain_until=datetime.now(UTC) + timedelta(days=1), legal_hold=True,
                     expected_sha256=hashlib.sha256(data).hexdigest())
    assert store.stat(key) == info and info.content_type == content_type
    with store.get(key) as stream:
        assert stream.read() == data
    for at in (1, 4095, 4096, 10**15):
        trailer = archive.filesystem._trailer(info, True, at)
        assert len(trailer) <= archive.fswrite.TRAILER_ROOM and (at + len(trailer)) % 4096 == 0


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
    # What is left for the final fsync is at most one batch, the trailer's page included.
    end = store.version_path("k", info.version_id).stat().st_size
    assert body < end and end % page == 0
    assert end - archive.writeback._BATCH - page < ends[-1] <= end
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


@pytest.mark.parametrize("expected", [True, False])
@pytest.mark.parametrize("mode", ["direct", "buffered"])
def test_sizes_around_block_and_segment_edges_round_trip(store, mode, monkeypatch, expected):
    if mode == "buffered":
        monkeypatch.setattr(archive.fswrite, "_O_DIRECT", 0)
    for size in SIZES:
        data = os.urandom(size)
        info = store.put(f"s/{size}", io.BytesIO(data),
                         expected_sha256=hashlib.sha256(data).hexdigest() if expected else None)
        assert info.size == size and info.sha256 == hashlib.sha256(data).hexdigest()
        with store.get(info.key) as stream:
            assert stream.read() == data, size


def _spy_writes(monkeypatch) -> list[tuple[int, bool]]:
    """(length, O_DIRECT on) of every write of a version file."""
    seen = []
    real = archive.fswrite.write_all

    def spy(out, data):
        seen.append((len(data), bool(fcntl.fcntl(out.fileno(), fcntl.F_GETFL) & os.O_DIRECT)))
        return real(out, data)

    monkeypatch.setattr(archive.fswrite, "write_all", spy)
    return seen


@pytest.mark.parametrize("size", [5000, SEGMENT - 1, 2 * SEGMENT + 5000])
@pytest.mark.parametrize("expected", [True, False])
def test_every_block_goes_to_disk_with_o_direct_trailer_included(store, monkeypatch, size,
                                                                 expected):
    """The trailer's JSON is padded so that the file ends on a block boundary: no
    page-cache block is left for fsync to write before it commits."""
    if not _direct_supported(store.root):
        pytest.skip(f"{store.root} does not take O_DIRECT")
    seen = _spy_writes(monkeypatch)
    data = os.urandom(size)
    info = store.put("k", io.BytesIO(data),
                     expected_sha256=hashlib.sha256(data).hexdigest() if expected else None)
    path = store.version_path("k", info.version_id)
    assert seen and all(direct and n % 4096 == 0 for n, direct in seen)
    assert sum(n for n, _ in seen) == path.stat().st_size
    with store.get("k") as stream:
        assert stream.read() == data
    if size < SEGMENT and expected:  # a small body and its trailer: one write
        assert len(seen) == 1


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


@pytest.mark.parametrize(("size", "failing_write"), [(5 * SEGMENT, 3), (SEGMENT - 1, 1)])
def test_a_failing_disk_write_surfaces_and_removes_the_temp_file(store, monkeypatch, size,
                                                                 failing_write):
    """A segment the writer thread writes, or a small body the caller writes while the
    hasher is still at work: the error surfaces once no thread uses the file."""
    calls = []
    real = archive.fswrite.write_all

    def failing(out, data):
        calls.append(len(data))
        if len(calls) == failing_write:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(out, data)

    monkeypatch.setattr(archive.fswrite, "write_all", failing)
    with pytest.raises(StorageUnavailable, match="No space left"):
        store.put("documents/d1/original.pdf", io.BytesIO(os.urandom(size)))
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


def test_missing_folders_are_made_up_to_the_top_and_reported_for_fsync(tmp_path):
    from archive.filesystem import _makedirs

    top = str(tmp_path / "objects")
    os.mkdir(top)
    # every folder that gained an entry, from the top down
    assert _makedirs(f"{top}/a/b/c", top) == [top, f"{top}/a", f"{top}/a/b"]
    assert _makedirs(f"{top}/a/b/c", top) == []  # already there
    assert _makedirs(f"{top}/a/x", top) == [f"{top}/a"]
    shutil.rmtree(top)
    assert _makedirs(f"{top}/a", top) == []  # the top itself is never made here
    assert not os.path.exists(top)
