"""Commands on documents: ingest, search, show, status, ocr, reindex."""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chartvault.cli.output import emit_json, table
from chartvault.settings import Settings, get_settings

if TYPE_CHECKING:
    from chartvault.workers import WatchedWorker


def _collect(paths: tuple[str, ...]):  # noqa: ANN202
    from ingest.interface import IncomingFile

    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not any(p.startswith(".") for p in child.parts[-1:]):
                    files.append(IncomingFile(child, child.name))
        else:
            files.append(IncomingFile(path, path.name))
    return files


@contextmanager
def worker_if_embedded(settings: Settings, needed: bool):  # noqa: ANN201
    """On the embedded queue, run a worker for as long as the caller waits; yields it
    (a :class:`~chartvault.workers.WatchedWorker` for :func:`wait_for`), else None."""
    from chartvault import workers

    if not (needed and settings.embedded_queue):
        yield None
        return
    worker = workers.start_watched_worker(settings)
    try:
        yield worker
    finally:
        workers.stop(worker.process)


def wait_for(settings: Settings, document_ids: list[str], timeout: float,
             show_progress: bool, worker: WatchedWorker | None = None) -> dict[str, str]:
    """Poll the catalog until every document is indexed or failed, or time runs out;
    raises :class:`~chartvault.workers.WorkerStopped` as soon as ``worker`` (the one
    this command started) has exited with documents not done."""
    from chartvault.catalog import TERMINAL, statuses
    from chartvault.db import session_scope
    from chartvault.workers import WorkerStopped

    deadline = time.monotonic() + timeout
    progress = _progress(show_progress, len(document_ids))
    try:
        while True:
            with session_scope(settings) as session:
                current = statuses(session, document_ids)
            done = sum(1 for s in current.values() if s in TERMINAL)
            if progress:
                progress[0].update(progress[1], completed=done)
            if done == len(document_ids) or time.monotonic() > deadline:
                return current
            why = worker.why_stopped() if worker is not None else None
            if why is not None:
                raise WorkerStopped(
                    f"The OCR worker this command started has stopped ({why}), with "
                    f"{len(document_ids) - done} of {len(document_ids)} document(s) not yet "
                    "indexed. They are archived and stay queued: a running worker finishes "
                    "them (`chartvault serve` starts one; unfinished documents are queued "
                    f"again after 30 minutes). The worker's log: {worker.log_file}", current)
            time.sleep(0.5)
    finally:
        if progress:
            progress[0].stop()


def _progress(enabled: bool, total: int):  # noqa: ANN202
    if not enabled or not total:
        return None
    from rich.progress import Progress

    bar = Progress(transient=True)
    bar.start()
    return bar, bar.add_task("OCR and indexing", total=total)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--mrn", help="Medical record number of the patient these files belong to "
              "(not needed with cover sheets or a manifest).")
