"""The Celery application, configured from settings.

Embedded default: kombu's SQLAlchemy transport on a SQLite file under
CHARTVAULT_HOME (no server). Server mode: Redis or RabbitMQ. Same tasks, same
code path; no eager mode. Tasks take ids only (JSON), are idempotent and
acknowledged late, so a worker killed mid-task leaves the message to be
redelivered.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import (
    beat_init,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
)

from chartvault import queue_transport  # noqa: F401  (registers the embedded queue's scheme)
from chartvault.files import private_folder
from chartvault.settings import Settings, get_settings

# Tesseract must run single-threaded: parallelism comes from worker processes.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# Every module with tasks, imported by the worker (never by the kernel itself).
TASK_MODULES = [
    "ingest.tasks",  # staged uploads taken in by a worker
    "ocr.tasks",  # document -> pages -> finish
    "archive.tasks",  # nightly fixity
    "search.tasks",  # nightly catalog/index drift check
    "retention.tasks",  # retention dates, nightly sweep
    "chartvault.audit_tasks",  # the hourly audit anchor
    "chartvault.maintenance",  # stuck documents re-enqueued
]


def make_celery(settings: Settings) -> Celery:
    app = Celery("chartvault")
    if settings.embedded_queue:
        private_folder(settings.home, tighten_existing=False)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        # kombu's SQLAlchemy transport hands its options to create_engine: none there.
        # Redis: a short visibility timeout that live workers renew (broker_heartbeat),
        # swept every 10 s, so a killed worker's messages come back within a minute or so
        broker_transport_options={} if settings.embedded_queue else {
            "visibility_timeout": settings.broker_visibility_timeout,
            "unacked_restore_interval": 10, "unacked_restore_throttle": 1},
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Each process holds one page in reserve: with 1 the next page waited for the
        # queue's next poll after every ack (~0.1 s a page on the embedded queue). A worker
        # lost mid-task hands its reserved page back (acks_late), so nothing is lost.
        worker_prefetch_multiplier=2,
        worker_hijack_root_logger=False,
        worker_concurrency=settings.worker_concurrency,
        worker_max_memory_per_child=settings.worker_max_memory_mb * 1024,  # KiB
        task_default_queue="chartvault",
        imports=TASK_MODULES,
        beat_schedule={
            "nightly-fixity": {"task": "chartvault.verify_fixity",
                               "schedule": crontab(hour=2, minute=0)},
            "nightly-search-check": {"task": "chartvault.search_check",
                                     "schedule": crontab(hour=2, minute=30)},
            "requeue-stuck-documents": {"task": "chartvault.requeue_stuck",
                                        "schedule": crontab(minute="*/15")},
            "hourly-scan-stack-release": {"task": "ingest.release_stacks",
                                          "schedule": crontab(minute=40)},
            # hourly: events after the last anchor can be cut unnoticed (issue 22)
            "hourly-audit-anchor": {"task": "chartvault.audit_anchor",
                                    "schedule": crontab(minute=5)},
            "nightly-retention-sweep": {"task": "retention.sweep", "schedule": crontab(
                hour=settings.retention_sweep_time[:2], minute=settings.retention_sweep_time[3:])},
        },
        timezone="UTC",
    )
    from chartvault.broker_heartbeat import UnackedHeartbeat

    app.steps["consumer"].add(UnackedHeartbeat)
    return app


app = make_celery(get_settings())


@worker_init.connect
@beat_init.connect
def _stop_with_the_starter(**_: object) -> None:
    # A worker or beat that `serve`, `demo` or `ingest --wait` started never outlives it.
    from chartvault.workers import watch_parent

    watch_parent()


@beat_init.connect
def _anchor_at_start(**_: object) -> None:
    # An anchor when the scheduler starts, so a fresh or restarted install does not
    # wait for the hour; a worker writes it (retried while the store is down).
    app.send_task("chartvault.audit_anchor")


@worker_process_init.connect
def _fresh_connections(**_: object) -> None:
    # A forked pool process must not share the parent's database connections.
    from chartvault.db import dispose_all

    dispose_all()


@setup_logging.connect
def _json_logs(loglevel: object = None, **_: object) -> None:
    # Connected, so Celery installs no handlers of its own: JSON lines, PHI scrubbed.
    from chartvault import logs

    settings = get_settings()
    logs.configure(loglevel or settings.log_level, mrn_pattern=settings.mrn_pattern)


@task_prerun.connect
def _bind_task(task_id: str | None = None, task: object = None, args: object = None,
               kwargs: object = None, **_: object) -> None:
    from chartvault import logs

    logs.task_started(task_id, getattr(task, "name", None), args, kwargs)


@task_postrun.connect
def _unbind_task(task_id: str | None = None, **_: object) -> None:
    from chartvault import logs

    logs.task_finished(task_id)
