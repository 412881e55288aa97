"""Uploads from the page and the API into ``ingest.service.ingest_files``.

Uploaded names are kept only as display names: every file is saved under a
name we make in a private temporary folder, which is removed afterwards (the
originals are durable in the store before ``ingest_files`` returns).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from werkzeug.datastructures import FileStorage

from chartvault.errors import BadInput

MAX_FILES = 500


def with_outcomes(view: dict, batch_id: str) -> dict:
    """A batch view with every file's outcome (``results``) and their tally (``tally``):
    a file that failed, or was a duplicate, has no document and is shown all the same."""
    from ingest.outcomes import batch_outcomes, summary
    from web.common import settings

    files = batch_outcomes(settings(), batch_id)
    tally = summary(files)
    return {**view, "results": files, "tally": tally,
            "tally_text": ", ".join(f"{n} {outcome}" for outcome, n in sorted(tally.items()))}


def upload_fields(form) -> dict:  # noqa: ANN001
    """The metadata fields of an upload form (page and API take the same names)."""
    return {"mrn": form.get("mrn"), "doc_type": form.get("type"),
            "service_date": parse_date(form.get("service_date")),
            "facility": form.get("facility", ""), "patient_name": form.get("patient_name", ""),
            "date_of_birth": parse_date(form.get("date_of_birth"))}


def parse_date(value: str | None) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadInput("service date must be YYYY-MM-DD", code="bad_date") from exc


def ingest_uploads(files: Sequence[FileStorage], manifest: FileStorage | None, *,
                   actor: str, source: str, mrn: str | None, doc_type: str | None,
                   service_date: date | None, facility: str = "", patient_name: str = "",
                   date_of_birth: date | None = None):  # noqa: ANN201
    """Save, then ingest. Returns the :class:`ingest.IntakeResult`.

    The manifest goes to intake as one more file whose name ends in ``.csv``
    (that is how ``ingest_files`` recognises manifests).
    """
    from ingest import IncomingFile, IntakeOptions, ingest_files
    from ocr.tasks import enqueue_document
    from web.common import client, settings, store

    files = [f for f in files if f and f.filename]
    if not files:
        raise BadInput("choose at least one file to upload", code="no_files")
    if len(files) > MAX_FILES:
        raise BadInput(f"at most {MAX_FILES} files in one batch", code="too_many_files")
    with tempfile.TemporaryDirectory(prefix="chartvault-upload-") as tmp:
        folder = Path(tmp)
        incoming = []
        for number, upload in enumerate(files, 1):
            path = folder / f"{number:05d}.upload"
            upload.save(path)
            incoming.append(IncomingFile(path, upload.filename or f"file-{number}"))
        if manifest is not None and manifest.filename:
            path = folder / "manifest.upload"
            manifest.save(path)
            name = manifest.filename if manifest.filename.lower().endswith(".csv") \
                else "manifest.csv"
            incoming.insert(0, IncomingFile(path, name))
        options = IntakeOptions(actor=actor, source=source, mrn=(mrn or "").strip() or None,
                                doc_type=(doc_type or "").strip() or None,
                                service_date=service_date, facility=facility, client=client(),
                                patient_name=(patient_name or "").strip()[:200],
                                date_of_birth=date_of_birth)
        return ingest_files(settings(), store(), incoming, options, enqueue_document)
