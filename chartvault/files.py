"""Folders and files of the service's own state, readable by the service's user only.

The catalog, the search index, the object store and the working copies hold protected
health information: they are created 0700 (folders) and 0600 (files) whatever the
process's umask, and one found looser (made by an older version) is tightened.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path, *, tighten_existing: bool = True) -> Path:
    """``path`` as a folder of mode 0700, made with its missing parents (0700 too);
    returns it. One already there is tightened unless ``tighten_existing`` is false (a
    folder the service shares with others, such as the one its catalog file is in: only
    the files in it are the service's). Idempotent."""
    path = Path(path)
    missing = []
    here = path
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, FOLDER_MODE)
        except FileExistsError:
            pass
    if tighten_existing or missing:
        tighten(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` as an existing file of mode 0600: created empty if absent (an empty file is
    a new SQLite database), tightened if looser. Its folder must exist. Idempotent."""
    path = Path(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        tighten(path, FILE_MODE)
    return path


def tighten(path: Path, mode: int) -> None:
    """Take group and other permissions off ``path`` if it has any and is ours (a file
    someone else owns is theirs to fix: said in the log, not raised)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if not stat.S_IMODE(info.st_mode) & 0o077:
        return
    try:
        os.chmod(path, stat.S_IMODE(info.st_mode) & mode)
    except PermissionError:
        log.warning("cannot make private: owned by another user", extra={"path": str(path)})
