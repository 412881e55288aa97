"""A cross-process exclusive lock on a file, with backoff and a deadline.

Tantivy allows one writer per index across all processes; a second writer
fails at once instead of waiting. Holding this lock for the whole life of a
writer turns that failure into a short queue, so two Celery worker processes
indexing at the same time both land their updates.
"""

from __future__ import annotations

import fcntl
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chartvault.files import private_folder
from search.interface import SearchUnavailable


@contextmanager
def exclusive(path: Path, timeout: float = 60.0) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``; :class:`SearchUnavailable` after ``timeout`` s.

    The lock dies with the process, so a crashed worker never leaves the index locked.
    """
    private_folder(path.parent, tighten_existing=False)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, path, timeout)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise SearchUnavailable(
                    f"The search index is busy (another process held {path.name} for "
                    f"{timeout:.0f} s); try again shortly."
                ) from None
            time.sleep(delay * (0.5 + random.random()))  # jitter: don't retry in lockstep
            delay = min(delay * 2, 0.25)
