"""The OCR stage's join and failure handling, run in-process step by step
(the e2e tests run the same functions through a real Celery worker)."""

from __future__ import annotations

from datetime import date

import pytest

from chartvault.db import session_scope
from chartvault.models import Document, Page, StoredObject
from ocr import pipeline
from ocr.interface import OcrFailed
from search import SearchQuery, open_index
from tests.support.pipeline_charts import ingest_chart

pytestmark = pytest.mark.slow


def _run_all(document_id: str) -> None:
    for number in pipeline.start_document(document_id):
        pipeline.run_page(document_id, number)
    assert pipeline.claim_for_finish(document_id)
    assert not pipeline.claim_for_finish(document_id)  # exactly one claimant
    pipeline.finish_document(document_id)


def test_a_failed_page_is_recorded_and_the_document_completes(settings, tmp_path, monkeypatch):  # noqa: ANN001
    document_id = ingest_chart(settings, tmp_path)
    real = pipeline.ocr_page

    def flaky(path, number, workdir, s, engine=None):  # noqa: ANN001, ANN202
        if number == 2:
            raise OcrFailed("tesseract exited 1: simulated engine crash")
        return real(path, number, workdir, s, engine)

    monkeypatch.setattr(pipeline, "ocr_page", flaky)
    _run_all(document_id)
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        pages = {p.number: p for p in doc.pages}
        assert doc.status == "indexed" and doc.needs_review
        assert pages[2].status == "failed" and pages[2].flag == "failed"
        assert "simulated engine crash" in pages[2].error
        assert pages[1].status == pages[3].status == "done"
        assert "page 2" in doc.error
    hits = open_index(settings).search(SearchQuery(text="TST000777", limit=5))
    assert {p.page for h in hits.hits for p in h.pages} <= {1, 3}


def test_a_page_that_keeps_killing_its_worker_is_given_up(settings, tmp_path, monkeypatch):  # noqa: ANN001
    # A crash inside an in-process engine kills the pool process before run_page
    # returns; the redelivered task comes back to a page whose attempts went up.
    document_id = ingest_chart(settings, tmp_path, pages=2)
    pipeline.start_document(document_id)

    class WorkerKilled(BaseException):
        pass

    real = pipeline.ocr_page

    def crashing(path, number, workdir, s, engine=None):  # noqa: ANN001, ANN202
        if number == 1:
            raise WorkerKilled
        return real(path, number, workdir, s, engine)

    monkeypatch.setattr(pipeline, "ocr_page", crashing)
    for _ in range(pipeline.MAX_PAGE_ATTEMPTS):
        with pytest.raises(WorkerKilled):
            pipeline.run_page(document_id, 1)
    pipeline.run_page(document_id, 1)  # the next delivery gives up instead of crashing
    pipeline.run_page(document_id, 2)
    assert pipeline.claim_for_finish(document_id)
    pipeline.finish_document(document_id)
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        pages = {p.number: p for p in doc.pages}
        assert pages[1].status == "failed" and pages[1].error.startswith("ocr_gave_up")
        assert pages[1].attempts == pipeline.MAX_PAGE_ATTEMPTS
        assert pages[2].status == "done" and doc.status == "indexed" and doc.needs_review


def test_every_page_failing_fails_the_document(settings, tmp_path, monkeypatch):  # noqa: ANN001
    document_id = ingest_chart(settings, tmp_path, pages=2)

    def broken(*_args, **_kw):  # noqa: ANN002, ANN003, ANN202
        raise OcrFailed("simulated: nothing readable")

    monkeypatch.setattr(pipeline, "ocr_page", broken)
    _run_all(document_id)
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        assert doc.status == "failed" and "no page could be read" in doc.error


def test_steps_are_idempotent(settings, tmp_path):  # noqa: ANN001
    document_id = ingest_chart(settings, tmp_path, pages=2)
    _run_all(document_id)
    # A redelivered message for every step changes nothing.
    assert pipeline.start_document(document_id) == []
    pipeline.run_page(document_id, 1)
    assert not pipeline.claim_for_finish(document_id)
    pipeline.finish_document(document_id)
    with session_scope(settings) as session:
        keys = [o.key for o in session.query(StoredObject).filter_by(document_id=document_id)]
        assert len(keys) == len(set(keys))
        assert session.query(Page).filter_by(document_id=document_id).count() == 2


