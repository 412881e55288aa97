"""Long-running commands: serve, worker, beat, demo."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chartvault.cli.output import emit_json, table
from chartvault.settings import Settings, get_settings

if TYPE_CHECKING:
    from chartvault.synthetic import ChartSpec


def _serve_http(settings: Settings, host: str, port: int) -> None:
    from web import create_app
    from web.server import serve as serve_wsgi

    if settings.hot_folder:  # CHARTVAULT_HOT_FOLDER: a watcher thread beside the web page
        from archive import open_store
        from ingest.hotfolder import start_in_background
        from ocr.tasks import enqueue_document

        start_in_background(settings, open_store(settings), settings.hot_folder, enqueue_document)
        click.echo(f"Watching the hot folder {settings.hot_folder}")
    click.echo(f"Chartvault web page on http://{host}:{port}/  (Ctrl-C stops)")
    app = create_app(settings=settings)
    # Uploads are limited by the app on their headers (web.upload_guard); the server's
    # own limit is only a backstop a little above it.
    serve_wsgi(app, host, port, threads=8,
               max_body=app.config["MAX_CONTENT_LENGTH"] + (1 << 20))


@contextlib.contextmanager
def _background_processes(settings: Settings, embedded_only: bool = True):  # noqa: ANN202
    from chartvault import workers

    started = []
    if settings.embedded_queue or not embedded_only:
        started = [workers.start_worker(settings), workers.start_beat(settings)]
    # A plain SIGTERM (systemd, a test, `kill`) would end Python without running
    # the finally below and leave the worker and beat running: exit cleanly instead.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process in started:
            workers.stop(process)


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers/--no-workers", "with_workers", default=None,
              help="Start a worker and beat (default: only on the embedded queue).")
def serve(host: str, port: int, with_workers: bool | None) -> None:
    """Serve the web page (cheroot); on the embedded queue also a worker and beat."""
    settings = get_settings()
    embedded_only = with_workers is None
    if with_workers is False:
        _serve_http(settings, host, port)
        return
    with _background_processes(settings, embedded_only=embedded_only):
        _serve_http(settings, host, port)


@click.command()
@click.option("--concurrency", type=int, help="Worker processes (default from settings).")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(concurrency: int | None, loglevel: str) -> None:
    """Run a Celery worker in the foreground (OCR runs single-threaded per process)."""
    from chartvault.celery_app import app

    os.environ["OMP_THREAD_LIMIT"] = "1"
    settings = get_settings()
    app.worker_main(["worker", "-Q", "chartvault", "--loglevel", loglevel,
                     "--concurrency", str(concurrency or settings.worker_concurrency)])


@click.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run the Celery beat scheduler (nightly fixity, search check, retention sweep)."""
    from chartvault.celery_app import app

    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)  # beat cannot make its schedule's folder
    app.start(["beat", "--loglevel", loglevel, "--schedule",
               str(settings.home / "beat-schedule")])


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--serve/--no-serve", "then_serve", default=True,
              help="Serve the web page afterwards.")
@click.option("--json", "as_json", is_flag=True)
def demo(host: str, port: int, then_serve: bool, as_json: bool) -> None:
    """Make a few synthetic (fake) charts, ingest them, search one word, serve the page."""
    from archive import open_store
    from chartvault.cli.documents import wait_for, worker_if_embedded
    from ingest.service import IncomingFile, IntakeOptions, ingest_files
    from ocr.tasks import enqueue_document
    from search import SearchQuery, open_index

    settings = get_settings()
    charts = _demo_charts(settings.home / "demo")
    with worker_if_embedded(settings, True) as worker:
        ids, again = [], 0
        for path, spec in charts:
            options = IntakeOptions(actor="demo", source="cli", mrn=spec.mrn,
                                    doc_type=spec.doc_type, service_date=spec.service_date,
                                    facility=spec.facility, patient_name=spec.patient_name,
                                    date_of_birth=spec.date_of_birth)
            result = ingest_files(settings, open_store(settings),
                                  [IncomingFile(path, path.name)], options, enqueue_document)
            earlier = [o.duplicate_of for o in result.outcomes if o.duplicate_of]
            ids += result.queued_ids + earlier
            again += len(earlier)
        wait_for(settings, ids, 1800, not as_json, worker)
    result = open_index(settings).search(SearchQuery(text="metformin", limit=5))
    hits = [{"document_id": h.document_id, "mrn": h.mrn, "page": h.page,
             "snippet": h.snippet.replace("\x02", "[").replace("\x03", "]")}
            for h in result.hits]
    if as_json:
        emit_json({"documents": ids, "already_archived": again, "query": "metformin",
                   "total": result.total, "hits": hits})
    else:
        done = (f"Ingested {len(ids) - again} synthetic chart(s)"
                + (f", {again} already in the archive from an earlier demo" if again else ""))
        click.echo(f"{done}. Search 'metformin': {result.total} document(s)")
        table("metformin", ["document", "mrn", "page", "snippet"],
              [[h["document_id"], h["mrn"], h["page"], h["snippet"]] for h in hits])
    if then_serve:
        _demo_admin(settings, host, port)
        with _background_processes(settings):
            _serve_http(settings, host, port)


def _demo_admin(settings: Settings, host: str, port: int) -> None:
    """A demo admin whose fresh random password is printed once (the page needs a login)."""
    from chartvault.db import session_scope
    from web import accounts, passwords

    password = passwords.generate()
    with session_scope(settings) as session:
        accounts.add_or_reset(session, "demo-admin", "admin", password, "demo")
    click.echo(f"Sign in at http://{host}:{port}/ as demo-admin with the one-time "
               f"password (you choose your own at the first sign-in) {password}")


def _demo_charts(folder: Path) -> list[tuple[Path, ChartSpec]]:
    """Three fake patients, one chart each (2-3 pages, one of them skewed and noisy).

    The files are kept in ``folder`` and made only once: a second demo hands over the same
    bytes, which the intake knows as duplicates, so the archive does not fill up with
    copies (a fresh PDF would differ in its creation date alone)."""
    from chartvault.synthetic import fake_patients, make_chart, spec_for

    folder.mkdir(parents=True, exist_ok=True)
    patients = fake_patients(3, seed=2026)
    shapes = [{"pages": 3}, {"pages": 2, "noise": True, "skew": 2.0}, {"pages": 2}]
    charts = []
    for i, (patient, shape) in enumerate(zip(patients, shapes, strict=True)):
        spec, path = spec_for(patient, seed=100 + i, **shape), folder / f"demo-chart-{i + 1}.pdf"
        if not path.exists():  # made whole beside it, then renamed: never half a file
            partial = path.with_suffix(".partial.pdf")
            make_chart(spec, partial, fmt="pdf", dpi=300)
            partial.replace(path)
        charts.append((path, spec))
    return charts


COMMANDS = [serve, worker, beat, demo]
