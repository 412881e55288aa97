"""Celery tasks of the OCR stage: thin wrappers over :mod:`ocr.pipeline`.

Arguments are ids only (JSON). Every task is idempotent and acknowledged late;
it retries with exponential backoff and jitter only on transient errors
(storage, catalog or search unavailable). A page that fails for good is
recorded with its reason and the document still completes, flagged for review.
"""

from __future__ import annotations

import logging

from chartvault.celery_app import app
from chartvault.errors import Unavailable
from chartvault.settings import get_settings
from ocr import pipeline

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
    """Rasterise nothing yet: create the page rows and fan out one task per page."""
    pending = pipeline.start_document(document_id)
    for number in pending:
        process_page.delay(document_id, number)
    if not pending:
        _maybe_finish(document_id)


# A page's own steps stop within CHARTVAULT_OCR_PAGE_TIMEOUT; this hard limit is for an
# in-process engine hung where its own deadline cannot reach: Celery kills the pool
# process, and the page is retried, then given up on (pipeline.MAX_PAGE_ATTEMPTS).
PAGE_HARD_LIMIT = 2 * get_settings().ocr_page_timeout + 60


@app.task(name="ocr.process_page", time_limit=PAGE_HARD_LIMIT, **RETRY)
def process_page(document_id: str, number: int) -> None:
    pipeline.run_page(document_id, number)
    _maybe_finish(document_id)


@app.task(name="ocr.finish_document", **RETRY)
def finish_document(document_id: str) -> None:
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


def _maybe_finish(document_id: str) -> None:
    # The join: the task that sees the last page done claims the document;
    # a second claimant finds it already claimed and does nothing.
    if pipeline.claim_for_finish(document_id):
        finish_document.delay(document_id)


def enqueue_document(document_id: str) -> None:
    """Called by intake after the catalog commit."""
    process_document.delay(document_id)
