"""Intake of a batch: validate, hash, dedupe, split, archive the original, commit, enqueue.

Promise (DESIGN rule 1): a document is acknowledged only after its original is
in the object store and its catalog row is committed; OCR is enqueued after the
commit. A bad file (or a bad part of a stack) becomes a quarantine entry with
its reason and never stops the rest of the batch. Same bytes already archived
are a ``duplicate`` outcome, not an error.

The steps for one file: name -> hash -> duplicate? -> inspect (content type,
limits) -> extension, polyglot, active content -> manifest rows or separator
sheets -> parts -> each part: metadata (cover sheet > manifest > options) ->
patient, document type -> archive + catalog row -> enqueue.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from pathlib import Path

from sqlalchemy import select

from archive import ObjectStore, StorageUnavailable
from chartvault.db import session_scope
from chartvault.errors import BadInput, ChartvaultError, Unavailable
from chartvault.models import Batch
from chartvault.policy import Policy
from chartvault.settings import Settings
from ingest import records
from ingest.checks import check_extension, check_name, check_pdf_active_content, check_polyglot
from ingest.doctypes import document_types
from ingest.files import display_name, sha256_of
from ingest.interface import FileOutcome, IncomingFile, IntakeOptions, IntakeResult
from ingest.manifest import ManifestRow, format_pages, is_manifest_name, read_manifest
from ingest.models import IntakeFile
from ingest.outcomes import duplicate_reason
from ingest.patients import Metadata, resolve_metadata
from ingest.records import retain_until_default
from ingest.splitting import Segment, iter_segments, write_pages
from ocr.interface import SourceInfo
from ocr.service import inspect

log = logging.getLogger(__name__)


# progress(event, **facts): "file" (name, pages) once a file is inspected, "page" (number)
# as its pages are searched for separators, "outcome" (outcome), "file_done" (name).
Progress = Callable[..., None]


@dataclass
class _Intake:
    settings: Settings
    store: ObjectStore
    batch_id: str
    options: IntakeOptions
    enqueue: Callable[[str], object]
    progress: Progress
    manifest: dict[str, list[ManifestRow]] = field(default_factory=dict)
    policy: Policy | None = None  # the retention policy, read once per batch

    def emit(self, event: str, **facts: object) -> None:
        try:
            self.progress(event, **facts)
        except Exception:  # noqa: BLE001 - a progress display never stops a batch
            log.debug("progress callback failed", exc_info=True)


def ingest_files(settings: Settings, store: ObjectStore, files: Sequence[IncomingFile],
                 options: IntakeOptions, enqueue, *,  # noqa: ANN001
                 progress: Progress | None = None, batch_id: str | None = None
                 ) -> IntakeResult:
    """Take in every file; ``enqueue(document_id)`` is called after each commit.

    ``.csv`` files among ``files`` are manifests for the others. Never raises for
    bad input; raises :class:`Unavailable` only when the catalog itself is down.
    """
    batch_id = batch_id or records.open_batch(settings, options, len(files))
    ctx = _Intake(settings, store, batch_id, options, enqueue, progress or (lambda *a, **k: None))
    outcomes: list[FileOutcome] = []
    manifests = [f for f in files if is_manifest_name(f.name)]
    content = [f for f in files if not is_manifest_name(f.name)]
    for incoming in manifests:
        outcomes.append(_load_manifest(ctx, incoming))
    named = {display_name(f.name) for f in content}
    for name, rows in ctx.manifest.items():
        if name not in named:
            outcomes.append(_unmatched_row(ctx, rows[0]))
    for incoming in content:
        for outcome in _take_file(ctx, incoming):
            ctx.emit("outcome", outcome=outcome)
            outcomes.append(outcome)
    records.close_batch(settings, batch_id)
    return IntakeResult(batch_id=batch_id, outcomes=tuple(outcomes))


def _load_manifest(ctx: _Intake, incoming: IncomingFile) -> FileOutcome:
    name = display_name(incoming.name)
    try:
        rows = read_manifest(incoming.path, name)
    except (BadInput, OSError) as exc:
        error = exc if isinstance(exc, BadInput) else BadInput(
            f"cannot read manifest {name}: {exc}", code="unreadable")
        return records.quarantine(ctx, incoming.path, name, error, keep_bytes=True)
    for row in rows:
        ctx.manifest.setdefault(display_name(row.filename), []).append(row)
    return FileOutcome(name, "manifest", pages=len(rows),
                       reason=f"{len(rows)} row(s) for {len(ctx.manifest)} file(s)")


def _unmatched_row(ctx: _Intake, row: ManifestRow) -> FileOutcome:
    error = BadInput(f"manifest line {row.line} names {display_name(row.filename)!r}, which is "
                     "not in this batch; upload the file or correct the manifest",
                     code="manifest_file_missing")
    return records.quarantine(ctx, None, display_name(row.filename), error)


def _take_file(ctx: _Intake, incoming: IncomingFile) -> list[FileOutcome]:
    name = display_name(incoming.name)
    record = records.start_file(ctx, name, incoming.origin)
    return run_file(ctx, incoming, name, record)


def run_file(ctx: _Intake, incoming: IncomingFile, name: str, record: str, *,
             raise_outages: bool = False) -> list[FileOutcome]:
    """Every step for one received file, its outcomes recorded on its intake_file row.
    Only an outage (with ``raise_outages``, for a retrying task) escapes."""
    try:
        outcomes = _take_checked(ctx, incoming, name, record)
    except Unavailable as exc:
        if raise_outages:
            raise
        outcomes = [FileOutcome(name, "failed", code=exc.code, reason=exc.message,
                                intake_file_id=record)]
    except ChartvaultError as exc:
        log.warning("file not taken in", extra={"batch_id": ctx.batch_id, "code": exc.code})
        outcomes = [FileOutcome(name, "failed", code=exc.code, reason=exc.message,
                                intake_file_id=record)]
    except Exception as exc:  # noqa: BLE001 - a bug must not stop the batch (DESIGN rule 5)
        log.error("intake error", extra={"batch_id": ctx.batch_id, "error": type(exc).__name__})
        error = BadInput(f"internal error while taking the file in ({type(exc).__name__}); "
                         "it is kept here: release it to try again", code="intake_error")
        outcomes = [records.quarantine(ctx, incoming.path, name, error, intake_file=record,
                                       keep_bytes=True)]
    records.finish_file(ctx.settings, record, outcomes)
    ctx.emit("file_done", name=name)
    return outcomes


def _take_checked(ctx: _Intake, incoming: IncomingFile, name: str, record: str
                  ) -> list[FileOutcome]:
    def bad(error: BadInput, **facts: object) -> list[FileOutcome]:
        error = own_name(error, incoming.path, name)
        return [records.quarantine(ctx, incoming.path, name, error, intake_file=record,
                                   keep_bytes=True, **facts)]

    try:
        check_name(incoming.name)
        sha256, size = sha256_of(incoming.path)
    except BadInput as exc:
        return bad(exc)
    except OSError as exc:
        return bad(BadInput(f"cannot read the file: {exc.strerror}", code="unreadable"))
    records.note_file(ctx.settings, record, sha256=sha256, size=size)
    earlier = records.duplicate_of(ctx.settings, sha256, record)
    if earlier:
        row = (ctx.manifest.get(name) or [None])[0]
        given = (row.mrn, row.doc_type, row.service_date) if row else (
            ctx.options.mrn, ctx.options.doc_type, ctx.options.service_date)
        return [FileOutcome(name, "duplicate", sha256=sha256, duplicate_of=earlier[0],
                            code="duplicate", intake_file_id=record,
                            reason=duplicate_reason(ctx.settings, earlier, *given))]
    try:
        info = inspect(incoming.path, ctx.settings)
        check_extension(incoming.name, info.kind)
        check_polyglot(incoming.path, name)
        if info.kind == "pdf":
            check_pdf_active_content(incoming.path, name)
    except BadInput as exc:
        return bad(exc, sha256=sha256)
    records.note_file(ctx.settings, record, kind=info.kind, pages=info.page_count)
    ctx.emit("file", name=name, pages=info.page_count)
    rows = ctx.manifest.get(name, [])
    try:
        segments = _segments(ctx, incoming.path, info, rows)
        first = next(segments)
    except BadInput as exc:
        return bad(exc, sha256=sha256)
    segment, row = first
    if segment.separator_page is None and segment.pages == list(range(1, info.page_count + 1)):
        return [_take_part(ctx, incoming.path, name, info, sha256, size, segment, row, record,
                           page_range=None)]  # the whole file: no part after it
    records.archive_stack(ctx, record, incoming.path, info, sha256)
    return _take_parts(ctx, incoming.path, name, info, chain([first], segments), record)


def _segments(ctx: _Intake, path: Path, info: SourceInfo, rows: list[ManifestRow]
              ) -> Iterator[tuple[Segment, ManifestRow | None]]:
    """The parts of the file, each with the manifest row that describes it (if any); a
    stack's parts as its separator sheets are found (a part is taken in, and its OCR
    queued, while the pages after it are still searched)."""
    if rows:
        return iter(_manifest_segments(path.name, info.page_count, rows))
    if not ctx.options.split or info.page_count < 1:
        return iter([(Segment(pages=list(range(1, info.page_count + 1))), None)])
    segments = iter_segments(path, info.kind, info.page_count, ctx.settings,
                             on_page=lambda n: ctx.emit("page", number=n))
    return ((s, None) for s in segments)


def _manifest_segments(name: str, page_count: int, rows: list[ManifestRow]
                       ) -> list[tuple[Segment, ManifestRow | None]]:
    if len(rows) == 1 and not rows[0].pages:
        return [(Segment(pages=list(range(1, page_count + 1))), rows[0])]
    if any(not row.pages for row in rows):
        lines = ", ".join(str(r.line) for r in rows)
        raise BadInput(f"the manifest names this file on lines {lines}; with more than one row "
                       "every row needs a pages range", code="manifest_ambiguous")
    out, seen = [], set()
    for row in rows:
        beyond = [p for p in row.pages if p > page_count]
        overlap = seen.intersection(row.pages)
        if beyond or overlap:
            why = (f"pages {format_pages(beyond)} are beyond its {page_count} pages" if beyond
                   else f"pages {format_pages(sorted(overlap))} are on another row too")
            raise BadInput(f"manifest line {row.line}: {why}", code="manifest_bad_pages")
        seen.update(row.pages)
        out.append((Segment(pages=list(row.pages)), row))
    rest = [p for p in range(1, page_count + 1) if p not in seen]
    if rest:
        out.append((Segment(pages=rest, error=BadInput(
            f"pages {format_pages(rest)} are on no manifest row", code="manifest_pages_missing")),
            None))
    return out


def _take_parts(ctx: _Intake, path: Path, name: str, info: SourceInfo,
                segments: Iterator[tuple[Segment, ManifestRow | None]], record: str
                ) -> list[FileOutcome]:
    outcomes: list[FileOutcome] = []
    suffix = ".pdf" if info.kind == "pdf" else ".tif"
    stem = Path(name).stem or "part"
    with tempfile.TemporaryDirectory(prefix="chartvault-parts-") as tmp:
        parts = _Parts(segments)
        for index, (segment, row) in enumerate(parts, start=1):
            if not segment.pages:
                outcomes.append(FileOutcome(
                    name, "empty", code="empty_part", intake_file_id=record,
                    reason=f"the separator sheet on page {segment.separator_page} has no pages "
                           "after it", page_range=""))
                continue
            pages = format_pages(segment.pages)
            part_name = f"{stem}-part{index}-p{pages}{suffix}"
            try:
                part = write_pages(path, info.kind, segment.pages,
                                   Path(tmp) / f"part{index}{suffix}")
                sha256, size = sha256_of(part)
            except Exception as exc:  # noqa: BLE001 - damaged pages: this part only
                error = BadInput(f"pages {pages} could not be copied out of the stack "
                                 f"({type(exc).__name__}); the stack is archived as scanned",
                                 code="split_failed")
                outcomes.append(records.quarantine(ctx, None, part_name, error,
                                                   intake_file=record, page_range=pages))
                continue
            part_info = replace(info, page_count=len(segment.pages))
            outcomes.append(_take_part(ctx, part, part_name, part_info, sha256, size, segment,
                                       row, record, page_range=format_pages(segment.pages)))
            part.unlink(missing_ok=True)
        if parts.failed is not None:
            log.error("separator search broke off", extra={
                "batch_id": ctx.batch_id, "error": type(parts.failed).__name__})
            if parts.last_page < info.page_count:
                outcomes.append(_unsearched_rest(ctx, path, info, parts, record, stem,
                                                 suffix, Path(tmp)))
    return outcomes


class _Parts:
    """A stack's parts as the separator search finds them. A search that breaks off (a
    bug: a page it cannot read is a chart page for OCR to flag) ends the parts there,
    recorded in ``failed``; the parts before it stay taken in."""

    def __init__(self, segments: Iterator[tuple[Segment, ManifestRow | None]]) -> None:
        self._segments = segments
        self.last_page = 0  # the last page of the parts found so far (sheets included)
        self.failed: Exception | None = None

    def __iter__(self) -> Iterator[tuple[Segment, ManifestRow | None]]:
        try:
            for segment, row in self._segments:
                self.last_page = max([self.last_page, *segment.pages, *segment.skipped,
                                      segment.separator_page or 0])
                yield segment, row
        except Exception as exc:  # noqa: BLE001 - the parts already taken in stay taken in
            self.failed = exc


def _unsearched_rest(ctx: _Intake, path: Path, info: SourceInfo, parts: _Parts, record: str,
                     stem: str, suffix: str, folder: Path) -> FileOutcome:
    """The pages after the last part found, when the search broke off: quarantined with
    their bytes, released as one document with the clerk's patient and type."""
    pages = list(range(parts.last_page + 1, info.page_count + 1))
    where = format_pages(pages)
    rest_name = f"{stem}-p{where}{suffix}"
    error = BadInput(f"pages {where} could not be searched for separator sheets "
                     f"({type(parts.failed).__name__}); they are kept here, the stack is "
                     "archived as scanned: release them with their patient and type, or "
                     "split them yourself", code="split_failed")
    try:
        rest = write_pages(path, info.kind, pages, folder / f"rest{suffix}")
    except Exception:  # noqa: BLE001 - then only the archived stack holds them
        return records.quarantine(ctx, None, rest_name, error, intake_file=record,
                                  page_range=where)
    return records.quarantine(ctx, rest, rest_name, error, intake_file=record,
                              page_range=where, keep_bytes=True)


