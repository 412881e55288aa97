"""The body of a filesystem-store version: read, hashed, sealed and written at once.

Three threads share one put, segment by segment, with at most ``_DEPTH``
segments between them:

- the caller's thread reads the next segment into a ring buffer;
- a hasher thread hashes it (``hashlib`` releases the GIL);
- a writer thread seals it (AES-256-GCM, which also releases the GIL) and writes
  it, ``_PIECE`` bytes at a time, starting the disk writeback of what is written
  (:mod:`archive.writeback`), so that the disk works while the rest is hashed.

Hashing and writing (the page-cache copy) are the two large costs and take
about as long as each other; run one after the other they doubled the time of
a put. The helper threads are kept per calling thread (see
:class:`~archive.common.OrderedWorker`); a ring buffer is refilled only when
both helpers are done with it.
"""

from __future__ import annotations

import itertools
import threading
from io import FileIO
from typing import BinaryIO

from archive.common import BackgroundSha256, OrderedWorker, read_into
from archive.sealed import SEGMENT, TAG, Sealer
from archive.writeback import Writeback

_DEPTH = 4
# Written in pieces so that the disk starts early: for a 1 MB file, writing the
# segment whole would leave the disk idle until it was all encrypted.
_PIECE = 256 * 1024
_local = threading.local()


def _buffers() -> tuple[list[bytearray], bytearray]:
    """This thread's reusable plaintext ring and ciphertext buffer: fresh 1 MiB
    buffers per segment cost more than the encryption itself (page faults)."""
    if not hasattr(_local, "ring"):
        _local.ring = [bytearray(SEGMENT) for _ in range(_DEPTH + 2)]
        _local.sealed = bytearray(SEGMENT + TAG + 15)  # + one block: GCM's update_into
    return _local.ring, _local.sealed


def write_all(out: FileIO, data: bytes | memoryview) -> int:
    """Write every byte of ``data`` (an unbuffered write may be short); its length."""
    view, done = memoryview(data), 0
    while done < len(view):
        done += out.write(view[done:])
    return done


def write_body(out: FileIO, stream: BinaryIO, sealer: Sealer | None) -> tuple[str, int]:
    """Copy ``stream`` to its end into ``out`` (sealed when ``sealer`` is given);
    the SHA-256 (hex) and size of what was read. Errors of the stream (SourceError),
    of the disk (OSError) and of the helpers surface here, after both helpers are
    done with ``out`` and the buffers."""
    ring, sealed = _buffers()
    writeback = Writeback(out.fileno())
    if sealer is not None:
        writeback.wrote(write_all(out, sealer.header))
    size = 0
    with BackgroundSha256(depth=_DEPTH) as sha, OrderedWorker("writer", _DEPTH) as writer:
        for turn in itertools.count():
            buffer = ring[turn % len(ring)]
            n = read_into(stream, buffer)
            chunk = memoryview(buffer)[:n]
            sha.update(chunk)
            last = n < SEGMENT
            writer.submit(_write_segment, out, writeback, chunk, sealer, sealed, last)
            size += n
            if last:
                writer.drain()
                return sha.hexdigest(), size
    raise AssertionError("unreachable")


def _write_segment(out: FileIO, writeback: Writeback, chunk: memoryview,
                   sealer: Sealer | None, sealed: bytearray, last: bool) -> None:
    if sealer is None:
        pieces = (chunk[start:start + _PIECE] for start in range(0, len(chunk), _PIECE))
    else:
        pieces = sealer.seal_pieces(chunk, sealed, last=last, piece=_PIECE)
    for piece in pieces:
        writeback.wrote(write_all(out, piece))
