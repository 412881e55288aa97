"""The embedded object store: a local folder with S3 Object Lock semantics in code.

Layout under ``root``::

    objects/<key>/.versions/<version_id>.data   the bytes (sealed when a key is set)
    objects/<key>/.versions/<version_id>.json   the sidecar: sha256, size, retention...

A version is visible once its sidecar exists; both files are written to
``.tmp-*`` names, fsynced, renamed into place and the directory fsynced, so a
crash never leaves a half-written version visible. Versions are never
overwritten. Retention is COMPLIANCE-like: no delete before ``retain_until``
or under legal hold, and retention can only be extended. Sidecar updates take
an exclusive ``flock`` on the key's ``.versions`` directory, so several
processes may share one root.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from archive.common import (
    SourceError,
    check_content_type,
    normalize_retain_until,
    normalize_sha256,
    read_exact,
    utcnow,
)
from archive.fsreader import open_verified
from archive.interface import (
    IntegrityMismatch,
    ObjectInfo,
    ObjectLocked,
    ObjectNotFound,
    StorageUnavailable,
)
from archive.keys import validate_key, validate_prefix
from archive.sealed import KEY_SIZE, SEGMENT, Sealer
from chartvault.errors import ConfigurationError

VERSIONS = ".versions"
_FORMAT = 1
_clock_lock = threading.Lock()
_last_ns = 0


def new_version_id() -> str:
    """Sortable by creation time across processes (ns clock + random tail)."""
    global _last_ns
    with _clock_lock:
        now = max(time.time_ns(), _last_ns + 1)
        _last_ns = now
    return f"{now:020d}-{secrets.token_hex(6)}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durable(path: Path, top: Path) -> None:
    """Create ``path`` (under ``top``), fsyncing each parent that gained an entry."""
    missing = []
    while not path.is_dir() and path != top:
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        _fsync_dir(directory.parent)


def _info_to_json(info: ObjectInfo, sealed: bool) -> bytes:
    doc = asdict(info)
    doc["last_modified"] = info.last_modified.isoformat()
    doc["retain_until"] = info.retain_until.isoformat() if info.retain_until else None
    doc.update(format=_FORMAT, sealed=sealed)
    return json.dumps(doc, sort_keys=True).encode()


def _info_from_json(data: bytes, where: str) -> tuple[ObjectInfo, bool]:
    try:
        doc = json.loads(data)
        retain = doc["retain_until"]
        info = ObjectInfo(
            key=doc["key"], version_id=doc["version_id"], size=int(doc["size"]),
            sha256=doc["sha256"], content_type=doc["content_type"],
            last_modified=datetime.fromisoformat(doc["last_modified"]),
            retain_until=datetime.fromisoformat(retain) if retain else None,
            legal_hold=bool(doc["legal_hold"]),
        )
        return info, bool(doc["sealed"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityMismatch(f"{where}: unreadable metadata sidecar ({exc})") from exc


class FilesystemStore:
    """An :class:`~archive.interface.ObjectStore` in a local folder."""

    def __init__(self, root: Path, key: bytes | None = None) -> None:
        if key is not None and len(key) != KEY_SIZE:
            raise ConfigurationError(f"the storage key must be {KEY_SIZE} bytes, got {len(key)}")
        self.root = Path(root)
        self._objects = self.root / "objects"
        self._key = key
        try:
            self._objects.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(
                f"cannot create the object store at {self.root}: {exc}"
            ) from exc

    def __repr__(self) -> str:
        return f"FilesystemStore({str(self.root)!r}, encrypted={self._key is not None})"

    # paths ------------------------------------------------------------------

    def _dir(self, key: str) -> Path:
        return self._objects / validate_key(key) / VERSIONS

    def _version_ids(self, key: str) -> list[str]:
        """Visible versions of ``key``, oldest first."""
        try:
            names = os.listdir(self._dir(key))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise StorageUnavailable(f"cannot list {key}: {exc}") from exc
        return sorted(n[:-5] for n in names if n.endswith(".json") and not n.startswith("."))

    def _resolve(self, key: str, version_id: str | None) -> str:
        if version_id is None:
            versions = self._version_ids(key)
            if not versions:
                raise ObjectNotFound(f"no object {key}")
            return versions[-1]
        if not isinstance(version_id, str) or "/" in version_id or version_id.startswith("."):
            raise ObjectNotFound(f"no version {version_id!r} of {key}")
        return version_id

    def _read_info(self, key: str, version_id: str) -> tuple[ObjectInfo, bool]:
        path = self._dir(key) / f"{version_id}.json"
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no version {version_id} of {key}") from exc
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {key} ({version_id}): {exc}") from exc
        return _info_from_json(data, f"{key} ({version_id})")

    def _write_sidecar(self, directory: Path, info: ObjectInfo, sealed: bool, tmp: Path) -> None:
        with open(tmp, "xb") as out:
            out.write(_info_to_json(info, sealed))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, directory / f"{info.version_id}.json")

    @contextmanager
    def _locked(self, key: str) -> Iterator[Path]:
        directory = self._dir(key)
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield directory
        finally:
            os.close(fd)  # releases the lock

    # writes -----------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, *, content_type: str = "application/octet-stream",
            retain_until: datetime | None = None, legal_hold: bool = False,
            expected_sha256: str | None = None) -> ObjectInfo:
        """Store a new version; durable on return. Raises BadInput, IntegrityMismatch,
        StorageUnavailable; an exception from ``stream`` is re-raised unchanged."""
        directory = self._dir(key)
        check_content_type(content_type)
        retain_until = normalize_retain_until(retain_until)
        expected = normalize_sha256(expected_sha256)
        version_id = new_version_id()
        tmp_data = directory / f".tmp-{version_id}.data"
        tmp_meta = directory / f".tmp-{version_id}.json"
        try:
            sha256, size = self._write_data(directory, tmp_data, stream, key, version_id)
            if expected is not None and sha256 != expected:
                raise IntegrityMismatch(
                    f"{key}: received bytes hash to {sha256}, expected {expected}; nothing kept"
                )
            info = ObjectInfo(key=key, version_id=version_id, size=size, sha256=sha256,
                              content_type=content_type, last_modified=utcnow(),
                              retain_until=retain_until, legal_hold=bool(legal_hold))
            os.replace(tmp_data, directory / f"{version_id}.data")
            self._write_sidecar(directory, info, self._key is not None, tmp_meta)
            _fsync_dir(directory)
            return info
        except SourceError as exc:
            self._discard(tmp_data, tmp_meta, directory / f"{version_id}.data")
            raise exc.original from None
        except OSError as exc:
            self._discard(tmp_data, tmp_meta, directory / f"{version_id}.data")
            raise StorageUnavailable(f"cannot write {key}: {exc}") from exc
        except BaseException:
            self._discard(tmp_data, tmp_meta, directory / f"{version_id}.data")
            raise

    def _write_data(self, directory: Path, tmp: Path, stream: BinaryIO, key: str,
                    version_id: str) -> tuple[str, int]:
        out = self._create(directory, tmp)
        sha, size = hashlib.sha256(), 0
        sealer = Sealer(self._key, key, version_id) if self._key is not None else None
        with out:
            if sealer is not None:
                out.write(sealer.header)
            while True:
                chunk = read_exact(stream, SEGMENT)
                sha.update(chunk)
                size += len(chunk)
                last = len(chunk) < SEGMENT
                out.write(sealer.seal(chunk, last=last) if sealer is not None else chunk)
                if last:
                    break
            out.flush()
            os.fsync(out.fileno())
        return sha.hexdigest(), size

    def _create(self, directory: Path, tmp: Path) -> BinaryIO:
        for _attempt in range(5):  # a concurrent delete may remove the empty directory
            _makedirs_durable(directory, self._objects)
            try:
                return open(tmp, "xb")
            except FileNotFoundError:
                continue
        raise StorageUnavailable(f"cannot create {tmp}: its directory keeps disappearing")

    @staticmethod
    def _discard(*paths: Path) -> None:
        for path in paths:
            try:
                path.unlink()
            except OSError:
                pass

    def set_retention(self, key: str, version_id: str, retain_until: datetime) -> ObjectInfo:
        """Extend retention (idempotent for the same date); shortening is ObjectLocked."""
        retain_until = normalize_retain_until(retain_until)
        with self._locked(key) as directory:
            info, sealed = self._read_info(key, self._resolve(key, version_id))
            if info.retain_until is not None and retain_until < info.retain_until:
                raise ObjectLocked(
                    f"{key} ({version_id}) is retained until {info.retain_until.isoformat()}; "
                    "retention can only be extended"
                )
            return self._update(directory, replace(info, retain_until=retain_until), sealed)

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> ObjectInfo:
        """Place or release a legal hold (idempotent)."""
        with self._locked(key) as directory:
            info, sealed = self._read_info(key, self._resolve(key, version_id))
            return self._update(directory, replace(info, legal_hold=bool(on)), sealed)

    def _update(self, directory: Path, info: ObjectInfo, sealed: bool) -> ObjectInfo:
        tmp = directory / f".tmp-{info.version_id}-{secrets.token_hex(4)}.json"
        try:
            self._write_sidecar(directory, info, sealed, tmp)
            _fsync_dir(directory)
        except OSError as exc:
            self._discard(tmp)
            raise StorageUnavailable(f"cannot update {info.key}: {exc}") from exc
        return info

    def delete_version(self, key: str, version_id: str) -> None:
        """Remove one version for good. ObjectLocked under hold or unexpired retention."""
        with self._locked(key) as directory:
            info, _ = self._read_info(key, self._resolve(key, version_id))
            _refuse_if_locked(info)
            try:
                (directory / f"{info.version_id}.json").unlink()
                (directory / f"{info.version_id}.data").unlink(missing_ok=True)
                _fsync_dir(directory)
            except OSError as exc:
                raise StorageUnavailable(f"cannot delete {key} ({version_id}): {exc}") from exc
        self._prune(directory)

    def _prune(self, directory: Path) -> None:
        """Remove directories left empty, up to the objects root (best effort)."""
        while directory != self._objects:
            try:
                directory.rmdir()
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    raise StorageUnavailable(f"cannot tidy {directory}: {exc}") from exc
                return
            directory = directory.parent

    # reads ------------------------------------------------------------------

    def stat(self, key: str, version_id: str | None = None) -> ObjectInfo:
        return self._read_info(key, self._resolve(key, version_id))[0]

    def get(self, key: str, version_id: str | None = None) -> BinaryIO:
        """Open a version for streaming. The returned reader is a context manager; it
        raises IntegrityMismatch rather than return bytes that were altered on disk."""
        info, sealed = self._read_info(key, self._resolve(key, version_id))
        if sealed and self._key is None:
            raise StorageUnavailable(f"{key} is encrypted and the store has no storage key")
        try:
            raw = open(self._dir(key) / f"{info.version_id}.data", "rb")
        except FileNotFoundError as exc:  # sidecar without bytes: the bytes are lost
            raise ObjectNotFound(f"{key} ({info.version_id}): data file is missing") from exc
        except OSError as exc:
            raise StorageUnavailable(f"cannot open {key}: {exc}") from exc
        opener = (self._key, key, info.version_id) if sealed else None
        return open_verified(raw, where=f"{key} ({info.version_id})", size=info.size,
                             sha256=info.sha256, opener_args=opener)

    def _keys(self, prefix: str) -> list[str]:
        start = self._objects / prefix[: prefix.rfind("/") + 1]
        found = []
        for dirpath, dirnames, _files in os.walk(start):
            has_versions = VERSIONS in dirnames
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            if has_versions:
                key = Path(dirpath).relative_to(self._objects).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """The latest version of every key under ``prefix``, in key order."""
        for key in self._keys(validate_prefix(prefix)):
            versions = self._version_ids(key)
            if versions:
                try:
                    yield self._read_info(key, versions[-1])[0]
                except ObjectNotFound:
                    continue  # deleted while listing

    def list_versions(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every version under ``prefix``: keys in order, newest version first."""
        for key in self._keys(validate_prefix(prefix)):
            for version_id in reversed(self._version_ids(key)):
                try:
                    yield self._read_info(key, version_id)[0]
                except ObjectNotFound:
                    continue


def _refuse_if_locked(info: ObjectInfo) -> None:
    where = f"{info.key} ({info.version_id})"
    if info.legal_hold:
        raise ObjectLocked(f"{where} is under legal hold")
    if info.retain_until is not None and info.retain_until > utcnow():
        raise ObjectLocked(f"{where} is retained until {info.retain_until.isoformat()}")