def _take_part(ctx: _Intake, path: Path, name: str, info: SourceInfo, sha256: str, size: int,
               segment: Segment, row: ManifestRow | None, record: str,
               page_range: str | None) -> FileOutcome:
    """One document-to-be: metadata checked, then duplicate, archived or quarantined."""
    facts = {"sha256": sha256, "intake_file": record, "page_range": page_range}
    try:
        if segment.error:
            raise segment.error
        if row and row.error:
            raise BadInput(f"manifest line {row.line}: {row.error}", code="manifest_bad_row")
        meta = resolve_metadata(ctx.settings, document_types(ctx.settings), ctx.options,
                                row, segment.cover)
    except BadInput as exc:
        if page_range is not None:  # a part of a stack: say which pages, and why
            several = "-" in page_range or "," in page_range
            where = f"{'pages' if several else 'page'} {page_range}"
            if segment.separator_page:
                where += f" (after the separator sheet on page {segment.separator_page})"
            elif row is None and segment.error is None:
                where += " (before any cover sheet)"
            exc = BadInput(f"{where}: {exc.message}", code=exc.code)
        return records.quarantine(ctx, path, name, exc, keep_bytes=True, **facts,
                                  suggested=_suggestion(ctx.options, row, segment))
    return admit(ctx, path, name, info, sha256, size, meta, record, page_range)


