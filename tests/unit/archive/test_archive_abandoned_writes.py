"""A put whose process was killed leaves a ``.tmp`` beside its versions; the sweep that
runs at worker start and with the stuck-document sweep removes it once it is old, and
nothing else."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from archive import FilesystemStore


def test_old_half_writes_go_and_versions_and_running_writes_stay(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "store", os.urandom(32))
    info = store.put("documents/d1/original-0123456789abcdef.pdf", io.BytesIO(b"%PDF-1.4 x"))
    folder = tmp_path / "store" / "objects" / "documents" / "d1"
    killed = folder / ".original-0123456789abcdef.pdf@01790000000000000000-00000000.tmp"
    running = folder / ".original-0123456789abcdef.pdf@01790000000000000001-00000000.tmp"
    killed.write_bytes(b"half of a chart")
    running.write_bytes(b"a write still going")
    hour_ago = time.time() - 3700
    os.utime(killed, (hour_ago, hour_ago))
    assert store.sweep_abandoned_writes() == 1
    assert not killed.exists() and running.exists()
    with store.get(info.key, info.version_id) as stream:  # the version is untouched
        assert stream.read() == b"%PDF-1.4 x"
    assert store.sweep_abandoned_writes(older_than_seconds=0) == 1  # and idempotent
    assert store.sweep_abandoned_writes() == 0
