"""Celery tasks of the OCR stage: thin wrappers over :mod:`ocr.pipeline`.

Arguments are ids only (JSON). Every task is idempotent and acknowledged late;
it retries with exponential backoff and jitter only on transient errors
(storage, catalog or search unavailable). A page that fails for good is
recorded with its reason and the document still completes, flagged for review.
"""

from __future__ import annotations

import logging

from celery.signals import worker_init, worker_process_init

from chartvault.celery_app import app
from chartvault.errors import Unavailable
from chartvault.settings import get_settings

# ocr.pipeline (the store, the index, page reading) is imported inside the functions:
# the task bodies run in the worker, and intake needs it only when it sends a document
# (its page rows), not when it imports this module (~25 ms on top of intake's imports).

log = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (Unavailable,),
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 12,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@app.task(name="ocr.process_document", **RETRY)
def process_document(document_id: str) -> None:
    """Rasterise nothing yet: create the page rows and fan out one task per page (what
    :func:`enqueue_document` does in the sender for all but long documents)."""
    from ocr import pipeline

    _send_pages(document_id, pipeline.start_document(document_id))


def _send_pages(document_id: str, pending: list[int]) -> None:
    for number in pending:
        process_page.delay(document_id, number)
    if not pending:  # every page read already (a document sent again): the join
        _maybe_finish(document_id)


# A page's own steps stop within CHARTVAULT_OCR_PAGE_TIMEOUT; this hard limit is for an
# in-process engine hung where its own deadline cannot reach: Celery kills the pool
# process, and the page is retried, then given up on (pipeline.MAX_PAGE_ATTEMPTS).
PAGE_HARD_LIMIT = 2 * get_settings().ocr_page_timeout + 60


@app.task(name="ocr.process_page", time_limit=PAGE_HARD_LIMIT, **RETRY)
def process_page(document_id: str, number: int) -> None:
    from ocr import pipeline

    pipeline.run_page(document_id, number)
    _maybe_finish(document_id, redelivered=bool(
        (process_page.request.delivery_info or {}).get("redelivered")))


@app.task(name="ocr.finish_document", **RETRY)
def finish_document(document_id: str) -> None:
    _finish(document_id)


def _finish(document_id: str) -> None:
    from ocr import pipeline

    try:
        pipeline.finish_document(document_id)
    except Unavailable:
        raise
    except Exception as exc:
        # A bug, not an outage: retrying cannot help. Say so on the document
        # (a clerk sees it) instead of leaving it "finishing" for ever.
        pipeline.mark_failed(document_id, f"internal error while finishing: {type(exc).__name__}")
        raise
    # Retention (dates, holds) applies once every derived file exists; sent by
    # name so that ocr does not import retention (which comes after it).
    app.send_task("retention.apply", args=[document_id])


def _maybe_finish(document_id: str, redelivered: bool = False) -> None:
    from ocr import pipeline

    # The join: the task that sees the last page done claims the document;
    # a second claimant finds it already claimed and does nothing. The claimant's
    # process is free, so it finishes the document itself rather than through the
    # queue (one hop less: a poll of the embedded queue). An outage hands it to the
    # finish task, which retries with backoff; a claimed document whose process dies
    # here is sent again by the stuck-document sweep (status "finishing"), or sooner: a
    # page task given back because its worker died may have been that claimant, so it
    # finishes a document it finds claimed (finishing is idempotent; at worst a live
    # claimant and it both finish, to the same result).
    if pipeline.claim_for_finish(document_id) or (redelivered and _claimed(document_id)):
        try:
            _finish(document_id)
        except Unavailable:
            finish_document.delay(document_id)


def _claimed(document_id: str) -> bool:
    from chartvault.db import session_scope
    from chartvault.models import Document

    with session_scope(get_settings()) as session:
        document = session.get(Document, document_id)
        return document is not None and document.status == "finishing"


@worker_init.connect
def _import_pipeline(**_: object) -> None:
    # In the worker's main process, before it forks its pool: every pool process starts
    # with the pipeline imported (shared pages), not importing it in its first task.
    # ocr.page and ocr.rasterize: ocr.service imports them only when it reads a page; the
    # search backend: the finish step opens it only at a process's first document.
    from ocr import page, pipeline, rasterize, workspace  # noqa: F401
    from search import import_backend

    import_backend(get_settings())
    # what tasks of a worker killed before this one could not remove (DESIGN rule 8),
    # and the half-written store files of its puts
    workspace.purge_working_copies(get_settings())
    pipeline.sweep_abandoned_writes()


@worker_process_init.connect
def _warm_engine(**_: object) -> None:
    # In each pool process as it starts (after the fork: the engine's library state is
    # the process's own): the model loads now (0.1 s for eng, measured), not in the first
    # page this process reads.
    from ocr.service import warm_engine

    warm_engine(get_settings())


# Up to this many pages a document's page tasks are sent by its sender; a longer one's by
# a document task on a worker: 1,000 messages are seconds on the embedded queue (~3-7 ms
# each), which a clerk's upload should not wait for.
SEND_PAGES_HERE = 64


def enqueue_document(document_id: str) -> None:
    """Called by intake after the catalog commit: the page rows are made and one task per
    page is sent here, so every worker process starts on a page at once. (A document task
    in between cost a queue hop and held one process: 0.15-0.25 s before the second page
    began, for every document.) Longer documents go through the document task. A sender
    stopped half-way leaves the document "ocr" with pages pending: the stuck-document sweep
    sends it again."""
    from ocr import pipeline

    pending = pipeline.start_document(document_id)
    if len(pending) > SEND_PAGES_HERE:
        process_document.delay(document_id)
    else:
        _send_pages(document_id, pending)
