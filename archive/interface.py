"""The ``ObjectStore`` role: what every storage backend promises.

Keys are plain strings made by :mod:`archive.keys`. Objects are versioned and
immutable: writing an existing key makes a new version. A version under
retention (``retain_until`` in the future) or under legal hold cannot be
deleted, and retention can only be extended. A missing object or version is
:class:`ObjectNotFound` everywhere; a refusal is :class:`ObjectLocked`; an
unreachable store is :class:`StorageUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

from chartvault.errors import BadInput, ChartvaultError, NotFound, PolicyRefusal, Unavailable


class ObjectNotFound(NotFound):
    code = "object_not_found"


class ObjectLocked(PolicyRefusal):
    """Deleting, overwriting in place or shortening retention was refused."""

    code = "object_locked"


class StorageUnavailable(Unavailable):
    code = "storage_unavailable"


class IntegrityMismatch(BadInput):
    """The bytes written or read do not hash to the expected SHA-256."""

    code = "integrity_mismatch"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    version_id: str
    size: int
    sha256: str  # hex digest of the plaintext bytes
    content_type: str
    last_modified: datetime  # timezone-aware UTC
    retain_until: datetime | None  # timezone-aware UTC; None = no retention
    legal_hold: bool


@runtime_checkable
class ObjectStore(Protocol):
    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        retain_until: datetime | None = None,
        legal_hold: bool = False,
        expected_sha256: str | None = None,
    ) -> ObjectInfo:
        """Store a new version read from ``stream`` (streamed, never whole in memory).

        The SHA-256 is computed while writing; if ``expected_sha256`` is given and
        differs, nothing is kept and :class:`IntegrityMismatch` is raised.
        """

    def get(self, key: str, version_id: str | None = None) -> AbstractContextManager[BinaryIO]:
        """Open a version (default: latest) for streaming reads."""

    def stat(self, key: str, version_id: str | None = None) -> ObjectInfo: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """The latest version of every key under ``prefix``, in key order."""

    def list_versions(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every version of every key under ``prefix``."""

    def set_retention(self, key: str, version_id: str, retain_until: datetime) -> ObjectInfo:
        """Extend retention; an earlier date than the current one is :class:`ObjectLocked`."""

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> ObjectInfo: ...

    def delete_version(self, key: str, version_id: str) -> None:
        """Remove one version for good; refused under retention or hold."""

    def metadata_problems(self, prefix: str = "") -> Iterator[tuple[str, str, str]]:
        """(key, version id, why) of each version whose retention or hold metadata does
        not authenticate (edited outside the store); what fixity reports."""

    def sweep_abandoned_writes(self, older_than_seconds: float = 3600) -> int:
        """Remove what writes left half-done when their process was killed (never a
        version: one is visible only once whole), untouched for ``older_than_seconds``;
        returns how many. Idempotent, safe beside running writes (theirs are recent)."""


class StorageRejected(ChartvaultError):
    """The store refused a request for a reason that retrying will not fix
    (e.g. a wrong SSE-C key); the message says which setting to check."""

    code = "storage_rejected"
    http_status = 502
    exit_code = 74  # EX_IOERR
