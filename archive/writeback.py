"""Start writing a file's pages to disk while it is still being written.

A put ends with ``fsync``, which must wait until every page is on the disk. Left
alone, the kernel starts that writeback only at the ``fsync`` (dirty pages are
kept for up to 30 s), so the whole disk write comes after all the hashing and
encrypting. Linux's ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` starts the
writeback of the pages written so far without waiting for it; the disk then
works while the next segments are hashed and encrypted, and the final ``fsync``
waits for the tail only. It is advice: durability still comes from ``fsync``
alone, and where the call does not exist (not Linux) or fails, nothing changes.
The Python standard library does not wrap it, hence ``ctypes``.
"""

from __future__ import annotations

import ctypes
import os
import sys

_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# Start the writeback once this much is waiting: small batches at first, so that the
# disk starts early on a small file; larger ones after, for fewer calls (~30 us each).
_FIRST_BATCH = 256 * 1024
_BATCH = 1024 * 1024


def _load() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load()


class Writeback:
    """Tracks how much of one file was written; starts writing back whole pages."""

    def __init__(self, fd: int, *, enabled: bool = True) -> None:
        self._fd = fd
        self._written = 0
        self._started = 0
        self._enabled = enabled and _sync_file_range is not None

    def wrote(self, n: int) -> None:
        """``n`` more bytes were appended; start writing back the whole pages so far.
        The partial last page is left alone: the next write would have to wait for it."""
        self._written += n
        end = self._written - self._written % _PAGE
        batch = _FIRST_BATCH if self._started < _BATCH else _BATCH
        if not self._enabled or end - self._started < batch:
            return
        if _sync_file_range(self._fd, self._started, end - self._started,
                            _SYNC_FILE_RANGE_WRITE) != 0:
            self._enabled = False  # unsupported here (e.g. some FUSE file systems)
            return
        self._started = end
