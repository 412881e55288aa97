"""The values intake takes and hands back (the web page and the CLI use these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class IntakeOptions:
    actor: str
    source: str = "cli"  # cli | web | api | hotfolder
    mrn: str | None = None
    doc_type: str | None = None
    service_date: date | None = None
    facility: str = ""
    patient_name: str = ""
    date_of_birth: date | None = None
    split: bool = True  # look for separator sheets in every file
    client: str | None = None  # the uploader's address, for the audit log


@dataclass(frozen=True)
class IncomingFile:
    path: Path
    name: str  # as the uploader named it; never used as a path
    origin: str | None = None  # where it came from (a hot-folder entry), for restarts


@dataclass(frozen=True)
class FileOutcome:
    filename: str
    status: str  # queued | duplicate | quarantined | failed | manifest
    document_id: str | None = None
    mrn: str | None = None
    doc_type: str | None = None
    sha256: str | None = None
    pages: int = 0
    code: str | None = None
    reason: str | None = None
    duplicate_of: str | None = None
    quarantine_id: str | None = None
    page_range: str | None = None  # the pages of the uploaded file this part holds
    intake_file_id: str | None = None


@dataclass(frozen=True)
class IntakeResult:
    batch_id: str
    outcomes: tuple[FileOutcome, ...] = field(default_factory=tuple)

    @property
    def queued_ids(self) -> list[str]:
        return [o.document_id for o in self.outcomes if o.status == "queued" and o.document_id]

    @property
    def problems(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status in ("quarantined", "failed")]
