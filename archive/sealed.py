"""Encryption at rest for the filesystem store: segmented AES-256-GCM.

A sealed file is a header followed by segments. Each segment holds up to
``SEGMENT`` bytes of plaintext plus a 16-byte GCM tag, so any size streams in
constant memory and an altered byte is caught in the segment that holds it,
before that segment's plaintext is handed out.

- Every object gets its own AES key, derived with HKDF-SHA256 from the master
  key, a random 256-bit salt and the object's key and version id. Nonces
  therefore never repeat across objects, and a file copied over another
  version does not decrypt.
- Nonce = random 7-byte prefix + 4-byte segment counter + 1 "last segment" byte
  (the STREAM construction), so reordering, dropping or truncating segments is
  detected. A plaintext that ends on a segment boundary gets an empty last segment.
- The header is the associated data of every segment.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from archive.interface import IntegrityMismatch

SEGMENT = 1024 * 1024
TAG = 16
MAGIC = b"CVGCM\x00\x00\x01"
_HEADER = struct.Struct(">8sI32s7s")  # magic, segment size, salt, nonce prefix
HEADER_SIZE = _HEADER.size
KEY_SIZE = 32


def _object_key(master: bytes, salt: bytes, key: str, version_id: str) -> AESGCM:
    info = b"chartvault-archive-v1\x00" + key.encode() + b"\x00" + version_id.encode()
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=info)
    return AESGCM(hkdf.derive(master))


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class Sealer:
    """Encrypts one object, segment by segment, in order."""

    def __init__(self, master: bytes, key: str, version_id: str) -> None:
        salt, self._prefix = os.urandom(32), os.urandom(7)
        self.header = _HEADER.pack(MAGIC, SEGMENT, salt, self._prefix)
        self._aead = _object_key(master, salt, key, version_id)
        self._counter = 0

    def _next_nonce(self, size: int, last: bool) -> bytes:
        if size > SEGMENT or (not last and size != SEGMENT):
            raise ValueError("non-final segments must be exactly SEGMENT bytes")
        nonce = _nonce(self._prefix, self._counter, last)
        self._counter += 1
        return nonce

    def seal(self, plaintext: bytes, *, last: bool) -> bytes:
        """The ciphertext of the next segment; ``last`` must be set on the final one."""
        return self._aead.encrypt(self._next_nonce(len(plaintext), last), plaintext,
                                  self.header)

    def seal_into(self, plaintext: memoryview, out: bytearray | memoryview, *,
                  last: bool) -> memoryview:
        """Like :meth:`seal`, written into ``out`` (reused: no allocation per segment)."""
        size = len(plaintext) + TAG
        view = memoryview(out)[:size]
        self._aead.encrypt_into(self._next_nonce(len(plaintext), last), plaintext,
                                self.header, view)
        return view


class Opener:
    """Decrypts the segments of one sealed object, in order."""

    def __init__(self, master: bytes, key: str, version_id: str, header: bytes) -> None:
        if len(header) != HEADER_SIZE:
            raise IntegrityMismatch(f"{key} ({version_id}): sealed header truncated")
        magic, segment, salt, self._prefix = _HEADER.unpack(header)
        if magic != MAGIC or segment != SEGMENT:
            raise IntegrityMismatch(f"{key} ({version_id}): not a sealed object of this format")
        self.header = header
        self._where = f"{key} ({version_id})"
        self._aead = _object_key(master, salt, key, version_id)
        self._counter = 0

    def open_into(self, ciphertext: bytes, out: bytearray, *, last: bool) -> memoryview:
        """The plaintext of the next segment, written into ``out`` (reused), or
        :class:`IntegrityMismatch`; nothing of a failed segment is usable."""
        nonce = _nonce(self._prefix, self._counter, last)
        view = memoryview(out)[: max(0, len(ciphertext) - TAG)]
        try:
            if len(ciphertext) < TAG:
                raise InvalidTag
            self._aead.decrypt_into(nonce, ciphertext, self.header, view)
        except InvalidTag as exc:
            raise IntegrityMismatch(
                f"{self._where}: segment {self._counter} failed authentication "
                "(altered, truncated or reordered on disk)"
            ) from exc
        self._counter += 1
        return view