def admit(ctx: _Intake, path: Path, name: str, info: SourceInfo, sha256: str, size: int,
          meta: Metadata, record: str | None, page_range: str | None) -> FileOutcome:
    """Archive one checked document (or report the duplicate) and enqueue it."""
    earlier = records.duplicate_of(ctx.settings, sha256, record, documents_only=True)
    if earlier:
        reason = duplicate_reason(ctx.settings, earlier, meta.mrn, meta.doc_type.name,
                                  meta.service_date)
        return FileOutcome(name, "duplicate", mrn=meta.mrn, doc_type=meta.doc_type.name,
                           sha256=sha256, duplicate_of=earlier[0], code="duplicate",
                           reason=reason, page_range=page_range, intake_file_id=record)
    document_id = records.archive_document(ctx, path, name, info, sha256, size, meta, record,
                                           page_range)
    ctx.enqueue(document_id)
    return FileOutcome(name, "queued", document_id=document_id, mrn=meta.mrn,
                       doc_type=meta.doc_type.name, sha256=sha256, pages=info.page_count,
                       page_range=page_range, intake_file_id=record)


def own_name(error: BadInput, path: Path, name: str) -> BadInput:
    """``error`` with the uploaded file's own name where it named the temporary copy
    (``00001.upload is empty``): the clerk never saw that name."""
    if path.name and path.name != name and path.name in error.message:
        return type(error)(error.message.replace(str(path), name).replace(path.name, name),
                           code=error.code)
    return error


def _suggestion(options: IntakeOptions, row: ManifestRow | None, segment: Segment) -> dict:
    """What the intake knew, for the clerk who corrects and releases the entry (no PHI
    beyond what the catalog already holds for patients: MRN and type only)."""
    cover = segment.cover
    return {"mrn": (cover.mrn if cover else None) or (row.mrn if row else None) or options.mrn,
            "doc_type": (cover.doc_type if cover else None) or (row.doc_type if row else None)
            or options.doc_type}


def batch_files(settings: Settings, batch_id: str) -> list[dict]:
    """Per-file progress of a batch, in the order received."""
    with session_scope(settings) as session:
        if session.get(Batch, batch_id) is None:
            return []
        rows = session.scalars(select(IntakeFile).where(IntakeFile.batch_id == batch_id)
                               .order_by(IntakeFile.created_at))
        return [{"id": f.id, "filename": f.filename, "status": f.status, "kind": f.kind,
                 "pages": f.pages, "sha256": f.sha256, "code": f.code, "reason": f.reason,
                 "parts": f.parts} for f in rows]


__all__ = ["IncomingFile", "IntakeOptions", "IntakeResult", "FileOutcome", "ingest_files",
           "retain_until_default", "batch_files", "StorageUnavailable"]
