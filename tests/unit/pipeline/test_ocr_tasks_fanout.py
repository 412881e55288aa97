"""The OCR tasks' fan-out and join, run in-process: the sender of a document makes
its page rows and sends one task per page itself, and the task that reads the last
page finishes the document in its own process (the queue is replaced by lists here;
the e2e tests run the same tasks through a real Celery worker)."""

from __future__ import annotations

import pytest

from chartvault.db import session_scope
from chartvault.errors import Unavailable
from chartvault.models import Document
from ocr import pipeline, tasks
from tests.support.pipeline_charts import ingest_chart

pytestmark = pytest.mark.slow


@pytest.fixture
def sent(monkeypatch):  # noqa: ANN001, ANN201
    """What the tasks would have put on the queue, in order: (task name, args)."""
    out: list[tuple[str, tuple]] = []
    for task in (tasks.process_page, tasks.process_document, tasks.finish_document):
        monkeypatch.setattr(task, "delay",
                            lambda *args, _name=task.name: out.append((_name, args)))
    monkeypatch.setattr(tasks.app, "send_task",
                        lambda name, args=(), **_: out.append((name, tuple(args))))
    return out


def _status(settings, document_id: str) -> str:  # noqa: ANN001
    with session_scope(settings) as session:
        return session.get(Document, document_id).status


def test_the_sender_makes_the_page_rows_and_sends_every_page(settings, tmp_path, sent):  # noqa: ANN001
    document_id = ingest_chart(settings, tmp_path, 3, tasks.enqueue_document)
    assert sent == [("ocr.process_page", (document_id, n)) for n in (1, 2, 3)]
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        assert doc.status == "ocr"
        assert sorted((p.number, p.status) for p in doc.pages) == [
            (1, "pending"), (2, "pending"), (3, "pending")]
    # Sent again (the stuck-document sweep, an old document-task message): nothing doubles.
    sent.clear()
    tasks.process_document(document_id)
    assert sent == [("ocr.process_page", (document_id, n)) for n in (1, 2, 3)]
    with session_scope(settings) as session:
        assert len(session.get(Document, document_id).pages) == 3


def test_a_long_document_is_fanned_out_by_a_document_task(settings, tmp_path, sent,  # noqa: ANN001
                                                          monkeypatch):
    # Above the limit the sender sends one message, not one a page (its clerk waits for it).
    monkeypatch.setattr(tasks, "SEND_PAGES_HERE", 2)
    document_id = ingest_chart(settings, tmp_path, 3, tasks.enqueue_document)
    assert sent == [("ocr.process_document", (document_id,))]
    sent.clear()
    tasks.process_document(document_id)  # on a worker
    assert sent == [("ocr.process_page", (document_id, n)) for n in (1, 2, 3)]


def test_the_last_page_task_finishes_the_document_itself(settings, tmp_path, sent):  # noqa: ANN001
    document_id = ingest_chart(settings, tmp_path, 2, tasks.enqueue_document)
    sent.clear()
    tasks.process_page(document_id, 2)
    assert sent == [] and _status(settings, document_id) == "ocr"  # page 1 still pending
    tasks.process_page(document_id, 1)
    assert _status(settings, document_id) == "indexed"
    assert sent == [("retention.apply", (document_id,))]  # no finish message: done here
    tasks.process_page(document_id, 1)  # a redelivered page: nothing more happens
    assert sent == [("retention.apply", (document_id,))]


def test_an_outage_while_finishing_hands_the_document_to_the_finish_task(  # noqa: ANN001
        settings, tmp_path, sent, monkeypatch):
    document_id = ingest_chart(settings, tmp_path, 1, tasks.enqueue_document)
    sent.clear()
    real = pipeline.finish_document

    def search_down(doc_id: str) -> None:
        raise Unavailable("search backend unreachable", code="search_unavailable")

    monkeypatch.setattr(pipeline, "finish_document", search_down)
    tasks.process_page(document_id, 1)
    assert sent == [("ocr.finish_document", (document_id,))]
    assert _status(settings, document_id) == "finishing"
    monkeypatch.setattr(pipeline, "finish_document", real)
    tasks.finish_document(document_id)  # the finish task's own (retried) run
    assert _status(settings, document_id) == "indexed"


def test_a_bug_while_finishing_marks_the_document_failed(settings, tmp_path, sent,  # noqa: ANN001
                                                        monkeypatch):
    document_id = ingest_chart(settings, tmp_path, 1, tasks.enqueue_document)

    def broken(doc_id: str) -> None:
        raise KeyError("simulated bug")

    monkeypatch.setattr(pipeline, "finish_document", broken)
    with pytest.raises(KeyError):
        tasks.process_page(document_id, 1)
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        assert doc.status == "failed" and "internal error while finishing" in doc.error
