"""``chartvault audit``: verify the trail, export it, patient access reports, anchors."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime, time, timedelta

import click

from chartvault.cli.output import emit_json, table
from chartvault.settings import get_settings


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _day_start(value: datetime | None) -> datetime | None:
    return None if value is None else datetime.combine(value.date(), time(0), tzinfo=UTC)


@click.group()
def audit() -> None:
    """The tamper-evident audit trail: verify, export, access reports, anchors."""


@audit.command()
@click.option("--json", "as_json", is_flag=True)
def verify(as_json: bool) -> None:
    """Walk the hash chain and compare it with the anchors in the object store.

    Exits 65 and names the first broken event if anything was edited, removed
    or re-hashed, or if an anchor the trail records is missing from the store; 0
    when the whole trail verifies. Says how many events follow the last anchor.
    """
    from chartvault.audit import AuditChainBroken
    from chartvault.audit_tasks import verify_all

    report = verify_all(get_settings())
    if as_json:
        emit_json(report.as_dict())
    else:
        click.echo(f"{report.events} event(s), {report.anchors} anchor(s) checked, "
                   f"head at {report.head_seq}; {report.unanchored} event(s) after the last "
                   "anchor (not yet bound by one)")
    if not report.ok:
        raise AuditChainBroken(f"first broken event: {report.first_broken_seq}: "
                               f"{report.problem}")
    if not as_json:
        click.echo("audit trail verifies")


@audit.command()
@click.option("--from", "since", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="First day (UTC), YYYY-MM-DD.")
@click.option("--to", "until", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Last day (UTC, included), YYYY-MM-DD.")
@click.option("--mrn", help="Only events about this patient.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")
def export(since, until, mrn, fmt, output) -> None:  # noqa: ANN001
    """Export events with their hashes (anyone can re-verify the chain from them)."""
    from chartvault import audit as trail
    from chartvault.db import session_scope

    settings = get_settings()
    start = _day_start(since)
    end = _day_start(until) + timedelta(days=1) if until else None
    out = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout
    count = 0
    try:
        with session_scope(settings) as session:
            rows = (trail.event_dict(e) for e in trail.events(session, since=start, until=end,
                                                                mrn=mrn))
            if fmt == "csv":
                writer = csv.DictWriter(out, fieldnames=trail.EXPORT_FIELDS)
                writer.writeheader()
                for row in rows:
                    writer.writerow(trail.flat_row(row))
                    count += 1
            else:
                out.write("[")
                for row in rows:
                    out.write(("," if count else "") + "\n" + json.dumps(row, default=str))
                    count += 1
                out.write("\n]\n")
        with session_scope(settings) as session:
            trail.record(session, _actor(), "audit_export", object_type="audit", mrn=mrn,
                         detail={"from": start and start.isoformat(), "to": end and end.isoformat(),
                                 "format": fmt, "events": count})
    finally:
        if output:
            out.close()
    if output:
        click.echo(f"exported {count} event(s) to {output}", err=True)


@audit.command()
@click.argument("mrn")
@click.option("--from", "since", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--to", "until", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--json", "as_json", is_flag=True)
def access(mrn, since, until, as_json) -> None:  # noqa: ANN001
    """Who viewed, downloaded or searched into MRN's documents; disclosures (6 years)."""
    from chartvault import audit as trail
    from chartvault.access import access_report
    from chartvault.db import session_scope

    settings = get_settings()
    with session_scope(settings) as session:
        report = access_report(session, mrn, since=_day_start(since),
                               until=_day_start(until) + timedelta(days=1) if until else None)
        trail.record(session, _actor(), "access_report", object_type="patient", mrn=mrn,
                     detail={"entries": len(report.entries)})
    if as_json:
        emit_json(report.as_dict())
        return
    click.echo(f"{len(report.entries)} access(es) by {len(report.users)} user(s)")
    table(f"Accesses to {mrn}", ["seq", "at", "user", "action", "object", "purpose", "reason"],
          [[e.seq, e.at.isoformat(timespec="seconds"), e.actor, e.action,
            f"{e.object_type} {e.object_id}".strip(), e.purpose, e.reason]
           for e in report.entries])
    table("Accounting of disclosures (last six years)",
          ["at", "document", "recipient", "purpose", "by"],
          [[d.at.isoformat(timespec="seconds"), d.document_id, d.recipient, d.purpose,
            d.disclosed_by] for d in report.disclosures])


@audit.command("break-glass")
@click.option("--unreviewed", is_flag=True, help="Only accesses not reviewed yet.")
@click.option("--json", "as_json", is_flag=True)
def break_glass(unreviewed: bool, as_json: bool) -> None:
    """Restricted documents opened with a reason, for the privacy officer."""
    from chartvault import audit as trail
    from chartvault.access import break_glass_events
    from chartvault.db import session_scope

    with session_scope(get_settings()) as session:
        entries = break_glass_events(session, unreviewed_only=unreviewed)
        trail.record(session, _actor(), "audit_view", object_type="break_glass",
                     detail={"entries": len(entries)})
    if as_json:
        emit_json([e.as_dict() for e in entries])
        return
    table("Break-the-glass accesses", ["seq", "at", "user", "mrn", "document", "reason",
                                       "reviewed by"],
          [[e.access.seq, e.access.at.isoformat(timespec="seconds"), e.access.actor, e.mrn,
            e.access.object_id, e.access.reason, e.reviewed_by] for e in entries])


@audit.command()
@click.argument("seq", type=int)
@click.option("--note", default="", help="What the review found.")
def review(seq: int, note: str) -> None:
    """Mark break-the-glass access SEQ reviewed."""
    from chartvault.access import review_break_glass
    from chartvault.db import session_scope

    with session_scope(get_settings()) as session:
        event = review_break_glass(session, _actor(), seq, note)
    click.echo(f"reviewed (audit event {event.seq})")


@audit.command()
@click.argument("document_id")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--lift", is_flag=True, help="Lift the restriction instead.")
def restrict(document_id: str, reason: str, lift: bool) -> None:
    """Mark DOCUMENT_ID restricted: opening it then needs a reason (break the glass)."""
    from chartvault.access import set_restricted
    from chartvault.db import session_scope

    with session_scope(get_settings()) as session:
        doc = set_restricted(session, _actor(), document_id, not lift, reason=reason)
    click.echo(f"document {doc.id} is {'restricted' if doc.restricted else 'not restricted'}")


@audit.command()
@click.option("--json", "as_json", is_flag=True)
def anchor(as_json: bool) -> None:
    """Write an anchor of the chain head to the object store, under retention (the
    scheduler does it at start, hourly and after each destruction)."""
    from chartvault.audit_tasks import write_anchor

    written = write_anchor(get_settings(), actor=_actor())
    data = {"day": written.day, "seq": written.seq, "hash": written.hash, "key": written.key,
            "version_id": written.version_id}
    if as_json:
        emit_json(data)
    else:
        click.echo(f"anchored event {written.seq} ({written.hash[:16]}...) at {written.key}")


COMMANDS = [audit]