@click.option("--type", "doc_type", help="Document type, e.g. discharge_summary.")
@click.option("--service-date", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Encounter or service date, YYYY-MM-DD.")
@click.option("--facility", default="", help="Facility the chart comes from.")
@click.option("--name", "patient_name", default="", help="Patient name, registered with a new MRN.")
@click.option("--dob", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Patient date of birth, YYYY-MM-DD, registered with a new MRN.")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False),
              help="CSV: filename, mrn, document_type[, service_date, facility, pages, "
                   "patient_name, date_of_birth]. A .csv among PATHS is a manifest too.")
@click.option("--split/--no-split", default=True, show_default=True,
              help="Split files at cover sheets and separator sheets (PATCH T).")
@click.option("--wait/--no-wait", default=False, help="Wait until every document is indexed.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait at most.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def ingest(paths, mrn, doc_type, service_date, facility, patient_name, dob, manifest, split,  # noqa: ANN001
           wait, timeout, as_json) -> None:
    """Archive PATHS (files or folders) and queue them for OCR.

    Stacks are split at cover sheets (see `chartvault coversheet`) and separator
    sheets; bad files go to quarantine (`chartvault quarantine list`) and the
    rest of the batch goes on. Exits 1 when anything was quarantined or failed, and
    75 when the worker that --wait started on the embedded queue stopped.
    """
    from archive import open_store
    from chartvault.workers import WorkerStopped
    from ingest.interface import IncomingFile, IntakeOptions
    from ingest.manifest import read_manifest
    from ingest.service import ingest_files
    from ocr.tasks import enqueue_document

    settings = get_settings()
    files = _collect(paths)
    if manifest:
        read_manifest(Path(manifest))  # a bad manifest given by name stops here, clearly
        files.append(IncomingFile(Path(manifest), Path(manifest).name))
    options = IntakeOptions(actor=_actor(), source="cli", mrn=mrn, doc_type=doc_type,
                            service_date=service_date.date() if service_date else None,
                            facility=facility, patient_name=patient_name,
                            date_of_birth=dob.date() if dob else None, split=split)
    stopped = None
    with worker_if_embedded(settings, wait) as worker:
        with _intake_progress(not as_json, len(files)) as progress:
            result = ingest_files(settings, open_store(settings), files, options,
                                  enqueue_document, progress=progress)
        try:
            final = (wait_for(settings, result.queued_ids, timeout, not as_json, worker)
                     if wait else {})
        except WorkerStopped as exc:  # the summary first: the batch id, what was done
            stopped, final = exc, exc.statuses
    waited_until = "the worker stopped" if stopped else "the wait timed out"
    documents = [_outcome_row(o, final, wait, waited_until) for o in result.outcomes]
    if as_json:
        emit_json({"batch_id": result.batch_id, "documents": documents})
    else:
        _summary(result.batch_id, documents)
    if stopped:
        raise stopped
    settled = ("indexed", "duplicate", "manifest", "empty")
    if any(d["status"] not in settled for d in documents) and wait:
        raise SystemExit(1)
    if any(d["status"] in ("quarantined", "failed") for d in documents):
        raise SystemExit(1)


def _summary(batch_id: str, documents: list[dict]) -> None:
    from collections import Counter

    click.echo(f"batch {batch_id}")
    table("Intake", ["file", "pages", "status", "document / entry", "mrn", "type", "reason"],
          [[d["filename"], d["page_range"] or d["pages"] or "", d["status"],
            d["id"] or d.get("quarantine_id") or d.get("duplicate_of"), d["mrn"], d["type"],
            d["reason"] if d["status"] != "queued" else ""] for d in documents])
    counts = Counter(d["status"] for d in documents)
    click.echo(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if counts.get("quarantined"):
        click.echo("see `chartvault quarantine list`; release with corrected metadata or "
                   "discard")


@contextmanager
def _intake_progress(enabled: bool, files: int):  # noqa: ANN202
    """A rich progress display of files and pages, fed by intake's progress events."""
    if not enabled or not files:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   transient=True)
    file_task = bar.add_task("files", total=files)
    page_task = bar.add_task("pages", total=0)
    state = {"base": 0, "pages": 0, "total": 0}

    def on_event(event: str, **facts: object) -> None:
        if event == "file":
            state["pages"] = int(facts.get("pages") or 0)
            state["total"] += state["pages"]
            bar.update(page_task, total=state["total"], completed=state["base"])
        elif event == "page":
            bar.update(page_task, completed=state["base"] + int(facts.get("number") or 0))
        elif event == "file_done":
            state["base"] += state["pages"]
            state["pages"] = 0
            bar.update(page_task, completed=state["base"])
            bar.advance(file_task)

    bar.start()
    try:
        yield on_event
    finally:
        bar.stop()


def _outcome_row(outcome, final: dict[str, str], waited: bool,  # noqa: ANN001
                 waited_until: str) -> dict:
    status, reason = outcome.status, outcome.reason
    if outcome.status == "queued" and waited:
        status = final.get(outcome.document_id, "queued")
        if status == "failed":
            reason = _document_error(outcome.document_id)
        elif status != "indexed":
            reason = f"still {status} when {waited_until}"
    row = {"id": outcome.document_id, "filename": outcome.filename, "mrn": outcome.mrn,
           "type": outcome.doc_type, "status": status, "pages": outcome.pages,
           "page_range": outcome.page_range, "sha256": outcome.sha256, "reason": reason,
           "code": outcome.code}
    if outcome.duplicate_of:
        row["duplicate_of"] = outcome.duplicate_of
    if outcome.quarantine_id:
        row["quarantine_id"] = outcome.quarantine_id
    return row


def _document_error(document_id: str) -> str | None:
    from chartvault.db import session_scope
    from chartvault.models import Document

    with session_scope(get_settings()) as session:
        doc = session.get(Document, document_id)
        return doc.error if doc else None


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@click.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--mrn", help="Only this patient's documents.")
@click.option("--type", "doc_type", help="Only this document type.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True)
def search(query, mrn, doc_type, limit, as_json) -> None:  # noqa: ANN001
    """Full-text search; QUERY uses the query language (words, "phrases", prefix*, ...)."""
    import access_rules
    from search import SearchQuery, open_index

    settings = get_settings()
    text = " ".join(query)
    index = open_index(settings, one_shot=True)  # one search: no searcher processes
    try:
        answer = access_rules.search(
            settings, index, access_rules.Reader(_actor()),
            SearchQuery(text=text, mrn=mrn, doc_type=doc_type, limit=limit))
    finally:
        index.close()
    data = answer.as_dict(_plain)
    if as_json:
        emit_json(data)
        return
    click.echo(f"{'about ' if answer.total_estimated else ''}{answer.total:,} document(s)")
    table("Hits", ["document", "mrn", "page", "score", "snippet"],
          [[h["document_id"], h["mrn"], h["page"], h["score"], h["snippet"]]
           for h in data["hits"]])
    if answer.stubs:
        click.echo(f"{len(answer.stubs)} restricted document(s) not shown: "
                   + ", ".join(s.document_id for s in answer.stubs)
                   + " (`chartvault show ID --reason ...` to open one)")


def _plain(snippet: str) -> str:
    return snippet.replace("\x02", "[").replace("\x03", "]")


@click.command()
@click.argument("document_id")
@click.option("--reason", help="Why you open a restricted document (break the glass).")
@click.option("--json", "as_json", is_flag=True)
def show(document_id, reason, as_json) -> None:  # noqa: ANN001
    """Metadata, status and pages of one document (audited; restricted ones need --reason)."""
    from chartvault import access
    from chartvault.catalog import document_view
    from chartvault.db import session_scope

    settings = get_settings()
    with session_scope(settings) as session:
        access.open_document(session, _actor(), document_id, action="view", reason=reason)
        view = document_view(session, document_id)
    if as_json:
        emit_json(view)
        return
    for key, value in view.items():
        if key not in ("page_list", "retention"):
            click.echo(f"{key:>16}: {value}")
    click.echo(f"{'retention':>16}: {view['retention']['why']}")
    table("Pages", ["page", "status", "confidence", "source", "flag", "error"],
          [[p["page"], p["status"], p["confidence"], p["source"], p["flag"], p["error"]]
           for p in view["page_list"]])


@click.command()
@click.argument("batch_id")
@click.option("--json", "as_json", is_flag=True)
def status(batch_id, as_json) -> None:  # noqa: ANN001
    """Progress of one batch: files, documents, pages done, quarantine."""
    from chartvault.catalog import batch_view
    from chartvault.cli.reads import record_read
    from chartvault.db import session_scope
    from ingest.outcomes import batch_outcomes, summary
    from ingest.service import batch_files

    settings = get_settings()
    with session_scope(settings) as session:
        view = batch_view(session, batch_id)
    view["files"] = batch_files(settings, batch_id)  # per file, as received
    view["results"] = batch_outcomes(settings, batch_id)  # per file or part, how it ended
    view["tally"] = summary(view["results"])
    record_read(settings, "batch", batch_id)
    if as_json:
        emit_json(view)
        return
    click.echo(f"batch {view['id']} ({view['source']}): "
               + (", ".join(f"{n} {k}" for k, n in sorted(view["tally"].items()))
                  or "no file received"))
    if view["results"]:
        table("Files", ["file", "pages", "outcome", "details"],
              [[f["filename"], f["pages"] or "all", f["outcome"],
                ("CHECK THE FILING: " if f["warning"] else "")
                + (f"duplicate of {f['duplicate_of']}: " if f["duplicate_of"] else "")
                + (f["reason"] or "") + (f" [{f['code']}]" if f["code"] and
                                         f["code"] != "duplicate" else "")]
               for f in view["results"]])
    table("Documents", ["id", "file", "status", "pages done", "review"],
          [[d["id"], d["filename"], d["status"], f"{d['pages_done']}/{d['pages']}",
            "yes" if d["needs_review"] else ""] for d in view["documents"]])
    if view["quarantine"]:
        table("Quarantine", ["id", "file", "code", "reason"],
              [[q["id"], q["filename"], q["code"], q["reason"]] for q in view["quarantine"]])


@click.command("ocr")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def ocr_command(file, as_json) -> None:  # noqa: ANN001
    """OCR FILE with the pipeline's engine and settings; archives nothing."""
    from ocr.service import inspect, ocr_page

    settings = get_settings()
    path = Path(file)
    info = inspect(path, settings)
    pages = []
    with tempfile.TemporaryDirectory(prefix="chartvault-ocr-") as tmp:
        for number in range(1, info.page_count + 1):
            result = ocr_page(path, number, Path(tmp), settings)
            pages.append({"page": number, "text": result.text,
                          "confidence": None if result.confidence is None
                          else round(result.confidence, 1)})
    if as_json:
        emit_json({"pages": pages})
        return
    for page in pages:
        click.echo(f"--- page {page['page']} (confidence {page['confidence']}) ---")
        click.echo(page["text"])


@click.command()
def reindex() -> None:
    """Rebuild the search index from the catalog and the object store."""
    from archive import open_store
    from ocr.indexing import reindex_all
    from search import set_aside_unreadable_index

    settings = get_settings()
    aside = set_aside_unreadable_index(settings)
    if aside is not None:
        click.echo(f"the search index was built by another version or with another shard "
                   f"count: moved to {aside} (delete it when the new one works)")
    count = reindex_all(settings, open_store(settings))
    click.echo(f"reindexed {count} document(s)")


@click.command()
@click.option("--sample", type=click.IntRange(0), help="Check a random sample of N objects.")
@click.option("--json", "as_json", is_flag=True)
def verify(sample: int | None, as_json: bool) -> None:
    """Re-read stored objects, recompute SHA-256; exit 1 if any is missing or altered."""
    from archive.tasks import run_fixity

    report = run_fixity(get_settings(), sample, _actor())
    problems = [{"kind": p.kind, "key": p.key, "version_id": p.version_id, "detail": p.detail}
                for p in report.problems]
    if as_json:
        emit_json({"checked": report.checked, "bytes": report.bytes_read, "ok": report.ok,
                   "problems": problems})
    else:
        click.echo(f"checked {report.checked} object(s), {report.bytes_read} bytes: "
                   + ("all intact" if report.ok else f"{len(problems)} problem(s)"))
        if problems:
            table("Problems", ["kind", "key", "version", "detail"],
                  [[p["kind"], p["key"], p["version_id"], p["detail"]] for p in problems])
    if not report.ok:
        raise SystemExit(1)


@click.command("seal-store")
@click.option("--unedited", is_flag=True, required=True,
              help="You assert the store's files were not edited before (required).")
def seal_store(unedited: bool) -> None:
    """Once, after upgrading an embedded store: authenticate the retention and hold
    metadata of versions written before metadata MACs (they fail closed until then).
    A version whose metadata was edited since it had a MAC is never sealed."""
    from archive import FilesystemStore, open_store
    from chartvault.cli.reads import record_read

    settings = get_settings()
    store = open_store(settings)
    if not isinstance(store, FilesystemStore):
        click.echo("the S3 store's locks are the server's own: nothing to seal")
        return
    count = store.seal_legacy_metadata()
    record_read(settings, "store", action="store_seal", versions=count, asserted=unedited)
    click.echo(f"sealed the metadata of {count} version(s); run `chartvault verify` next")


@click.command("search-check")
@click.option("--sample", default=20, show_default=True, type=click.IntRange(0),
              help="How many drifting ids to list of each kind.")
@click.option("--json", "as_json", is_flag=True)
def search_check(sample: int, as_json: bool) -> None:
    """Compare catalog and index; exit 1 on drift (then run `chartvault reindex`)."""
    from search.tasks import run_search_check

    report = run_search_check(get_settings(), sample, _actor())
    data = {"ok": report.ok, "catalog": report.catalog_count, "index": report.index_count,
            "missing_from_index": list(report.missing_from_index),
            "missing_count": report.missing_count,
            "unknown_in_index": list(report.unknown_in_index),
            "unknown_count": report.unknown_count}
    if as_json:
        emit_json(data)
    else:
        click.echo(f"catalog {data['catalog']} document(s), index {data['index']}: "
                   + ("in step" if report.ok else
                      f"{report.missing_count} missing from the index, "
                      f"{report.unknown_count} unknown to the catalog"))
    if not report.ok:
        raise SystemExit(1)


COMMANDS = [ingest, search, show, status, ocr_command, reindex, verify, seal_store,
            search_check]
