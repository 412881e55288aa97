"""The hot folder: settled files only, done/ and failed/ with reasons, restarts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy import func, select

from chartvault.db import session_scope
from chartvault.models import Batch, Document, QuarantineEntry
from ingest.hotfolder import HotFolder
from tests.support.ingest_stacks import three_patients, write_stack


def count(settings, model) -> int:  # noqa: ANN001
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_files_are_taken_once_settled_and_sorted(settings, tmp_path: Path, small_chart) -> None:  # noqa: ANN001
    folder = tmp_path / "hot"
    queued: list[str] = []
    watcher = HotFolder(settings, _store(settings), folder, queued.append)
    covers = three_patients()
    write_stack([("cover", covers[0], 1)], folder / "stack.pdf")
    (folder / "junk.pdf").write_bytes(b"not a scan")
    shutil.copyfile(small_chart("x.pdf"), folder / "incoming.pdf.part")  # still being written
    assert watcher.poll() == []  # first sight: not settled yet
    handled = {h.name: h for h in watcher.poll()}
    assert set(handled) == {"stack.pdf", "junk.pdf"}
    assert handled["stack.pdf"].moved_to == "done" and len(queued) == 1
    assert handled["junk.pdf"].moved_to == "failed"
    assert (folder / "done" / "stack.pdf").exists()
    reason = (folder / "failed" / "junk.pdf.reason.txt").read_text()
    assert "unsupported_type" in reason and "quarantine entry" in reason
    assert (folder / "incoming.pdf.part").exists()

    # A file still growing between polls is left alone until it stops.
    os.rename(folder / "incoming.pdf.part", folder / "incoming.pdf")
    assert watcher.poll() == []
    with (folder / "incoming.pdf").open("ab") as f:
        f.write(b"\n")
    assert watcher.poll() == []
    [late] = watcher.poll()
    assert late.name == "incoming.pdf" and late.moved_to == "failed"  # no MRN given
    assert "missing_mrn" in (folder / "failed" / "incoming.pdf.reason.txt").read_text()


def test_a_folder_is_one_batch_with_its_manifest(settings, tmp_path: Path, small_chart) -> None:  # noqa: ANN001
    folder = tmp_path / "hot"
    watcher = HotFolder(settings, _store(settings), folder, lambda _id: None)
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copyfile(small_chart("a.pdf", seed=1), drop / "a.pdf")
    (drop / "manifest.csv").write_text("filename,mrn,document_type\na.pdf,TST000042,consent\n")
    os.rename(drop, folder / "monday")
    watcher.poll()
    [handled] = watcher.poll()
    assert handled.moved_to == "done" and (folder / "done" / "monday" / "a.pdf").exists()
    assert {o.status for o in handled.outcomes} == {"manifest", "queued"}


def test_restart_neither_loses_nor_repeats(settings, tmp_path: Path, small_chart) -> None:  # noqa: ANN001
    folder = tmp_path / "hot"
    first = HotFolder(settings, _store(settings), folder, lambda _id: None)
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    first.poll()
    first.poll()
    assert count(settings, QuarantineEntry) == 1
    # Simulate a crash after intake but before the move: put it back in .processing.
    shutil.move(folder / "failed" / "bad.pdf", folder / ".processing" / "bad.pdf")
    (folder / "failed" / "bad.pdf.reason.txt").unlink()
    # And a file claimed just before the crash, never taken in.
    shutil.copyfile(small_chart("new.pdf", seed=9), folder / ".processing" / "new.pdf")
    batches = count(settings, Batch)
    second = HotFolder(settings, _store(settings), folder, lambda _id: None)
    handled = {h.name: h for h in second.poll()}
    assert handled["bad.pdf"].moved_to == "failed" and handled["bad.pdf"].batch_id is None
    assert handled["new.pdf"].moved_to == "failed"  # taken in now (no MRN: quarantined)
    assert count(settings, QuarantineEntry) == 2  # bad.pdf not quarantined twice
    assert count(settings, Batch) == batches + 1
    assert count(settings, Document) == 0
    assert not list((folder / ".processing").iterdir())


def _store(settings):  # noqa: ANN001, ANN202
    from archive import open_store

    return open_store(settings)


def test_background_watcher_as_serve_runs_it(settings, tmp_path: Path) -> None:  # noqa: ANN001
    import time

    from ingest.hotfolder import start_in_background

    folder = tmp_path / "hot"
    folder.mkdir()
    (folder / "junk.pdf").write_bytes(b"not a scan")
    thread, stop = start_in_background(settings.replace(hot_folder_interval=0.1),
                                       _store(settings), folder, lambda _id: None)
    try:
        deadline = time.monotonic() + 20
        while not (folder / "failed" / "junk.pdf.reason.txt").exists():
            assert time.monotonic() < deadline, "the watcher thread did not take the file"
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_an_outage_leaves_the_entry_for_the_next_pass(settings, tmp_path: Path,  # noqa: ANN001
                                                      monkeypatch) -> None:  # noqa: ANN001
    import ingest.service as service
    from chartvault.errors import Unavailable

    folder = tmp_path / "hot"
    watcher = HotFolder(settings, _store(settings), folder, lambda _id: None)
    (folder / "bad.pdf").write_bytes(b"not a scan")
    real = service.ingest_files

    def down(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise Unavailable("catalog down")

    monkeypatch.setattr(service, "ingest_files", down)
    watcher.poll()
    assert watcher.poll() == []
    assert (folder / ".processing" / "bad.pdf").exists()
    monkeypatch.setattr(service, "ingest_files", real)
    [handled] = watcher.poll()
    assert handled.moved_to == "failed" and not (folder / ".processing" / "bad.pdf").exists()
