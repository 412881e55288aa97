"""Intake in the background: for an upload that must be answered at once.

:func:`stage_files` makes the upload durable first (each file's bytes in the
object store under ``staging/``, its intake_file row committed: DESIGN rule 1),
reads the manifests, and hands each file to a worker (``ingest.take_staged``),
which runs the same steps as :func:`ingest.service.ingest_files` — splitting a
long stack takes a while — and removes the staged copy when done. The task is
idempotent: a file already taken in is not taken in again.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from datetime import date
from pathlib import Path
from typing import Any

from archive import ObjectNotFound, ObjectStore, keys, ledger
from archive.ledger import Owner
from chartvault.db import session_scope
from chartvault.errors import BadInput
from chartvault.settings import Settings
from ingest import records
from ingest.checks import check_name
from ingest.files import display_name, sha256_of
from ingest.interface import FileOutcome, IncomingFile, IntakeOptions, IntakeResult
from ingest.manifest import ManifestRow, is_manifest_name
from ingest.models import IntakeFile

log = logging.getLogger(__name__)
_DATES = ("service_date", "date_of_birth")


def stage_files(settings: Settings, store: ObjectStore, files: Sequence[IncomingFile],
                options: IntakeOptions, enqueue_file: Callable[[str], object]) -> IntakeResult:
    """Keep every file and queue it; outcomes are ``staged`` (or quarantined at once:
    an unsafe name, a bad manifest, a manifest row naming no file)."""
    from ingest.service import _Intake, _load_manifest, _unmatched_row

    batch_id = records.open_batch(settings, options, len(files))
    ctx = _Intake(settings, store, batch_id, options, lambda _id: None, lambda *a, **k: None)
    outcomes: list[FileOutcome] = [_load_manifest(ctx, f) for f in files
                                   if is_manifest_name(f.name)]
    content = [f for f in files if not is_manifest_name(f.name)]
    named = {display_name(f.name) for f in content}
    outcomes += [_unmatched_row(ctx, rows[0]) for name, rows in ctx.manifest.items()
                 if name not in named]
    for incoming in content:
        outcome = _stage_one(ctx, incoming)
        outcomes.append(outcome)
        if outcome.status == "staged":
            enqueue_file(outcome.intake_file_id)
    records.close_batch(settings, batch_id)
    return IntakeResult(batch_id=batch_id, outcomes=tuple(outcomes))


def _stage_one(ctx, incoming: IncomingFile) -> FileOutcome:  # noqa: ANN001
    name = display_name(incoming.name)
    record = records.start_file(ctx, name, incoming.origin)
    try:
        check_name(incoming.name)
    except BadInput as exc:
        outcome = records.quarantine(ctx, incoming.path, name, exc, intake_file=record,
                                     keep_bytes=True)
        records.finish_file(ctx.settings, record, [outcome])
        return outcome
    sha256, size = sha256_of(incoming.path)
    key = keys.staging_key(record)
    stored = ledger.put(ctx.store, key, incoming.path, kind="staged",
                        owner=Owner("intake_file", record), expected_sha256=sha256)
    staged = {"key": key, "version": stored.version_id, "options": _plain(asdict(ctx.options)),
              "rows": [_plain(asdict(r)) for r in ctx.manifest.get(name, [])]}
    with session_scope(ctx.settings) as session:
        session.add(stored)
        row = session.get(IntakeFile, record)
        row.status, row.sha256, row.size, row.staged = "staged", sha256, size, staged
    return FileOutcome(name, "staged", sha256=sha256, intake_file_id=record)


def take_staged(settings: Settings, store: ObjectStore, record: str,
                enqueue: Callable[[str], object]) -> list[FileOutcome]:
    """Take in one staged file (idempotent: [] when it was already taken in).
    Raises :class:`Unavailable` on an outage so the task retries."""
    from ingest.service import _Intake, run_file

    with session_scope(settings) as session:
        row = session.get(IntakeFile, record)
        if row is None or not row.staged or row.status not in ("staged", "splitting"):
            return []
        batch_id, name, staged = row.batch_id, row.filename, dict(row.staged)
    options = IntakeOptions(**_dated(staged["options"], IntakeOptions))
    rows = [ManifestRow(**_dated(r, ManifestRow)) for r in staged["rows"]]
    ctx = _Intake(settings, store, batch_id, options, enqueue, lambda *a, **k: None,
                  manifest={name: rows} if rows else {})
    with tempfile.TemporaryDirectory(prefix="chartvault-staged-") as tmp:
        path = Path(tmp) / "staged"
        try:
            with store.get(staged["key"], staged["version"]) as stream, path.open("wb") as out:
                while block := stream.read(1 << 20):
                    out.write(block)
        except ObjectNotFound:
            log.error("staged bytes missing", extra={"intake_file": record})
            return []
        outcomes = run_file(ctx, IncomingFile(path, name), name, record, raise_outages=True)
    with session_scope(settings) as session:
        for row in ledger.objects_of(session, Owner("intake_file", record), kinds=("staged",)):
            ledger.delete(store, row)
    return outcomes


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else list(v) if isinstance(v, tuple) else v
            for k, v in values.items()}


def _dated(values: dict[str, Any], kind: type) -> dict[str, Any]:
    known = {f.name for f in fields(kind)}
    out = {k: v for k, v in values.items() if k in known}
    for key in _DATES:
        if out.get(key):
            out[key] = date.fromisoformat(out[key])
    if "pages" in out:
        out["pages"] = tuple(out["pages"])
    return out
