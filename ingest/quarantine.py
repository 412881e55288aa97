"""The clerk's side of quarantine: list entries, release with corrected metadata, discard.

Release re-runs intake on the stored bytes (every check again, then archive and
enqueue), in the entry's batch; if the file is still bad the entry stays open
and the error says why. Discard removes the quarantined bytes (they are under
no retention: they were never archived) and records who, when and why.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from archive import ObjectNotFound, ObjectStore
from chartvault.db import session_scope
from chartvault.errors import BadInput, NotFound, PolicyRefusal
from chartvault.models import QuarantineEntry
from chartvault.settings import Settings
from ingest import records
from ingest.artifacts import discard_quarantined
from ingest.checks import check_extension, check_name, check_pdf_active_content, check_polyglot
from ingest.doctypes import document_types
from ingest.files import display_name, sha256_of
from ingest.interface import FileOutcome, IntakeOptions
from ingest.models import IntakeFile
from ingest.patients import resolve_metadata
from ocr.service import inspect

# codes for bytes that are refused whatever their metadata: releasing them again would
# only fail again, so no Release is offered (discard them and rescan)
REFUSED_BYTES = frozenset({
    "empty_file", "unsupported_type", "unreadable_file", "corrupt_pdf", "encrypted_pdf",
    "zero_pages", "too_many_pages", "file_too_large", "image_too_large", "truncated_image",
    "corrupt_image", "no_such_page", "polyglot", "active_content", "unverifiable_pdf",
    "decompression_bomb"})


def releasable(code: str | None, object_key: str | None) -> bool:
    """A release can succeed: the bytes were kept and nothing in them is refused."""
    return bool(object_key) and code not in REFUSED_BYTES


def list_entries(settings: Settings, batch_id: str | None = None,
                 include_resolved: bool = False) -> list[dict[str, Any]]:
    with session_scope(settings) as session:
        query = select(QuarantineEntry).order_by(QuarantineEntry.created_at)
        if batch_id:
            query = query.where(QuarantineEntry.batch_id == batch_id)
        if not include_resolved:
            query = query.where(QuarantineEntry.resolved_at.is_(None))
        return [_view(e) for e in session.scalars(query)]


def _view(entry: QuarantineEntry) -> dict[str, Any]:
    return {"id": entry.id, "batch_id": entry.batch_id, "filename": entry.filename,
            "code": entry.code, "reason": entry.reason, "size": entry.size,
            "sha256": entry.sha256, "releasable": releasable(entry.code, entry.object_key),
            "pages": (entry.detail or {}).get("pages"), "created_at": entry.created_at,
            "resolution": entry.resolution, "resolved_by": entry.resolved_by,
            "resolved_at": entry.resolved_at, "detail": entry.detail or {}}


def _open_entry(settings: Settings, entry_id: str) -> dict[str, Any]:
    with session_scope(settings) as session:
        entry = session.get(QuarantineEntry, entry_id)
        if entry is None:
            raise NotFound(f"quarantine entry {entry_id} does not exist")
        if entry.resolved_at is not None:
            raise PolicyRefusal(f"quarantine entry {entry_id} was already {entry.resolution} "
                                f"by {entry.resolved_by}", code="quarantine_resolved")
        return {**_view(entry), "object_key": entry.object_key,
                "object_version": entry.object_version}


def release(settings: Settings, store: ObjectStore, entry_id: str, options: IntakeOptions,
            enqueue, filename: str | None = None) -> FileOutcome:  # noqa: ANN001
    """Intake of the entry's bytes with ``options`` as the corrected metadata (MRN and
    type default to what intake read before). Raises BadInput when the file is still
    bad (the entry stays open), NotFound, PolicyRefusal when already resolved."""
    from ingest.service import _Intake, admit, own_name

    entry = _open_entry(settings, entry_id)
    if not entry["object_key"]:
        raise BadInput(f"quarantine entry {entry_id} ({entry['code']}) kept no bytes to release; "
                       "upload the file again and discard this entry", code="nothing_to_release")
    if entry["code"] in REFUSED_BYTES:
        raise BadInput(f"{entry['filename']} was refused for its content ({entry['code']}), "
                       "which no correction of its name or metadata changes; discard the entry "
                       "and rescan the paper", code="not_releasable")
    if filename is not None:
        check_name(filename)
    name = display_name(filename or entry["filename"])
    suggested = entry["detail"].get("suggested", {})
    options = replace(options, mrn=options.mrn or suggested.get("mrn"),
                      doc_type=options.doc_type or suggested.get("doc_type"))
    with tempfile.TemporaryDirectory(prefix="chartvault-release-") as tmp:
        path = Path(tmp) / "released"
        try:
            with store.get(entry["object_key"], entry["object_version"]) as stream, \
                    path.open("wb") as out:
                while block := stream.read(1 << 20):
                    out.write(block)
        except ObjectNotFound as exc:
            raise BadInput(f"the bytes of quarantine entry {entry_id} are gone from the store",
                           code="nothing_to_release") from exc
        sha256, size = sha256_of(path)
        try:
            info = inspect(path, settings)
            check_extension(name, info.kind)
            check_polyglot(path, name)
            if info.kind == "pdf":
                check_pdf_active_content(path, name)
        except BadInput as exc:
            raise own_name(exc, path, name) from exc
        meta = resolve_metadata(settings, document_types(settings), options, None, None)
        ctx = _Intake(settings, store, entry["batch_id"], options, enqueue, lambda *a, **k: None)
        record = entry["detail"].get("intake_file")
        outcome = admit(ctx, path, name, info, sha256, size, meta, record, entry["pages"])
    made = outcome.document_id or outcome.duplicate_of
    records.resolve_entry(settings, entry_id, options.actor, "released",
                          {"document_id": made, "status": outcome.status})
    _update_part(settings, record, entry_id, outcome)
    if outcome.status in ("queued", "duplicate"):  # archived: the kept bytes' work is done
        discard_quarantined(settings, store, entry_id)
    return replace(outcome, quarantine_id=entry_id)


def discard(settings: Settings, store: ObjectStore, entry_id: str, actor: str,
            reason: str) -> None:
    """Close the entry for good and remove its bytes; the reason is required."""
    if not reason or not reason.strip():
        raise BadInput("say why the entry is discarded (--reason)", code="reason_required")
    entry = _open_entry(settings, entry_id)
    discard_quarantined(settings, store, entry_id)
    records.resolve_entry(settings, entry_id, actor, "discarded",
                          {"reason": reason.strip()[:500], "sha256": entry["sha256"],
                           "size": entry["size"]})
    _update_part(settings, entry["detail"].get("intake_file"), entry_id, None)


def _update_part(settings: Settings, record: str | None, entry_id: str,
                 outcome: FileOutcome | None) -> None:
    if not record:
        return
    with session_scope(settings) as session:
        row = session.get(IntakeFile, record)
        if row is None:
            return
        parts = []
        for part in row.parts or []:
            if part.get("quarantine_id") == entry_id:
                part = {**part, "status": outcome.status if outcome else "discarded"}
                if outcome and (outcome.document_id or outcome.duplicate_of):
                    part["document_id"] = outcome.document_id or outcome.duplicate_of
            parts.append(part)
        row.parts = parts
