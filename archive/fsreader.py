"""Streaming reads for the filesystem store that check what they return.

Sealed (encrypted) files are authenticated segment by segment: a segment
that fails its GCM tag raises :class:`IntegrityMismatch` before any of its
bytes are returned. Plain files are hashed while read; the read that reaches
the end raises :class:`IntegrityMismatch` if the size or SHA-256 differs from
the sidecar. Both also check size and SHA-256 at the end.
"""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

from archive.interface import IntegrityMismatch
from archive.sealed import HEADER_SIZE, SEGMENT, TAG, Opener


def _read_full(raw: BinaryIO, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        chunk = raw.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class Bounded(io.RawIOBase):
    """The first ``limit`` bytes of ``raw`` (the body of a data file, before its trailer)."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw, self._left = raw, limit

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._raw.read(size) if size else b""
        self._left -= len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


class VerifyingReader(io.RawIOBase):
    """Plaintext of one stored version; raises IntegrityMismatch instead of wrong bytes."""

    def __init__(self, raw: BinaryIO, *, where: str, size: int, sha256: str,
                 opener_args: tuple[bytes, str, str] | None) -> None:
        self._raw, self._where = raw, where
        self._size, self._sha256 = size, sha256
        self._hash = hashlib.sha256()
        self._count = 0
        self._buffer = memoryview(b"")
        self._done = False
        self._opener = None
        self._plain = bytearray(SEGMENT)  # reused for every segment of this read
        if opener_args is not None:
            master, key, version_id = opener_args
            self._opener = Opener(master, key, version_id, _read_full(raw, HEADER_SIZE))

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._buffer and not self._done:
            self._fill()
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def readall(self) -> bytes:
        parts = [bytes(self._buffer)]
        self._buffer = memoryview(b"")
        while not self._done:
            self._fill()
            parts.append(bytes(self._buffer))
            self._buffer = memoryview(b"")
        return b"".join(parts)

    def _fill(self) -> None:
        if self._opener is None:
            data = self._raw.read(SEGMENT)
            last = not data
        else:
            data, last = self._next_segment()
        self._hash.update(data)
        self._count += len(data)
        self._buffer = memoryview(data)
        if last:
            self._finish()

    def _next_segment(self) -> tuple[memoryview, bool]:
        assert self._opener is not None
        ciphertext = _read_full(self._raw, SEGMENT + TAG)
        if not ciphertext:
            raise IntegrityMismatch(f"{self._where}: sealed data truncated (no final segment)")
        last = len(ciphertext) < SEGMENT + TAG
        plaintext = self._opener.open_into(ciphertext, self._plain, last=last)
        if last and self._raw.read(1):
            raise IntegrityMismatch(f"{self._where}: data after the final segment")
        return plaintext, last

    def _finish(self) -> None:
        self._done = True
        if self._count != self._size:
            raise IntegrityMismatch(
                f"{self._where}: read {self._count} bytes, catalogued size is {self._size}"
            )
        if self._hash.hexdigest() != self._sha256:
            raise IntegrityMismatch(f"{self._where}: SHA-256 of the stored bytes has changed")


def open_verified(raw: BinaryIO, limit: int, **kwargs) -> io.BufferedReader:
    """Wrap an open data file whose body is its first ``limit`` bytes; closing the
    result closes ``raw``."""
    try:
        reader = VerifyingReader(Bounded(raw, limit), **kwargs)
    except BaseException:
        raw.close()
        raise
    return io.BufferedReader(reader, buffer_size=SEGMENT)
