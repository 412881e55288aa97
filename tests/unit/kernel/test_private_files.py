"""State made by an older version (catalog 0644, folders 0755) is tightened on the next
start; a folder the service only shares (the catalog's parent) is left as it is."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from archive.filesystem import FilesystemStore
from chartvault.db import make_engine
from chartvault.files import private_file, private_folder
from ocr import workspace
from search.tantivy_index import TantivyIndex


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_older_installation_is_made_private(settings, tmp_path: Path) -> None:  # noqa: ANN001
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    catalog = shared / "catalog.sqlite3"
    sqlite3.connect(catalog).execute("CREATE TABLE t (x)").connection.commit()
    wal = Path(f"{catalog}-wal")
    wal.write_bytes(b"")
    for path in (catalog, wal):
        path.chmod(0o644)
    index, store, work = tmp_path / "index", tmp_path / "objects", settings.home / "work"
    for folder in (index, store, work):
        folder.mkdir(parents=True)
        folder.chmod(0o755)

    make_engine(f"sqlite:///{catalog}").dispose()
    TantivyIndex(index, shards=1, parallel=False).close()
    FilesystemStore(store)
    workspace.work_root(settings)

    assert (_mode(catalog), _mode(wal)) == (0o600, 0o600)
    assert _mode(shared) == 0o755  # not the service's alone: left as it was
    assert {_mode(f) for f in (index, index / "shard-0", store, store / "objects", work)} == {
        0o700}


def test_new_folders_and_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0)
    try:
        folder = private_folder(tmp_path / "a" / "b")
        made = private_file(folder / "f")
    finally:
        os.umask(old)
    assert (_mode(tmp_path / "a"), _mode(folder), _mode(made)) == (0o700, 0o700, 0o600)
    assert private_folder(folder) == folder and private_file(made) == made  # idempotent
