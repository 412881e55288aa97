"""Authenticated retention and hold metadata for the filesystem store.

The embedded store enforces retention in code, from metadata beside the bytes: a
JSON trailer in each version file and, once retention or hold changed, a ``.lock``
file. Anyone who can write the folder could shorten a ``retain_until`` or add a lock
file; so both carry an HMAC-SHA256 keyed from the storage key (HKDF, its own
``info``: the encryption keys never serve as MAC keys).

- The trailer's ``mac`` covers every other field of the trailer (key, version,
  size, SHA-256, type, time, retention, hold, format).
- A lock file's ``mac`` covers the key, the version, its retention and hold, and the
  SHA-256 of the version's trailer, so a lock file cannot be moved to another
  version nor outlive an edit of the trailer.

A version written before these MACs (a trailer without ``mac``) is *not
authenticated*: it fails closed (``verify`` reports it, delete and retention
changes refuse it) until ``chartvault seal-store --unedited`` writes a sealed lock
file for it, on the administrator's word that the store was not edited before.

What this does not stop: replacing a lock file with an older authentic one of the
same version (a rollback of an extension). The catalog keeps each object's
retention too; the ledger check compares them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from archive.interface import IntegrityMismatch

_INFO = b"chartvault-archive-metadata-mac-v1"


class MetadataUnauthenticated(IntegrityMismatch):
    """A version's retention or hold metadata fails authentication (edited, forged, or
    written before metadata MACs and not sealed since)."""

    code = "metadata_unauthenticated"


def mac_key(storage_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        storage_key)


def _digest(key: bytes, doc: dict[str, Any]) -> str:
    body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def sign_trailer(key: bytes, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with its ``mac``."""
    return {**doc, "mac": _digest(key, doc)}


def trailer_state(key: bytes, doc: dict[str, Any]) -> str:
    """``ok``, ``legacy`` (no mac: written before MACs) or ``edited``."""
    body = dict(doc)
    mac = body.pop("mac", None)
    if mac is None:
        return "legacy"
    return "ok" if hmac.compare_digest(str(mac), _digest(key, body)) else "edited"


def trailer_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw.rstrip(b" ")).hexdigest()


def sign_lock(key: bytes, object_key: str, version_id: str, lock: dict[str, Any],
              trailer_digest: str) -> dict[str, Any]:
    bound = {**lock, "key": object_key, "version_id": version_id, "trailer": trailer_digest}
    return {**lock, "trailer": trailer_digest, "mac": _digest(key, bound)}


def check_lock(key: bytes, object_key: str, version_id: str, doc: dict[str, Any],
               trailer_digest: str, where: str) -> None:
    """MetadataUnauthenticated unless ``doc`` is a lock file sealed for this version."""
    body = dict(doc)
    mac = body.pop("mac", None)
    if body.get("trailer") != trailer_digest or mac is None:
        raise MetadataUnauthenticated(
            f"{where}: its lock file is not sealed for this version (added or edited)")
    body.pop("trailer")
    expected = _digest(key, {**body, "key": object_key, "version_id": version_id,
                             "trailer": trailer_digest})
    if not hmac.compare_digest(str(mac), expected):
        raise MetadataUnauthenticated(f"{where}: its lock file fails authentication (edited)")
