"""Celery tasks of the records lifecycle: thin wrappers over the retention services.

``retention.apply`` is sent BY NAME from the OCR stage's finish step (ocr never
imports retention). ``retention.sweep`` runs nightly from Celery beat at
CHARTVAULT_RETENTION_SWEEP_TIME: it re-evaluates documents the current policy
has not seen (a policy change, a missed apply), then proposes everything due.
Proposals still need two people to approve before anything is destroyed.
"""

from __future__ import annotations

import logging

from chartvault.celery_app import app
from chartvault.errors import Unavailable
from chartvault.settings import get_settings

log = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (Unavailable,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 12,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@app.task(name="retention.apply", **RETRY)
def apply(document_id: str) -> str | None:
    """Apply the policy date and any holds to one document (and its patient's others)."""
    from archive import open_store
    from ingest.artifacts import release_stack_of
    from retention.apply import apply_retention

    settings = get_settings()
    store = open_store(settings)
    until = apply_retention(settings, document_id, store=store, actor="system")
    # The document is indexed: the scan stack it came from may have done its work.
    release_stack_of(settings, store, document_id)
    return until.isoformat() if until else None


@app.task(name="retention.sweep", **RETRY)
def sweep() -> str | None:
    """Nightly: retry partial lists, re-evaluate stale documents, then propose what is
    due. Returns the new list's id."""
    from retention.apply import reapply_stale
    from retention.destruction import execute, list_destructions, propose

    settings = get_settings()
    for partial in list_destructions(settings, status="partial"):
        # approved and confirmed already: the records that waited for a lock or a scan
        # stack to go are tried again (each still re-checked before anything is deleted)
        execute(settings, partial.id, actor="scheduler")
    stale = reapply_stale(settings, actor="scheduler")
    proposal = propose(settings, actor="scheduler")
    log.info("retention sweep", extra={"reevaluated": stale,
                                       "proposed": len(proposal.items) if proposal else 0})
    return proposal.id if proposal else None
