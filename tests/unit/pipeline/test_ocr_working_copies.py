"""No plaintext copy of a record outside the store longer than the task that needs it
(DESIGN rule 8, issue 20): the OCR stage's working copies, run in-process on real
Tesseract (the e2e tests run the same functions through a real Celery worker)."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from chartvault.db import session_scope
from chartvault.models import Document
from ocr import pipeline, workspace
from ocr.interface import OcrFailed
from tests.support.pipeline_charts import ingest_chart

pytestmark = pytest.mark.slow


def _left(settings) -> list[str]:  # noqa: ANN001
    root = settings.home / "work"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _run_all(document_id: str) -> None:
    for number in pipeline.start_document(document_id):
        pipeline.run_page(document_id, number)
    assert pipeline.claim_for_finish(document_id)
    pipeline.finish_document(document_id)


def test_a_chart_read_through_the_pipeline_leaves_nothing_in_the_work_folder(
        settings, tmp_path, monkeypatch):  # noqa: ANN001
    document_id = ingest_chart(settings, tmp_path, pages=2)
    seen: list[Path] = []
    real = pipeline.ocr_page

    def watching(path, number, workdir, s, engine=None):  # noqa: ANN001, ANN202
        seen.append(path)
        # the decrypted original is in this task's own folder while the task runs
        assert path.parent == workdir and path.is_file()
        assert workdir.parent == settings.home / "work"
        return real(path, number, workdir, s, engine)

    monkeypatch.setattr(pipeline, "ocr_page", watching)
    _run_all(document_id)
    with session_scope(settings) as session:
        assert session.get(Document, document_id).status == "indexed"
    assert len(seen) == 2 and not any(p.exists() for p in seen)
    assert _left(settings) == []


def test_tasks_running_together_share_one_copy_that_goes_with_the_last(
        settings, tmp_path, monkeypatch):  # noqa: ANN001
    # Page 2's task runs while page 1's is reading (as a second worker process would):
    # it links page 1's copy instead of fetching and decrypting its own.
    document_id = ingest_chart(settings, tmp_path, pages=2)
    pipeline.start_document(document_id)
    fetched: list[Path] = []
    real_download, real_ocr = pipeline._download, pipeline.ocr_page
    copies: dict[int, os.stat_result] = {}

    def counting(key, version, target):  # noqa: ANN001, ANN202
        fetched.append(target)
        return real_download(key, version, target)

    def overlapping(path, number, workdir, s, engine=None):  # noqa: ANN001, ANN202
        copies[number] = path.stat()
        if number == 1:
            pipeline.run_page(document_id, 2)
            assert path.stat().st_nlink == 1  # page 2's task ended: its link went with it
        return real_ocr(path, number, workdir, s, engine)

    monkeypatch.setattr(pipeline, "_download", counting)
    monkeypatch.setattr(pipeline, "ocr_page", overlapping)
    pipeline.run_page(document_id, 1)
    assert len(fetched) == 1
    assert copies[1].st_ino == copies[2].st_ino and copies[2].st_nlink == 2
    assert _left(settings) == []
    pipeline.start_document(document_id)  # both pages done: nothing pending
    with session_scope(settings) as session:
        assert {p.status for p in session.get(Document, document_id).pages} == {"done"}


@pytest.mark.parametrize("failure", ["ocr_failed", "crash"])
def test_a_failing_page_task_leaves_nothing(settings, tmp_path, monkeypatch, failure):  # noqa: ANN001
    document_id = ingest_chart(settings, tmp_path, pages=1)
    pipeline.start_document(document_id)

    class WorkerKilled(BaseException):
        pass

    def failing(path, number, workdir, s, engine=None):  # noqa: ANN001, ANN202
        (workdir / "page-0001.png").write_bytes(b"a page image")  # as rasterize would
        if failure == "crash":
            raise WorkerKilled
        raise OcrFailed("tesseract exited 1: simulated engine crash")

    monkeypatch.setattr(pipeline, "ocr_page", failing)
    if failure == "crash":
        with pytest.raises(WorkerKilled):
            pipeline.run_page(document_id, 1)
    else:
        pipeline.run_page(document_id, 1)
    assert _left(settings) == []


def _leftover(settings, name: str, age: timedelta = timedelta()) -> Path:  # noqa: ANN001
    folder = workspace.work_root(settings) / name
    folder.mkdir(parents=True)
    (folder / "original-0123").write_bytes(b"%PDF- a decrypted original")
    when = time.time() - age.total_seconds()
    for path in (folder / "original-0123", folder):
        os.utime(path, (when, when))
    return folder


def test_purge_removes_what_a_killed_task_left(settings):  # noqa: ANN001
    # A task whose process was killed (OOM, the hard time limit) never ran its finally.
    destroyed = "0b5e7c1a-0000-4000-8000-000000000001"
    other = "0b5e7c1a-0000-4000-8000-000000000002"
    _leftover(settings, workspace.page_prefix(destroyed, 3) + "x1")
    _leftover(settings, workspace.pdf_prefix(destroyed) + "x2")
    running = _leftover(settings, workspace.page_prefix(other, 1) + "x3")
    old_cache = _leftover(settings, "originals")  # kept by workers before issue 20
    # destruction: that document's copies, whatever their age; no other document's
    assert workspace.purge_working_copies(settings, document_id=destroyed) == 3
    assert _left(settings) == sorted([running.name, f"{running.name}/original-0123"])
    assert not old_cache.exists()
    # the sweep: only what no live task can still be using
    assert workspace.purge_working_copies(settings) == 0
    stale = _leftover(settings, workspace.page_prefix(other, 2) + "x4", age=timedelta(hours=2))
    assert workspace.purge_working_copies(settings) == 1
    assert not stale.exists() and running.exists()
    assert workspace.purge_working_copies(settings, older_than=timedelta(0)) == 1
    assert _left(settings) == []
