"""The hot folder: scanners drop files in a folder; each is taken in once.

Layout under the watched folder::

    incoming files and folders   (a top-level folder is one batch, manifest and all)
    .processing/                 claimed, being taken in
    done/                        taken in (archived or duplicate)
    failed/                      something quarantined; NAME.reason.txt says what

A file is claimed once it is completely written: its size and modification
time are the same on two polls in a row (names starting with ``.`` or ending
``.part``, ``.tmp``, ``.crdownload`` are being written and never claimed — a
scanner may write ``x.pdf.part`` and rename it). Claiming is an atomic rename
into ``.processing/``. After a crash, what is in ``.processing/`` is taken
in again on start; a file that had already been finished is recognised by its
recorded origin and SHA-256 (and archived bytes are deduplicated anyway), so
nothing is lost and nothing is taken in twice.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from archive import ObjectStore
from chartvault.db import session_scope
from chartvault.errors import Unavailable
from chartvault.settings import Settings
from ingest.files import sha256_of
from ingest.interface import FileOutcome, IncomingFile, IntakeOptions
from ingest.models import IntakeFile

log = logging.getLogger(__name__)
PROCESSING, DONE, FAILED = ".processing", "done", "failed"
_WRITING = (".part", ".tmp", ".crdownload", ".partial")
_OK = ("queued", "duplicate", "manifest", "empty")


@dataclass(frozen=True)
class Handled:
    name: str
    moved_to: str  # done | failed
    outcomes: tuple[FileOutcome, ...]
    batch_id: str | None


class HotFolder:
    def __init__(self, settings: Settings, store: ObjectStore, folder: Path,
                 enqueue: Callable[[str], object], actor: str = "hotfolder") -> None:
        self.settings, self.store, self.enqueue, self.actor = settings, store, enqueue, actor
        self.folder = Path(folder).resolve()
        for sub in (PROCESSING, DONE, FAILED):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._seen: dict[str, tuple] = {}

    def poll(self) -> list[Handled]:
        """One pass: retry what a crash or an outage left in ``.processing``, then take
        in every entry that has not changed since the previous pass."""
        handled = []
        # Anything already in .processing was cut off by a crash or an outage
        # (the catalog or the store down): take it in again, every pass until it goes.
        for entry in sorted((self.folder / PROCESSING).iterdir()):
            handled += self._try(entry)
        current = {}
        for entry in sorted(self.folder.iterdir()):
            if entry.name in (PROCESSING, DONE, FAILED) or _being_written(entry.name):
                continue
            signature = _signature(entry)
            if signature is None:
                continue
            current[entry.name] = signature
            if self._seen.get(entry.name) == signature:
                claimed = self._claim(entry)
                if claimed:
                    handled += self._try(claimed)
                current.pop(entry.name, None)
        self._seen = current
        return handled

    def run(self, stop: threading.Event, interval: float | None = None) -> None:
        """Poll until ``stop`` is set; an error in one pass is logged and the next goes on."""
        interval = interval or self.settings.hot_folder_interval
        while not stop.is_set():
            try:
                for item in self.poll():
                    log.info("hot folder entry taken in", extra={
                        "batch_id": item.batch_id, "moved_to": item.moved_to})
            except Exception:  # noqa: BLE001 - the watcher outlives one bad pass
                log.exception("hot folder pass failed")
            stop.wait(interval)

    def _try(self, claimed: Path) -> list[Handled]:
        try:
            return [self._take(claimed)]
        except Unavailable as exc:  # left in .processing; the next pass retries it
            log.warning("hot folder entry waits for an outage to end", extra={"code": exc.code})
            return []

    def _claim(self, entry: Path) -> Path | None:
        target = _free(self.folder / PROCESSING / entry.name)
        try:
            os.rename(entry, target)  # atomic on one filesystem
        except OSError:
            return None  # taken by another watcher, or vanished
        return target

    def _take(self, claimed: Path) -> Handled:
        from ingest.service import ingest_files

        files = _files(claimed)
        origin_of = {f: self._origin(claimed, f) for f in files}
        finished = self._finished(files, origin_of)
        outcomes: list[FileOutcome] = [o for made in finished.values() for o in made]
        todo = [IncomingFile(f, f.name, origin=origin_of[f]) for f in files if f not in finished]
        batch_id = None
        if todo:
            options = IntakeOptions(actor=self.actor, source="hotfolder")
            result = ingest_files(self.settings, self.store, todo, options, self.enqueue)
            outcomes += result.outcomes
            batch_id = result.batch_id
        ok = bool(outcomes) and all(o.status in _OK for o in outcomes)
        destination = _free(self.folder / (DONE if ok else FAILED) / claimed.name)
        shutil.move(str(claimed), str(destination))
        if not ok:
            _write_reason(destination, outcomes, batch_id)
        return Handled(claimed.name, DONE if ok else FAILED, tuple(outcomes), batch_id)

    def _origin(self, claimed: Path, file: Path) -> str:
        relative = file.relative_to(claimed.parent)
        return f"hotfolder:{self.folder}/{relative}"[-400:]

    def _finished(self, files: list[Path], origin_of: dict[Path, str]
                  ) -> dict[Path, list[FileOutcome]]:
        """Files of this entry already taken in before a restart, with what became of them."""
        done = {}
        with session_scope(self.settings) as session:
            for file in files:
                rows = session.scalars(select(IntakeFile).where(
                    IntakeFile.origin == origin_of[file],
                    IntakeFile.status.not_in(("received", "staged", "splitting")))).all()
                if not rows:
                    continue
                sha256, _ = sha256_of(file)
                match = next((r for r in rows if r.sha256 == sha256), None)
                if match is not None:
                    done[file] = _recorded(match)
        return done


def _recorded(row: IntakeFile) -> list[FileOutcome]:
    return [FileOutcome(row.filename, part.get("status", row.status),
                        document_id=part.get("document_id"), sha256=row.sha256,
                        code=part.get("code"), reason=part.get("reason"),
                        duplicate_of=part.get("duplicate_of"),
                        quarantine_id=part.get("quarantine_id"), page_range=part.get("pages"),
                        intake_file_id=row.id)
            for part in row.parts or [{}]]


def _being_written(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(_WRITING)


def _signature(entry: Path) -> tuple | None:
    try:
        if entry.is_file():
            stat = entry.stat()
            return (stat.st_size, stat.st_mtime_ns)
        if entry.is_dir():
            items = []
            for child in sorted(entry.rglob("*")):
                if child.is_file():
                    if _being_written(child.name):
                        return None  # a file in it is still being written
                    stat = child.stat()
                    items.append((str(child.relative_to(entry)), stat.st_size,
                                  stat.st_mtime_ns))
            return tuple(items) if items else None
    except OSError:
        return None
    return None


def _files(claimed: Path) -> list[Path]:
    if claimed.is_file():
        return [claimed]
    return [p for p in sorted(claimed.rglob("*"))
            if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".reason.txt")]


def _free(target: Path) -> Path:
    if not target.exists():
        return target
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for n in range(1, 10_000):
        candidate = target.with_name(f"{target.stem}.{stamp}-{n}{target.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(target)


def _write_reason(destination: Path, outcomes: list[FileOutcome], batch_id: str | None) -> None:
    lines = [f"batch: {batch_id or '(taken in before a restart)'}"]
    for o in outcomes:
        if o.status in _OK:
            lines.append(f"ok  {o.filename}: {o.status}")
        else:
            entry = f" (quarantine entry {o.quarantine_id})" if o.quarantine_id else ""
            lines.append(f"BAD {o.filename}: {o.code}: {o.reason}{entry}")
    reason = destination.with_name(destination.name + ".reason.txt")
    reason.write_text("\n".join(lines) + "\n", encoding="utf-8")


def start_in_background(settings: Settings, store: ObjectStore, folder: Path,
                        enqueue: Callable[[str], object]) -> tuple[threading.Thread,
                                                                   threading.Event]:
    """A daemon thread watching ``folder`` until the returned event is set."""
    stop = threading.Event()
    watcher = HotFolder(settings, store, folder, enqueue)
    thread = threading.Thread(target=watcher.run, args=(stop,), name="chartvault-hotfolder",
                              daemon=True)
    thread.start()
    return thread, stop
