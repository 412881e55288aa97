"""The body of a filesystem-store version: read, hashed, sealed and written at once.

Per whole segment, the caller's thread reads it (into the staging buffer, or into
a plaintext buffer that it then seals into the staging buffer with AES-256-GCM)
and hands the staging buffer to a writer thread. SHA-256 of the plaintext runs
in a hasher thread (:class:`~archive.common.BackgroundSha256`): beside the
sealing of the same segment, or beside reading the next one. At most ``_DEPTH``
buffers wait for each helper; a buffer is refilled only once both are done with
it. The helper threads are kept per calling thread
(:class:`~archive.common.OrderedWorker`).

The last, partial segment (for a body under 1 MiB, the only one) goes to the
hasher as soon as it is read; the caller then seals it and writes it itself,
trailer included. The hasher takes the GIL for its start while the caller is in
the write (sealing holds the GIL, hashlib lets go of it) and finishes during the
fsync, so for a small body nothing waits for a thread to wake. 1 MB encrypted, 200
interleaved runs (load 0.8): 0.85 of a plain copy, against 0.70 with the writer
thread sealing and writing while the caller hashed (two wake-ups in sequence) and
0.67 before (bench/RESULTS.md, 2026-11-26 09:55).

The file is written with ``O_DIRECT`` where the file system takes it: the disk
reads the buffers itself (DMA) while the next segments are hashed, instead of
the CPU copying every byte into the page cache and ``fsync`` then waiting for
all of it at the end. Measured on the 2-vCPU VM, 50 MB: 2.7 ms of CPU and
23 ms in all, against 17 ms of CPU and 36 ms for ``write`` + ``fsync``. After
handing a buffer to the writer the caller yields its CPU once: the woken
writer was found queued behind the caller on the same CPU, so the disk sat
idle until the caller blocked; now it starts the write and waits on the disk.

The hasher thread pays on a quiet machine, where the two vCPUs run two threads
at 2x (`openssl speed -multi 2`: 3.49 against 1.75 GB/s): 10 MB 0.68-0.75 ->
0.86-1.00 and 50 MB 0.72-0.83 -> 0.96-1.13 of a plain copy (2026-11-26, load
below 1). Under load from other work the two vCPUs gave about 1.1 CPUs to two
busy threads, and hashing in the caller measured slightly better there.

``O_DIRECT`` wants whole 4 KiB blocks from 4 KiB-aligned memory at 4 KiB-aligned
offsets: buffers are page-aligned ``mmap`` memory; each holds what the
previous one left over (< 4 KiB: the sealed header, then what segments and
tags add) followed by one segment, and only whole blocks are written. The
trailer follows the body in the last buffer and ends on a block boundary (its
JSON is padded with blanks), so the last block goes with ``O_DIRECT`` too and
``fsync`` has no page-cache block to write before it commits (1 MB: fsync 193
-> 128 us). Durability is unchanged: ``fsync`` still follows (it commits the
size and flushes the disk's cache). Where there is no ``O_DIRECT`` (tmpfs, other
systems) the same code writes through the page cache and starts the writeback
early (:mod:`archive.writeback`).
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import mmap
import os
import threading
from collections.abc import Callable
from io import FileIO
from typing import BinaryIO

from archive.common import BackgroundSha256, OrderedWorker, read_into
from archive.sealed import SEGMENT, TAG, Sealer
from archive.writeback import Writeback

_DEPTH = 3
_ALIGN = 4096  # Linux block devices' logical blocks are at most a page
BLOCK = _ALIGN  # the trailer ends the file on a block boundary: no write through the cache
TRAILER_ROOM = 4 * _ALIGN  # the longest trailer (key and content type at their limits) fits
# what the previous segment left over + one segment (+ the trailer, after the last one)
_STAGE = _ALIGN + SEGMENT + TAG + TRAILER_ROOM
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_local = threading.local()


def _aligned(size: int) -> mmap.mmap:
    # Private: a forked child (Celery's prefork pool) gets its own copy; the default,
    # a shared anonymous map, would have parent and child fill the same buffers.
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def _buffers() -> tuple[list[mmap.mmap], list[mmap.mmap]]:
    """This thread's reusable plaintext ring (sealed bodies) and page-aligned staging
    ring: fresh 1 MiB buffers per segment cost more than the encryption (page faults)."""
    if not hasattr(_local, "stages"):
        _local.plain = [_aligned(SEGMENT) for _ in range(_DEPTH + 2)]
        _local.stages = [_aligned(_STAGE) for _ in range(_DEPTH + 2)]
    return _local.plain, _local.stages


def write_all(out: FileIO, data: bytes | memoryview) -> int:
    """Write every byte of ``data`` (an unbuffered write may be short); its length."""
    view, done = memoryview(data), 0
    while done < len(view):
        done += out.write(view[done:])
    return done


def _set_direct(fd: int) -> bool:
    """Switch O_DIRECT on for ``fd``; False where the file system refuses it."""
    if not _O_DIRECT:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return False
    return True


def hasher() -> BackgroundSha256:
    """The SHA-256 that :func:`write_body` feeds; the caller closes it (``with``) once the
    file is done, after which the body's buffers may be reused."""
    return BackgroundSha256(_DEPTH)


