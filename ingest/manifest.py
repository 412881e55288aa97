"""Manifests: a CSV uploaded with the files that says whose each file is.

Columns (header row, any order, case-insensitive): ``filename``, ``mrn``,
``document_type`` are required; ``service_date`` (YYYY-MM-DD), ``facility``,
``pages`` (``1-5`` or ``1-3,7``), ``patient_name`` and ``date_of_birth`` are
optional. Several rows may name the same file with different page ranges: the
file is split into one document per row.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from chartvault.errors import BadInput

REQUIRED = ("filename", "mrn", "document_type")
OPTIONAL = ("service_date", "facility", "pages", "patient_name", "date_of_birth")
_ALIASES = {"file": "filename", "file_name": "filename", "type": "document_type",
            "doc_type": "document_type", "dob": "date_of_birth", "name": "patient_name",
            "page_range": "pages", "page_ranges": "pages"}
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 100_000


@dataclass(frozen=True)
class ManifestRow:
    line: int  # line number in the CSV, for messages
    filename: str
    mrn: str
    doc_type: str
    service_date: date | None = None
    facility: str = ""
    pages: tuple[int, ...] = ()  # empty = the whole file
    patient_name: str = ""
    date_of_birth: date | None = None
    error: str | None = None  # a row that cannot be used, with why


def is_manifest_name(name: str) -> bool:
    return name.lower().endswith(".csv")


def read_manifest(path: Path, name: str = "") -> list[ManifestRow]:
    """Every row; BadInput for the manifest as a whole (manifest_not_utf8,
    manifest_missing_column, manifest_empty, manifest_too_large). A bad value in
    a row is not an error here: the row carries it in ``error``."""
    name = name or path.name
    if path.stat().st_size > MAX_BYTES:
        raise BadInput(f"manifest {name} is over {MAX_BYTES // 2**20} MB",
                       code="manifest_too_large")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"manifest {name} is not UTF-8 text (byte {exc.start}); save it as "
                       "'CSV UTF-8' and upload it again", code="manifest_not_utf8") from exc
    if "\x00" in text:
        raise BadInput(f"manifest {name} contains NUL bytes; it is not a CSV file",
                       code="manifest_not_utf8")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise BadInput(f"manifest {name} is empty", code="manifest_empty") from exc
    columns = [_column(h) for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise BadInput(f"manifest {name} lacks the column(s) {', '.join(missing)}; the header "
                       f"must name {', '.join(REQUIRED)}", code="manifest_missing_column")
    rows = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise BadInput(f"manifest {name} has over {MAX_ROWS} rows",
                               code="manifest_too_large")
            rows.append(_row(reader.line_num, dict(zip(columns, cells, strict=False))))
    except csv.Error as exc:
        raise BadInput(f"manifest {name} line {reader.line_num}: {exc}",
                       code="manifest_malformed") from exc
    if not rows:
        raise BadInput(f"manifest {name} has a header but no rows", code="manifest_empty")
    return rows


def _column(header: str) -> str:
    key = header.strip().lower().replace(" ", "_").replace("-", "_")
    return _ALIASES.get(key, key)


def _row(line: int, cells: dict[str, str]) -> ManifestRow:
    get = lambda key: (cells.get(key) or "").strip()  # noqa: E731
    errors = []
    service_date = _date(get("service_date"), "service_date", errors)
    born = _date(get("date_of_birth"), "date_of_birth", errors)
    pages: tuple[int, ...] = ()
    try:
        pages = parse_pages(get("pages"))
    except ValueError as exc:
        errors.append(str(exc))
    if not get("filename"):
        errors.append("no filename")
    return ManifestRow(line=line, filename=get("filename"), mrn=get("mrn"),
                       doc_type=get("document_type"), service_date=service_date,
                       facility=get("facility"), pages=pages,
                       patient_name=get("patient_name"), date_of_birth=born,
                       error="; ".join(errors) or None)


def _date(value: str, column: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{column} {value!r} is not a date (YYYY-MM-DD)")
        return None


def parse_pages(text: str) -> tuple[int, ...]:
    """``"1-3,7"`` -> (1, 2, 3, 7); "" -> (); ValueError when malformed or overlapping."""
    pages: list[int] = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            a, b = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"pages {text!r} is not a page range like 1-5 or 1-3,7") from None
        if a < 1 or b < a or b - a > 100_000:
            raise ValueError(f"pages {text!r}: range {part} is not ascending from 1")
        pages.extend(range(a, b + 1))
    if len(set(pages)) != len(pages):
        raise ValueError(f"pages {text!r} names a page twice")
    return tuple(pages)


def format_pages(pages: tuple[int, ...] | list[int]) -> str:
    """(1, 2, 3, 7) -> "1-3,7"."""
    out, run = [], []
    for page in pages:
        if run and page == run[-1] + 1:
            run.append(page)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [page]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)
