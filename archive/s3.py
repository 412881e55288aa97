"""The server backend: any S3 store with Object Lock (MinIO, Ceph RGW, AWS), via ``minio``.

Every version is written with COMPLIANCE retention and its legal hold in the
same request, so the server enforces them from the first byte. The SHA-256 of
the plaintext travels as user metadata (``x-amz-meta-sha256``); S3 needs it
before the body, so a put without ``expected_sha256`` hashes a regular file in
a first pass, and spools any other stream to a local temporary file. Vendor
exceptions are translated here and never leave this module; idempotent calls
are retried with backoff and jitter on transient failures (a put is not: its
stream cannot be rewound, and :class:`StorageUnavailable` tells the caller to
retry).

Ceph RGW quirks handled here:

- RGW returns retain-until dates with nanoseconds
  (``2026-11-22T07:22:33.462000000Z``) that ``minio``'s retention parser
  rejects, so retention and hold are read from the HEAD response headers and
  parsed by :func:`parse_s3_time`.
- A small GET from a default RGW (beast without ``tcp_nodelay=1``) takes
  ~44 ms, keep-alive or not: Nagle on the server meets delayed ACK here.
  Our connections set ``TCP_QUICKACK`` before reading each response, which
  brings it to ~4 ms; ``tcp_nodelay=1`` in ``rgw_frontends`` fixes it for
  every client.
- RGW ignores the object-lock headers of multipart uploads; :meth:`S3Store._put`
  re-applies retention and hold after checking what the server stored.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, BinaryIO, TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, Tags
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.retention import Retention
from minio.sse import SseCustomerKey, SseS3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from archive.common import (
    HashingReader,
    SourceError,
    check_content_type,
    decode_storage_key,
    normalize_retain_until,
    normalize_sha256,
    utcnow,
)
from archive.interface import (
    IntegrityMismatch,
    ObjectInfo,
    ObjectLocked,
    ObjectNotFound,
    StorageRejected,
    StorageUnavailable,
)
from archive.keys import validate_key, validate_prefix
from chartvault.errors import ChartvaultError, ConfigurationError

if TYPE_CHECKING:
    from chartvault.settings import Settings

T = TypeVar("T")
PART_SIZE = 16 * 1024 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024
_NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "NoSuchObject", "NotFound", "ResourceNotFound"}
_TRANSIENT = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
              "OperationAborted", "ServerBusy"}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$")


def parse_s3_time(text: str) -> datetime:
    """An ISO-8601 time as S3 servers send it, with 0-9 fractional digits (RGW sends 9)."""
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(f"not an S3 timestamp: {text!r}")
    whole, fraction, zone = match.groups()
    fraction = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{whole}.{fraction}{zone}").astimezone(UTC)


def _quick_ack(sock) -> None:
    """ACK the next segments at once. Beast (without tcp_nodelay) writes the response
    headers and a small body separately and Nagle holds the body until the headers
    are ACKed; a delayed ACK here then costs ~40 ms per small GET (measured 44 ms ->
    4 ms for a 100-byte object). Linux only; not sticky, so set before every read."""
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


class _QuickAckHTTPConnection(HTTPConnection):
    def getresponse(self, *args, **kwargs):
        _quick_ack(self.sock)
        return super().getresponse(*args, **kwargs)


class _QuickAckHTTPSConnection(HTTPSConnection):
    def getresponse(self, *args, **kwargs):
        _quick_ack(self.sock)
        return super().getresponse(*args, **kwargs)


class _QuickAckHTTPPool(HTTPConnectionPool):
    ConnectionCls = _QuickAckHTTPConnection


class _QuickAckHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _QuickAckHTTPSConnection


class _PoolManager(urllib3.PoolManager):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pool_classes_by_scheme = {"http": _QuickAckHTTPPool, "https": _QuickAckHTTPSPool}


def _http_client() -> urllib3.PoolManager:
    return _PoolManager(
        timeout=urllib3.Timeout(connect=5, read=120),
        maxsize=16,
        # Connection failures are retried here (nothing was sent); everything
        # else comes back to S3Store, which knows what is safe to repeat.
        retries=urllib3.Retry(total=2, connect=2, read=0, status=0, redirect=0,
                              backoff_factor=0.1),
    )


def _translate(exc: Exception, what: str) -> ChartvaultError:
    """The Chartvault error for a vendor exception raised while doing ``what``."""
    if isinstance(exc, S3Error):
        code = exc.code or ""
        status = exc.response.status if exc.response is not None else 0
        detail = f"{what}: {code} {exc.message or ''}".strip()
        if code in _NOT_FOUND or status == 404:
            return ObjectNotFound(detail)
        if code == "AccessDenied" and ("lock" in (exc.message or "").lower()
                                       or what.startswith(("delete", "set retention"))):
            return ObjectLocked(detail)
        if code in _BAD_CREDENTIALS or code == "AccessDenied":
            return ConfigurationError(
                f"{detail}; check CHARTVAULT_S3_ACCESS_KEY and CHARTVAULT_S3_SECRET_KEY"
            )
        if code == "NoSuchBucket":
            return ConfigurationError(f"{detail}; check CHARTVAULT_S3_BUCKET")
        if code in _TRANSIENT or status >= 500:
            return StorageUnavailable(detail)
        return StorageRejected(
            f"{detail} (HTTP {status}); if the object is encrypted, check "
            "CHARTVAULT_S3_ENCRYPTION and CHARTVAULT_STORAGE_KEY"
        )
    return StorageUnavailable(f"{what}: the S3 server is unreachable or failed ({exc})")


def _transient(exc: Exception) -> bool:
    if isinstance(exc, S3Error):
        status = exc.response.status if exc.response is not None else 0
        return (exc.code or "") in _TRANSIENT or status >= 500
    return isinstance(exc, ServerError | InvalidResponseError | urllib3.exceptions.HTTPError
                      | OSError)


_VENDOR = (MinioException, urllib3.exceptions.HTTPError, OSError)


def _remaining_length(stream: BinaryIO) -> int:
    """Bytes left in a regular file (so S3 gets exact part sizes), else -1."""
    try:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            return -1
        return max(0, info.st_size - stream.tell())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return -1


class _S3Reader(io.RawIOBase):
    """Streams one GET response; checks size and SHA-256 at the end; translates errors."""

    def __init__(self, response, where: str, sha256: str | None, size: int | None) -> None:
        self._response, self._where = response, where
        self._expected_sha256, self._expected_size = sha256, size
        self._hash = hashlib.sha256()
        self._count = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def _chunk(self, size: int) -> bytes:
        try:
            data = self._response.read(size)
        except _VENDOR as exc:
            raise StorageUnavailable(f"{self._where}: read interrupted ({exc})") from exc
        if not data:
            self._check()
            return b""
        self._hash.update(data)
        self._count += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._chunk(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        parts = []
        while chunk := self._chunk(1024 * 1024):
            parts.append(chunk)
        return b"".join(parts)

    def _check(self) -> None:
        if self._checked:
            return
        self._checked = True
        if self._expected_size is not None and self._count != self._expected_size:
            raise IntegrityMismatch(
                f"{self._where}: got {self._count} bytes, expected {self._expected_size}"
            )
        if self._expected_sha256 and self._hash.hexdigest() != self._expected_sha256:
            raise IntegrityMismatch(f"{self._where}: SHA-256 of the stored bytes has changed")

    def close(self) -> None:
        if not self.closed:
            try:
                self._response.close()
                self._response.release_conn()
            except _VENDOR:
                pass
        super().close()


class S3Store:
    """An :class:`~archive.interface.ObjectStore` on one S3 bucket with Object Lock."""

    def __init__(self, client: Minio, bucket: str, *, region: str = "us-east-1",
                 encryption: str = "none", storage_key: bytes | None = None,
                 part_size: int = PART_SIZE, attempts: int = 4) -> None:
        if not isinstance(bucket, str) or not _BUCKET.match(bucket) or ".." in bucket:
            raise ConfigurationError(
                f"CHARTVAULT_S3_BUCKET={bucket!r} is not a valid S3 bucket name "
                "(3-63 lower-case letters, digits, '.' or '-')"
            )
        self._client, self.bucket, self._region = client, bucket, region
        self._part_size, self._attempts = part_size, attempts
        self._sse, self._ssec = self._encryption(encryption, storage_key)
        self._bucket_ready = False

    @staticmethod
    def _encryption(mode: str, key: bytes | None):
        if mode == "none":
            return None, None
        if mode == "sse-s3":
            return SseS3(), None
        if mode == "sse-c":
            if not key or len(key) != 32:
                raise ConfigurationError("CHARTVAULT_STORAGE_KEY must be 32 bytes for SSE-C")
            ssec = SseCustomerKey(key)
            return ssec, ssec
        raise ConfigurationError(f"CHARTVAULT_S3_ENCRYPTION={mode!r}: none, sse-s3 or sse-c")

    @classmethod
    def connect(cls, endpoint: str, access_key: str, secret_key: str, bucket: str, *,
                region: str = "us-east-1", encryption: str = "none",
                storage_key: bytes | None = None, **kwargs) -> S3Store:
        """``endpoint`` is ``http(s)://host:port`` (no scheme means https)."""
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ConfigurationError(
                f"CHARTVAULT_S3_ENDPOINT={endpoint!r}: expected http(s)://host:port"
            )
        client = Minio(parts.netloc, access_key=access_key, secret_key=secret_key,
                       secure=parts.scheme == "https", region=region, http_client=_http_client())
        return cls(client, bucket, region=region, encryption=encryption,
                   storage_key=storage_key, **kwargs)

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        key = decode_storage_key(settings.storage_key)
        return cls.connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key,
                           settings.s3_bucket, region=settings.s3_region,
                           encryption=settings.s3_encryption, storage_key=key)

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r})"

    # calling the server ------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run an idempotent request, retrying transient failures with backoff + jitter."""
        for attempt in range(1, self._attempts + 1):
            try:
                return fn(*args, **kwargs)
            except _VENDOR as exc:
                if attempt == self._attempts or not _transient(exc):
                    raise _translate(exc, what) from exc
            time.sleep(min(2.0, 0.1 * 2 ** attempt) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def _ready(self) -> None:
        """Create the bucket with Object Lock if missing; refuse a bucket without it."""
        if self._bucket_ready:
            return
        if not self._call("check bucket", self._client.bucket_exists, self.bucket):
            try:
                self._call("create bucket", self._client.make_bucket, self.bucket,
                           location=self._region, object_lock=True)
            except ChartvaultError:
                if not self._call("check bucket", self._client.bucket_exists, self.bucket):
                    raise
        try:
            self._call("check object lock", self._client.get_object_lock_config, self.bucket)
        except ObjectNotFound as exc:
            raise ConfigurationError(
                f"S3 bucket {self.bucket!r} has no Object Lock ({exc.message}); Chartvault "
                "needs a bucket created with Object Lock enabled (CHARTVAULT_S3_BUCKET)"
            ) from exc
        self._bucket_ready = True

    # reads ---------------------------------------------------------------------

    def _info(self, key: str, obj) -> ObjectInfo:
        headers = obj.metadata
        retain = headers.get("x-amz-object-lock-retain-until-date")
        modified = obj.last_modified or utcnow()
        return ObjectInfo(
            key=key, version_id=obj.version_id or "null", size=int(obj.size or 0),
            sha256=(headers.get("x-amz-meta-sha256") or "").lower(),
            content_type=obj.content_type or "application/octet-stream",
            last_modified=modified.astimezone(UTC),
            retain_until=parse_s3_time(retain) if retain else None,
            legal_hold=(headers.get("x-amz-object-lock-legal-hold") or "").upper() == "ON",
        )

    def stat(self, key: str, version_id: str | None = None) -> ObjectInfo:
        """Size, SHA-256, retention and hold of one version (default: latest)."""
        validate_key(key)
        self._ready()
        obj = self._call(f"stat {key} ({version_id or 'latest'})", self._client.stat_object,
                         self.bucket, key, ssec=self._ssec, version_id=version_id)
        return self._info(key, obj)

    def get(self, key: str, version_id: str | None = None) -> BinaryIO:
        """Open a version for streaming (one GET); the reader checks size and the
        SHA-256 recorded at put time when it reaches the end."""
        validate_key(key)
        self._ready()
        where = f"{key} ({version_id or 'latest'})"
        response = self._call(f"get {where}", self._client.get_object, self.bucket, key,
                              version_id=version_id, ssec=self._ssec)
        headers = response.headers
        where = f"{key} ({headers.get('x-amz-version-id') or version_id})"
        length = headers.get("content-length")
        reader = _S3Reader(response, where, (headers.get("x-amz-meta-sha256") or "").lower()
                           or None, int(length) if length else None)
        return io.BufferedReader(reader, buffer_size=1024 * 1024)

    def _listing(self, prefix: str, versions: bool) -> Iterator:
        self._ready()
        try:
            yield from self._client.list_objects(self.bucket, prefix=prefix, recursive=True,
                                                 include_version=versions)
        except _VENDOR as exc:
            raise _translate(exc, f"list {prefix!r}") from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """The latest version of every key under ``prefix``, in key order."""
        for obj in self._listing(validate_prefix(prefix), versions=False):
            try:
                yield self.stat(obj.object_name)
            except ObjectNotFound:
                continue  # deleted while listing

    def metadata_problems(self, prefix: str = "") -> Iterator[tuple[str, str, str]]:
        """None: Object Lock retention and holds are the server's own, not files."""
        validate_prefix(prefix)
        return iter(())

    def sweep_abandoned_writes(self, older_than_seconds: float = 3600) -> int:
        """0: a killed upload leaves no object on S3 (a single PUT is atomic; the parts of
        an unfinished multipart upload are no version and are aborted by the bucket's
        AbortIncompleteMultipartUpload rule, which the README asks a site to set)."""
        return 0

    def list_versions(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every version under ``prefix``: keys in order, newest version first."""
        for obj in self._listing(validate_prefix(prefix), versions=True):
            if obj.is_delete_marker:
                continue
            try:
                yield self.stat(obj.object_name, obj.version_id)
            except ObjectNotFound:
                continue

    # writes --------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, *, content_type: str = "application/octet-stream",
            retain_until: datetime | None = None, legal_hold: bool = False,
            expected_sha256: str | None = None) -> ObjectInfo:
        """Store a new version under COMPLIANCE retention and hold, streamed in parts.

        Raises BadInput, IntegrityMismatch, StorageUnavailable (not retried here);
        an exception from ``stream`` is re-raised unchanged and nothing is kept.
        """
        validate_key(key)
        check_content_type(content_type)
        retain_until = normalize_retain_until(retain_until)
        expected = normalize_sha256(expected_sha256)
        self._ready()
        length = _remaining_length(stream)
        if expected is None and length >= 0:  # a file: hash it first, then send it
            start = stream.tell()
            expected, length = self._spool(stream, None)
            stream.seek(start)
        if expected is None:
            with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as spool:
                expected, size = self._spool(stream, spool)
                return self._put(key, spool, content_type, retain_until, legal_hold,
                                 expected, size)
        return self._put(key, stream, content_type, retain_until, legal_hold, expected, length)

    @staticmethod
    def _spool(stream: BinaryIO, spool: BinaryIO | None) -> tuple[str, int]:
        """Hash ``stream`` to its end, copying it into ``spool`` (rewound) if given."""
        reader = HashingReader(stream)
        try:
            while chunk := reader.read(1024 * 1024):
                if spool is not None:
                    spool.write(chunk)
        except SourceError as exc:
            raise exc.original from None
        if spool is not None:
            spool.seek(0)
        return reader.hexdigest(), reader.size

    def _put(self, key: str, stream: BinaryIO, content_type: str, retain_until: datetime | None,
             legal_hold: bool, expected: str, length: int) -> ObjectInfo:
        retention = Retention(COMPLIANCE, retain_until) if retain_until else None
        with HashingReader(stream, background=True) as reader:
            try:
                result = self._client.put_object(
                    self.bucket, key, reader, length, content_type=content_type,
                    metadata={"sha256": expected}, sse=self._sse, part_size=self._part_size,
                    retention=retention, legal_hold=legal_hold)
            except SourceError as exc:
                raise exc.original from None
            except _VENDOR as exc:
                raise _translate(exc, f"put {key}") from exc
            got = reader.hexdigest()
        info = self.stat(key, result.version_id)
        if got != expected or info.size != reader.size:
            self._discard_mismatch(info, got)
        return self._ensure_lock(info, retain_until, legal_hold)

    def _ensure_lock(self, info: ObjectInfo, retain_until: datetime | None,
                     legal_hold: bool) -> ObjectInfo:
        """Apply retention and hold that the server dropped (Ceph RGW ignores the
        object-lock headers of multipart uploads)."""
        where = f"{info.key} ({info.version_id})"
        changed = False
        if retain_until is not None and info.retain_until != retain_until:
            self._call(f"set retention {where}", self._client.set_object_retention, self.bucket,
                       info.key, Retention(COMPLIANCE, retain_until), version_id=info.version_id)
            changed = True
        if legal_hold and not info.legal_hold:
            self._call(f"legal hold {where}", self._client.enable_object_legal_hold, self.bucket,
                       info.key, version_id=info.version_id)
            changed = True
        return self.stat(info.key, info.version_id) if changed else info

    def _discard_mismatch(self, info: ObjectInfo, got: str) -> None:
        """The version written does not hash as expected: delete it, or flag it if locked."""
        where = f"{info.key} ({info.version_id})"
        message = f"{where}: received bytes hash to {got}, expected {info.sha256}"
        if info.retain_until is None and not info.legal_hold:
            self._call(f"delete {where}", self._client.remove_object, self.bucket, info.key,
                       version_id=info.version_id)
            raise IntegrityMismatch(message + "; nothing kept")
        tags = Tags.new_object_tags()
        tags["chartvault-integrity"] = "mismatch"
        try:
            self._call(f"tag {where}", self._client.set_object_tags, self.bucket, info.key,
                       tags, version_id=info.version_id)
        except ChartvaultError:
            pass  # the error below is what matters
        raise IntegrityMismatch(
            message + "; the version is locked by retention or hold, so it stays, tagged "
            "chartvault-integrity=mismatch, until it can be deleted"
        )

    def set_retention(self, key: str, version_id: str, retain_until: datetime) -> ObjectInfo:
        """Extend COMPLIANCE retention; an earlier date is ObjectLocked (here and by the server)."""
        retain_until = normalize_retain_until(retain_until)
        info = self.stat(key, version_id)
        if info.retain_until is not None and retain_until < info.retain_until:
            raise ObjectLocked(
                f"{key} ({version_id}) is retained until {info.retain_until.isoformat()}; "
                "retention can only be extended"
            )
        if retain_until != info.retain_until:
            self._call(f"set retention {key} ({version_id})", self._client.set_object_retention,
                       self.bucket, key, Retention(COMPLIANCE, retain_until),
                       version_id=info.version_id)
        return self.stat(key, info.version_id)

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> ObjectInfo:
        """Place or release a legal hold (idempotent)."""
        info = self.stat(key, version_id)
        change = self._client.enable_object_legal_hold if on else \
            self._client.disable_object_legal_hold
        self._call(f"legal hold {key} ({version_id})", change, self.bucket, key,
                   version_id=info.version_id)
        return self.stat(key, info.version_id)

    def delete_version(self, key: str, version_id: str) -> None:
        """Remove one version for good; ObjectLocked under hold or unexpired retention."""
        info = self.stat(key, version_id)
        where = f"{key} ({version_id})"
        if info.legal_hold:
            raise ObjectLocked(f"{where} is under legal hold")
        if info.retain_until is not None and info.retain_until > utcnow():
            raise ObjectLocked(f"{where} is retained until {info.retain_until.isoformat()}")
        self._call(f"delete {where}", self._client.remove_object, self.bucket, key,
                   version_id=info.version_id)
