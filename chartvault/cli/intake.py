"""Commands of the intake stage: coversheet, watch, quarantine list/release/discard."""

from __future__ import annotations

from pathlib import Path

import click

from chartvault.cli.output import emit_json, table
from chartvault.settings import get_settings


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


_DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.command()
@click.option("--mrn", required=True, help="Medical record number.")
@click.option("--type", "doc_type", required=True, help="Document type, e.g. discharge_summary.")
@click.option("--name", "patient_name", default="", help="Patient name, printed and encoded.")
@click.option("--dob", type=_DATE, help="Date of birth, YYYY-MM-DD.")
@click.option("--service-date", type=_DATE, help="Encounter or service date, YYYY-MM-DD.")
@click.option("--facility", default="", help="Facility.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Where to write the PDF.")
def coversheet(mrn, doc_type, patient_name, dob, service_date, facility, output) -> None:  # noqa: ANN001
    """Write a printable cover sheet (PDF) to put in front of a chart before scanning."""
    from ingest.barcodes import CoverSheet
    from ingest.coversheet import write_cover_sheet
    from ingest.doctypes import document_types
    from ingest.patients import validate_mrn

    settings = get_settings()
    kind = document_types(settings).resolve(doc_type)
    sheet = CoverSheet(mrn=validate_mrn(mrn, settings), doc_type=kind.name,
                       patient_name=patient_name.strip(),
                       date_of_birth=dob.date() if dob else None,
                       service_date=service_date.date() if service_date else None,
                       facility=facility.strip())
    out = write_cover_sheet(sheet, Path(output), type_label=kind.label)
    click.echo(f"cover sheet written to {out}")


@click.command()
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--interval", type=float, help="Seconds between polls (default from settings).")
@click.option("--once", is_flag=True, help="Poll twice (to see files settle), then exit.")
def watch(folder, interval, once) -> None:  # noqa: ANN001
    """Watch FOLDER: take in files once completely written, move them to done/ or failed/."""
    import threading
    import time

    from archive import open_store
    from ingest.hotfolder import HotFolder
    from ocr.tasks import enqueue_document

    settings = get_settings()
    watcher = HotFolder(settings, open_store(settings), Path(folder), enqueue_document)
    pause = interval or settings.hot_folder_interval
    if once:
        for n in range(2):
            for item in watcher.poll():
                click.echo(f"{item.name} -> {item.moved_to} (batch {item.batch_id})")
            if n == 0:
                time.sleep(pause)
        return
    click.echo(f"watching {watcher.folder} every {pause:g} s (Ctrl-C stops)")
    stop = threading.Event()
    try:
        watcher.run(stop, pause)
    except KeyboardInterrupt:
        stop.set()


@click.group()
def quarantine() -> None:
    """Files that could not be taken in: list, release with corrections, discard."""


@quarantine.command("list")
@click.option("--batch", "batch_id", help="Only this batch.")
@click.option("--all", "include_resolved", is_flag=True, help="Also released and discarded.")
@click.option("--json", "as_json", is_flag=True)
def quarantine_list(batch_id, include_resolved, as_json) -> None:  # noqa: ANN001
    """Open entries (or all) with their reasons."""
    from chartvault.cli.reads import record_read
    from ingest.quarantine import list_entries

    entries = list_entries(get_settings(), batch_id, include_resolved)
    record_read(get_settings(), "quarantine", batch_id or "", entries=len(entries))
    if as_json:
        emit_json({"entries": entries})
        return
    table("Quarantine", ["id", "batch", "file", "pages", "code", "reason", "resolution"],
          [[e["id"], e["batch_id"], e["filename"], e["pages"], e["code"], e["reason"],
            e["resolution"]] for e in entries])


@quarantine.command("release")
@click.argument("entry_id")
@click.option("--mrn", help="Corrected MRN (default: what intake read).")
@click.option("--type", "doc_type", help="Corrected document type.")
@click.option("--name", "patient_name", default="", help="Patient name for a new MRN.")
@click.option("--dob", type=_DATE, help="Date of birth for a new MRN.")
@click.option("--service-date", type=_DATE)
@click.option("--facility", default="")
@click.option("--filename", help="Corrected file name (for an unsafe or mismatched name).")
@click.option("--json", "as_json", is_flag=True)
def quarantine_release(entry_id, mrn, doc_type, patient_name, dob, service_date, facility,  # noqa: ANN001
                       filename, as_json) -> None:
    """Take in ENTRY_ID's stored bytes again with corrected metadata."""
    from archive import open_store
    from ingest.interface import IntakeOptions
    from ingest.quarantine import release
    from ocr.tasks import enqueue_document

    settings = get_settings()
    options = IntakeOptions(actor=_actor(), source="cli", mrn=mrn, doc_type=doc_type,
                            patient_name=patient_name, date_of_birth=dob.date() if dob else None,
                            service_date=service_date.date() if service_date else None,
                            facility=facility, split=False)
    outcome = release(settings, open_store(settings), entry_id, options, enqueue_document,
                      filename=filename)
    if as_json:
        emit_json({"entry": entry_id, "status": outcome.status,
                   "document_id": outcome.document_id, "duplicate_of": outcome.duplicate_of})
        return
    made = outcome.document_id or outcome.duplicate_of
    click.echo(f"released {entry_id}: {outcome.status} as document {made}")


@quarantine.command("discard")
@click.argument("entry_id")
@click.option("--reason", required=True, help="Why it is discarded (recorded and audited).")
def quarantine_discard(entry_id, reason) -> None:  # noqa: ANN001
    """Close ENTRY_ID for good and delete its quarantined bytes."""
    from archive import open_store
    from ingest.quarantine import discard

    settings = get_settings()
    discard(settings, open_store(settings), entry_id, _actor(), reason)
    click.echo(f"discarded {entry_id}")


COMMANDS = [coversheet, watch, quarantine]