@pytest.mark.parametrize("confidence_threshold", ["99.9"])
def test_low_confidence_pages_are_flagged(cv_env, tmp_path, monkeypatch, confidence_threshold):  # noqa: ANN001
    from chartvault.settings import get_settings, reset_settings_cache

    monkeypatch.setenv("CHARTVAULT_OCR_CONFIDENCE_THRESHOLD", confidence_threshold)
    reset_settings_cache()
    settings = get_settings()
    document_id = ingest_chart(settings, tmp_path, pages=1)
    _run_all(document_id)
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        assert doc.pages[0].flag == "low_confidence" and doc.needs_review


def test_pool_processes_fetching_the_same_original_at_once_both_get_it(
        settings, tmp_path) -> None:  # noqa: ANN001
    """A worker's pool processes start their first pages together and fetch the one
    original at the same moment, from forked copies of one process (whose objects have
    the same ids): each fetch must write a temp file of its own."""
    import os

    document_id = ingest_chart(settings, tmp_path)
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        key, version, sha = doc.original_key, doc.original_version, doc.sha256
    target = tmp_path / "cache" / sha
    target.parent.mkdir()
    children = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:  # the same memory as its siblings, as a pool process has
            code = 0
            try:
                for _ in range(5):
                    pipeline._download(key, version, target)
            except BaseException:  # noqa: BLE001
                code = 1
            os._exit(code)
        children.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    assert codes == [0, 0, 0, 0], "a concurrent fetch failed"
    with session_scope(settings) as session:
        size = session.get(Document, document_id).size
    assert target.stat().st_size == size
    assert not list(target.parent.glob(".*.part"))  # no temp file left behind


def test_a_searchable_pdf_that_cannot_be_made_leaves_nothing_in_the_index(settings, tmp_path,
                                                                          monkeypatch):  # noqa: ANN001
    """The PDF is put together while the pages are indexed; when it fails, the entry goes
    again and the document is not indexed (the task retries or marks it failed)."""
    from ocr.interface import UnreadableFile

    document_id = ingest_chart(settings, tmp_path, pages=2)

    def broken(parts, out):  # noqa: ANN001, ANN202
        raise UnreadableFile("cannot merge the page PDFs: simulated", code="corrupt_pdf")

    monkeypatch.setattr(pipeline, "merge_pdfs", broken)
    with pytest.raises(UnreadableFile):
        _run_all(document_id)
    with session_scope(settings) as session:
        assert session.get(Document, document_id).status == "finishing"
    assert open_index(settings).search(SearchQuery(text="TST000777", limit=5)).hits == ()

    monkeypatch.undo()  # the retry: the same finish step, now able to merge
    pipeline.finish_document(document_id)
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        assert doc.status == "indexed" and doc.pdf_key
    hits = open_index(settings).search(SearchQuery(text="TST000777", limit=5)).hits
    assert [h.document_id for h in hits] == [document_id]


def test_a_page_with_ink_but_no_words_is_flagged_no_text(settings, tmp_path):  # noqa: ANN001
    # A drawing (or show-through, or a page too damaged to read) is not blank, but OCR
    # finds no word on it: the clerk is told, as for a blank page.
    from PIL import Image, ImageDraw

    from archive import open_store
    from chartvault.synthetic import ChartSpec, render_page
    from ingest.service import IncomingFile, IntakeOptions, ingest_files

    spec = ChartSpec(mrn="TST000778", patient_name="TESTPATIENT, Dana",
                     date_of_birth=date(1961, 4, 5), doc_type="lab_results",
                     service_date=date(2023, 2, 3), pages=1, seed=6, paragraphs=1)
    text_page = render_page(spec, 1, dpi=150)[0].convert("L")
    drawing = Image.new("L", text_page.size, 255)
    pen = ImageDraw.Draw(drawing)
    pen.ellipse((300, 400, 900, 1000), outline=0, width=6)
    pen.rectangle((150, 1150, 1100, 1500), outline=0, width=5)
    for x in range(150, 1100, 190):
        pen.line((x, 1150, x, 1500), fill=0, width=3)
    pdf = tmp_path / "drawing.pdf"
    text_page.save(pdf, save_all=True, append_images=[drawing], resolution=150)
    result = ingest_files(settings, open_store(settings), [IncomingFile(pdf, "drawing.pdf")],
                          IntakeOptions(actor="test", mrn=spec.mrn, doc_type=spec.doc_type),
                          lambda _: None)  # the test runs the OCR stage itself
    (document_id,) = result.queued_ids
    _run_all(document_id)
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        pages = {p.number: p for p in doc.pages}
        assert pages[1].flag is None and "TESTPATIENT, Dana" in pages[1].text
        assert pages[2].flag == "no_text" and not pages[2].blank and pages[2].text == ""
        assert doc.status == "indexed" and doc.needs_review
