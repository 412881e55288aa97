"""Celery tasks of the intake stage: thin wrappers over :mod:`ingest.staging`.

Arguments are ids only. The task is idempotent and acknowledged late; it
retries with backoff and jitter only when the store or the catalog is down.
"""

from __future__ import annotations

from functools import lru_cache

from chartvault.celery_app import app
from chartvault.errors import Unavailable


@lru_cache(maxsize=1)
def _store():  # noqa: ANN202
    from archive import open_store
    from chartvault.settings import get_settings

    return open_store(get_settings())


@app.task(name="ingest.take_staged", autoretry_for=(Unavailable,), retry_backoff=2,
          retry_backoff_max=120, retry_jitter=True, max_retries=12, acks_late=True,
          reject_on_worker_lost=True)
def take_staged(intake_file_id: str) -> None:
    from chartvault.settings import get_settings
    from ingest.staging import take_staged as take
    from ocr.tasks import enqueue_document

    take(get_settings(), _store(), intake_file_id, enqueue_document)


def enqueue_file(intake_file_id: str) -> None:
    """Called by :func:`ingest.staging.stage_files` after the file is durable."""
    take_staged.delay(intake_file_id)


@app.task(name="ingest.release_stacks", autoretry_for=(Unavailable,), retry_backoff=2,
          retry_backoff_max=300, retry_jitter=True, max_retries=12, acks_late=True)
def release_stacks() -> int:
    """Hourly: delete the scan stacks intake is done with whose short lock has ended."""
    from chartvault.settings import get_settings
    from ingest.artifacts import release_stacks as release

    return len(release(get_settings(), _store(), actor="scheduler"))