# trailer(size read, file offset where it goes, SHA-256 hex): the bytes that end the file.
Trailer = Callable[[int, int, str], bytes]


def write_body(out: FileIO, stream: BinaryIO, sealer: Sealer | None,
               sha256: BackgroundSha256, trailer: Trailer, expected: str | None) -> None:
    """Copy ``stream`` to its end into ``out`` (sealed when ``sealer`` is given), then
    the trailer, which must end on a :data:`BLOCK` boundary and be at most
    :data:`TRAILER_ROOM` bytes. Every byte read is given to ``sha256``. With
    ``expected`` the trailer names it and goes to the disk with the body while the
    digest may still be computing: the caller compares ``sha256.hexdigest()`` with it
    before the file may become visible. Without, the trailer waits for the digest.
    Errors of the stream (SourceError), of the disk (OSError), of ``trailer`` and of the
    helper threads surface here, once the writer is done with ``out``."""
    _Body(out, sealer, sha256, trailer, expected).write(stream)


class _Body:
    """One version file being written: whole segments through the writer thread, then
    the last, partial one (a small body's only one) and the trailer by the caller."""

    def __init__(self, out: FileIO, sealer: Sealer | None, sha256: BackgroundSha256,
                 trailer: Trailer, expected: str | None) -> None:
        self._out, self._sealer, self._sha256 = out, sealer, sha256
        self._trailer, self._expected = trailer, expected
        self._direct = _set_direct(out.fileno())
        self._writeback = Writeback(out.fileno(), enabled=not self._direct)

    def write(self, stream: BinaryIO) -> None:
        sealer, sha256 = self._sealer, self._sha256
        align = _ALIGN if self._direct else 1
        plain, stages = _buffers()
        carry = 0  # bytes at the start of the next staging buffer, not written yet
        if sealer is not None:
            stages[0][: len(sealer.header)] = sealer.header
            carry = len(sealer.header)
        size = offset = 0  # bytes read; file offset of the staging buffer's first byte
        with OrderedWorker("writer", _DEPTH) as writer:
            for turn in itertools.count():
                view = memoryview(stages[turn % len(stages)])
                # a plain body is what is written: read it in place (no header, no carry)
                into = view[:SEGMENT] if sealer is None else plain[turn % len(plain)]
                chunk = memoryview(into)[:read_into(stream, into)]
                size += len(chunk)
                last = len(chunk) < SEGMENT
                if sealer is not None or last:  # the hasher reads it while this seals it
                    sha256.update(chunk)  # (or writes it: the hasher is awake by then)
                if last:
                    return self._finish(writer, view, carry, chunk, offset, size)
                end = carry + SEGMENT
                if sealer is not None:
                    sealer.seal_into(chunk, view[carry:], last=False)
                    end += TAG
                whole = end - end % align
                writer.submit(self._write, view[:whole])
                os.sched_yield()  # let the writer start the disk (see above)
                if sealer is None:  # in the hasher thread, while this one reads the next
                    sha256.update(chunk)
                carry, offset = end - whole, offset + whole
                stages[(turn + 1) % len(stages)][:carry] = view[whole:end]
        raise AssertionError("unreachable")

    def _finish(self, writer: OrderedWorker, view: memoryview, carry: int,
                chunk: memoryview, offset: int, size: int) -> None:
        """Seal and write the last chunk, shorter than a segment, here, with the trailer
        when it need not wait for the digest: no thread waits for another to wake."""
        end = carry + len(chunk)
        if self._sealer is not None:
            self._sealer.seal_into(chunk, view[carry:], last=True)
            end += TAG
        whole = end - end % _ALIGN
        early = self._expected is not None
        stop = _place(view, end, self._trailer(size, offset + end, self._expected)) \
            if early else whole
        writer.drain()  # the segments before go to the disk first
        self._write(view[:stop])
        if not early:
            last = self._trailer(size, offset + end, self._sha256.hexdigest())
            self._write(view[whole:_place(view, end, last)])

    def _write(self, data: memoryview) -> None:
        if data:
            self._writeback.wrote(write_all(self._out, data))


def _place(view: memoryview, end: int, trailer: bytes) -> int:
    """Put ``trailer`` after the body's ``end`` in ``view``; where the file's bytes stop."""
    view[end:end + len(trailer)] = trailer
    return end + len(trailer)
