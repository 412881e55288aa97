"""Scheduled housekeeping tasks (Celery beat): fixity, search drift, recovery."""

from __future__ import annotations

import logging
from datetime import timedelta

from chartvault.celery_app import app
from chartvault.db import session_scope
from chartvault.models import utcnow
from chartvault.settings import get_settings

log = logging.getLogger(__name__)


@app.task(name="chartvault.requeue_stuck", acks_late=True)
def requeue_stuck(minutes: int = 30) -> int:
    """Re-enqueue documents stuck before ``indexed`` (a lost message, a dead worker), and
    remove the working copies that dead tasks left on this machine."""
    from ocr import pipeline, tasks, workspace

    settings = get_settings()
    workspace.purge_working_copies(settings)
    pipeline.sweep_abandoned_writes()
    with session_scope(settings) as session:
        stuck = list(pipeline.unfinished(session, utcnow() - timedelta(minutes=minutes)))
    for document_id, status in stuck:
        if status == "finishing":
            tasks.finish_document.delay(document_id)
        else:
            tasks.enqueue_document(document_id)
    log.info("requeued stuck documents", extra={"count": len(stuck)})
    return len(stuck)
