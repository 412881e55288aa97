"""The OCR tasks' working folder: decrypted originals and page images, each in the
folder of the task that needs it, which the task removes when it ends (DESIGN rule 8).

What a killed task could not remove is purged here: by document (destruction), or by
age (the stuck-document sweep). The folder is readable by the service's user only.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chartvault.files import private_folder
from chartvault.settings import Settings

# A working copy untouched this long belongs to no live task: a page task is killed after
# at most ocr.tasks.PAGE_HARD_LIMIT (2 x the page timeout + 60 s; 7 min by default).
STALE_WORK = timedelta(hours=1)
# the shared cache of decrypted originals kept by workers before issue 20
OLD_ORIGINALS_CACHE = "originals"


def work_root(settings: Settings) -> Path:
    """``$CHARTVAULT_HOME/work``, made (0700) if missing."""
    return private_folder(settings.home / "work")


def page_prefix(document_id: str, number: int) -> str:
    """The name a page task's folder starts with."""
    return f"ocr-{document_id}-{number}-"


def pdf_prefix(document_id: str) -> str:
    """The name the searchable PDF's assembly folder starts with."""
    return f"pdf-{document_id}-"


def link_running_copy(workdir: Path, name: str) -> bool:
    """Hard-link ``name`` (a file named by its content's SHA-256) into ``workdir`` from
    another running task's folder, if one has it: True when linked. A file of that name
    is always whole (it is renamed into place once fetched); one removed meanwhile with
    its task's folder is skipped. The copy lives as long as the last task linking it."""
    for folder in workdir.parent.iterdir():
        if folder == workdir or not folder.name.startswith("ocr-"):
            continue
        try:
            os.link(folder / name, workdir / name)
        except OSError:  # gone with its task, or no hard links here: fetch instead
            continue
        return True
    return False


def purge_working_copies(settings: Settings, document_id: str | None = None,
                         older_than: timedelta | None = None) -> int:
    """Remove working copies a task could not remove itself (its process was killed):
    with ``document_id``, every one of that document's at once (for destruction: no task
    works on a document being destroyed); without, those untouched for ``older_than``
    (default: twice the longest a page task may run, at least STALE_WORK). The old shared
    cache of decrypted originals goes in both cases. Returns how many entries went;
    idempotent, safe beside running tasks (theirs are recent, or of another document)."""
    root = settings.home / "work"
    if not root.is_dir():
        return 0
    if older_than is None:
        older_than = max(STALE_WORK, timedelta(seconds=2 * (2 * settings.ocr_page_timeout + 60)))
    cutoff = datetime.now(UTC).timestamp() - older_than.total_seconds()
    mine = (f"ocr-{document_id}-", pdf_prefix(document_id)) if document_id else ()
    removed = 0
    for entry in root.iterdir():
        if entry.name == OLD_ORIGINALS_CACHE:
            stale = True
        elif document_id is not None:
            stale = entry.name.startswith(mine)
        else:
            stale = _last_touched(entry) < cutoff
        if stale:
            _remove(entry)
            removed += 1
    return removed


def _last_touched(path: Path) -> float:
    """The newest modification time of ``path`` or anything under it."""
    try:
        newest = path.lstat().st_mtime
        if path.is_dir() and not path.is_symlink():
            for sub in path.rglob("*"):
                newest = max(newest, sub.lstat().st_mtime)
    except FileNotFoundError:  # its task removed it meanwhile
        return float("inf")
    return newest


def _remove(path: Path) -> None:
    """Remove ``path`` and all under it; what a task removed meanwhile is no error, and
    anything else that fails is raised (a copy left behind must not go unnoticed)."""
    def gone_already(_function, _path, exc_info) -> None:  # noqa: ANN001
        if not issubclass(exc_info[0], FileNotFoundError):
            raise exc_info[1]

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=gone_already)
    else:
        path.unlink(missing_ok=True)
