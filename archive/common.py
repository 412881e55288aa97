"""Helpers every backend shares: argument checks, time, hashing readers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import os
import queue
import re
import threading
import weakref
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from chartvault.errors import BadInput, ConfigurationError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_retain_until(
    value: datetime | None, *, now: datetime | None = None
) -> datetime | None:
    """A retain-until date as every backend stores it: UTC, rounded UP to the second.

    S3 keeps whole seconds, so rounding up makes both backends agree and never
    shortens what was asked. Naive datetimes and dates not in the future are
    :class:`BadInput` (S3 refuses them too).
    """
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise BadInput(f"retain_until must be a timezone-aware datetime, got {value!r}")
    value = ceil_seconds(value)
    if value <= (now or utcnow()):
        raise BadInput(f"retain_until must be in the future, got {value.isoformat()}")
    return value


def normalize_sha256(value: str | None) -> str | None:
    """A hex SHA-256 in lower case, or :class:`BadInput`."""
    if value is None:
        return None
    lowered = value.lower() if isinstance(value, str) else ""
    if not _SHA256.match(lowered):
        raise BadInput(f"expected_sha256 must be 64 hex digits, got {value!r}")
    return lowered


def check_content_type(value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 255 or not value.isprintable():
        raise BadInput(f"content_type must be a short printable string, got {value!r}")
    return value


def ceil_seconds(value: datetime) -> datetime:
    """``value`` in UTC rounded up to the whole second (no future check)."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=0) + timedelta(seconds=math.ceil(value.microsecond / 1e6))


class SourceError(Exception):
    """Wraps an exception raised by the caller's stream, so backends re-raise it untouched."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes; fewer only at end of stream. Source errors become SourceError."""
    try:
        first = stream.read(size)
        if first is None or len(first) in (0, size):
            return first or b""
        parts, got = [first], len(first)
        while got < size:
            more = stream.read(size - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)
    except Exception as exc:  # noqa: BLE001 - re-raised unchanged by the backend
        raise SourceError(exc) from exc


_workers = threading.local()


def _forget_workers() -> None:
    _workers.__dict__.clear()  # a forked child has the queues but not their threads


os.register_at_fork(after_in_child=_forget_workers)


class _Job:
    """One call for a helper thread; ``done`` is held until it has run."""

    __slots__ = ("call", "done", "error")

    def __init__(self, function, args: tuple) -> None:
        self.call: tuple | None = (function, args)
        self.error: BaseException | None = None
        self.done = threading.Lock()
        self.done.acquire()

    def run(self) -> None:
        function, args = self.call
        self.call = None  # the caller's buffers are its own again once done
        try:
            function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            self.error = exc
        finally:
            self.done.release()

    def wait(self) -> BaseException | None:
        with self.done:
            return self.error


def _serve(jobs: queue.SimpleQueue) -> None:
    while (job := jobs.get()) is not None:
        job.run()


class _Helper:
    """A helper thread and its queue of jobs. The thread ends once this object is
    collected: when the thread that owns it ends."""

    def __init__(self, name: str) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=_serve, args=(self.jobs,), name=name, daemon=True).start()
        weakref.finalize(self, self.jobs.put, None)


class OrderedWorker:
    """Runs calls in order on a helper thread, at most ``depth`` waiting (the caller
    must not change what a call reads until it is done: ``depth`` later calls were
    submitted, or :meth:`drain` or :meth:`close` returned). The helper is the calling
    thread's one of that ``name``, kept for its next use (starting a thread costs
    about 0.1 ms, a tenth of a 1 MB put); it ends with the calling thread.
    An error in a call is raised by a later :meth:`submit` or by :meth:`drain`.
    A lock per call and a C queue, not ``concurrent.futures``: its futures, waiters
    and wake-ups were a twentieth of a 1 MB put (three helpers, four calls)."""

    def __init__(self, name: str, depth: int) -> None:
        helper = getattr(_workers, name, None)
        if helper is None:
            helper = _Helper(name)
            setattr(_workers, name, helper)
        self._jobs = helper.jobs
        self._pending: deque[_Job] = deque()
        self._depth = depth

    def submit(self, function, *args) -> None:
        job = _Job(function, args)
        self._pending.append(job)
        self._jobs.put(job)
        while len(self._pending) > self._depth:
            self._raise(self._pending.popleft().wait())

    def drain(self) -> None:
        """Wait for every call; raise the first error."""
        while self._pending:
            self._raise(self._pending.popleft().wait())

    @staticmethod
    def _raise(error: BaseException | None) -> None:
        if error is not None:
            raise error

    def close(self) -> None:
        """Wait for every call without raising (it runs while another error may be on
        its way): nothing may still use the caller's buffers or files afterwards."""
        while self._pending:
            self._pending.popleft().wait()

    def __enter__(self) -> OrderedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BackgroundSha256:
    """SHA-256 computed in a helper thread (hashlib releases the GIL), so hashing
    overlaps with encrypting, writing or sending. At most ``depth`` chunks wait; the
    caller must not change a chunk until ``depth`` more were given or it is closed.
    An error in the helper is raised by :meth:`update` or :meth:`hexdigest`."""

    def __init__(self, depth: int = 4) -> None:
        self._sha256 = hashlib.sha256()
        self._worker = OrderedWorker("sha256", depth)

    def update(self, data: bytes) -> None:
        self._worker.submit(self._sha256.update, data)

    def hexdigest(self) -> str:
        self._worker.drain()
        return self._sha256.hexdigest()

    def close(self) -> None:
        self._worker.close()

    def __enter__(self) -> BackgroundSha256:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_into(stream: BinaryIO, buffer: bytearray) -> int:
    """Fill ``buffer`` from ``stream``; fewer bytes only at end of stream.
    Source errors become SourceError."""
    view, got = memoryview(buffer), 0
    readinto = getattr(stream, "readinto", None)
    try:
        while got < len(buffer):
            if readinto is not None:
                n = readinto(view[got:])
            else:
                data = stream.read(len(buffer) - got)
                n = len(data or b"")
                view[got:got + n] = data or b""
            if not n:
                break
            got += n
    except Exception as exc:  # noqa: BLE001 - re-raised unchanged by the backend
        raise SourceError(exc) from exc
    return got


class HashingReader(io.RawIOBase):
    """Reads the caller's stream, counting bytes and hashing them with SHA-256
    (in a helper thread with ``background=True``). Close it when done."""

    def __init__(self, stream: BinaryIO, *, background: bool = False) -> None:
        self._stream = stream
        self._sha256 = BackgroundSha256() if background else hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 20
        data = read_exact(self._stream, size)
        self._sha256.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()

    def close(self) -> None:
        if isinstance(self._sha256, BackgroundSha256):
            self._sha256.close()
        super().close()


def decode_storage_key(value: str) -> bytes | None:
    """CHARTVAULT_STORAGE_KEY as 32 raw bytes; empty means no key (None)."""
    if not value:
        return None
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(
            "CHARTVAULT_STORAGE_KEY is not valid base64 (expected 32 random bytes, "
            "e.g. `openssl rand -base64 32`)"
        ) from exc
    if len(key) != 32:
        raise ConfigurationError(
            f"CHARTVAULT_STORAGE_KEY must decode to 32 bytes (AES-256), got {len(key)}; "
            "make one with `openssl rand -base64 32`"
        )
    return key
