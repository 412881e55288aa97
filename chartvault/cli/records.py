"""Records lifecycle commands: ``chartvault retention ...`` and ``chartvault hold ...``."""

from __future__ import annotations

import click

from chartvault.cli.output import emit_json, table
from chartvault.cli.signin import authenticate, credential_options
from chartvault.settings import get_settings


def _actor(user: str | None) -> str:
    if user:
        return user
    import getpass

    return f"cli:{getpass.getuser()}"


@click.group()
def retention() -> None:
    """Retention policy, due documents and approved destruction."""


@retention.command("policy")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def policy_command(as_json: bool) -> None:
    """Show the retention policy in force and its version."""
    from retention.service import policy_view

    view = policy_view(get_settings())
    if as_json:
        emit_json(view)
        return
    click.echo(f"{view['name']}\nversion {view['version']}\nfile {view['path']}")
    table("Retention classes", ["class", "trigger", "years", "source"],
          [[c["name"], c["trigger"], c["years"], c["source"]] for c in view["classes"]])
    minors = view["minors"]
    click.echo(f"minors: age of majority {view['majority_age']} + {minors['years']} years "
               f"({minors['source']}); default class {view['default_class']}")


@retention.command("apply")
@click.argument("document_ids", nargs=-1)
@click.option("--limit", default=10_000, show_default=True, type=click.IntRange(1),
              help="Without ids: at most this many stale documents.")
def apply_command(document_ids: tuple[str, ...], limit: int) -> None:
    """Apply the policy now: to the given documents, or else to every document the
    policy in force has not evaluated yet (after a policy change). Dates only extend."""
    from retention.service import apply_retention, reapply_stale

    settings = get_settings()
    if not document_ids:
        click.echo(f"{reapply_stale(settings, limit=limit, actor=_actor(None))} stale "
                   "document(s) evaluated")
        return
    for document_id in document_ids:
        until = apply_retention(settings, document_id, actor=_actor(None))
        click.echo(f"{document_id}: retained until {until or 'unknown (no date yet)'}")


@retention.command("recompute")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def recompute_command(as_json: bool) -> None:
    """Give every live record its policy's own date: dates set before the object ledger
    (scan date + default years) are replaced, policy dates only extend. Store locks are
    never shortened: records locked past their new date are listed, due when the lock
    ends."""
    from retention.service import recompute_all

    changed, later = recompute_all(get_settings(), actor=_actor(None))
    if as_json:
        emit_json({"changed": changed, "locked_later": [r.as_dict() for r in later]})
        return
    click.echo(f"{changed} document date(s) changed; {len(later)} record(s) locked in the "
               "store past their policy date (due when the lock ends)")
    table("Locked past the policy date", ["document", "mrn", "policy date", "key", "version",
                                          "locked until"],
          [[r.document_id, r.mrn, r.retain_until, key, version, until]
           for r in later for key, version, until in r.objects])


@retention.command("patient")
@click.argument("mrn")
@click.option("--encounter", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="A new encounter on this date (extends dates that follow the last one).")
@click.option("--date-of-birth", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The corrected date of birth.")
@click.option("--user", help="Who records the change (default: your login).")
def patient(mrn: str, encounter, date_of_birth, user: str | None) -> None:  # noqa: ANN001
    """Record a patient's new facts and recompute their documents' dates (extend only)."""
    from retention.service import correct_date_of_birth, record_encounter

    if not encounter and not date_of_birth:
        raise click.UsageError("give --encounter and/or --date-of-birth")
    settings, changed = get_settings(), 0
    if date_of_birth:
        changed += correct_date_of_birth(settings, mrn, date_of_birth.date(),
                                         actor=_actor(user))
    if encounter:
        changed += record_encounter(settings, mrn, encounter.date(), actor=_actor(user))
    click.echo(f"{changed} document date(s) extended")


def _proposal_rows(items) -> list[list]:  # noqa: ANN001
    return [[i.document_id, i.mrn, i.doc_type, i.service_date, i.page_count, i.retain_until,
             getattr(i, "status", "")] for i in items]


COLUMNS = ["document", "mrn", "type", "service date", "pages", "retain until", "status"]


@retention.command("due")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def due(as_json: bool) -> None:
    """What would be proposed for destruction today (a dry run: nothing changes)."""
    from chartvault.cli.reads import record_read
    from retention.service import due_documents

    documents = due_documents(get_settings())
    record_read(get_settings(), "retention_due", documents=len(documents))
    if as_json:
        emit_json({"count": len(documents), "documents": [d.as_dict() for d in documents]})
        return
    table(f"{len(documents)} document(s) due", COLUMNS, _proposal_rows(documents))


@retention.command("propose")
@click.option("--user", help="Who proposes (default: your login).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def propose(user: str | None, as_json: bool) -> None:
    """Make a proposed destruction list of everything due; prints its id."""
    from retention.service import propose as make

    view = make(get_settings(), actor=_actor(user))
    if as_json:
        emit_json(view.as_dict() if view else {"id": None, "items": []})
        return
    if view is None:
        click.echo("nothing is due for destruction")
        return
    _show(view)


def _show(view) -> None:  # noqa: ANN001
    click.echo(f"destruction {view.id}: {view.status}, {len(view.items)} document(s); "
               f"proposed by {view.proposed_by}, approved by {view.approved_by or '-'}, "
               f"confirmed by {view.confirmed_by or '-'}")
    if view.items:
        table("Documents", COLUMNS, _proposal_rows(view.items))
    if view.certificate_key:
        click.echo(f"certificate: {view.certificate_key}")


@retention.command("show")
@click.argument("destruction_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(destruction_id: str, as_json: bool) -> None:
    """Show one destruction list and where each document stands."""
    from chartvault.cli.reads import record_read
    from retention.service import get_destruction

    view = get_destruction(get_settings(), destruction_id)
    record_read(get_settings(), "destruction", destruction_id, documents=len(view.items))
    emit_json(view.as_dict()) if as_json else _show(view)


@retention.command("approve")
@click.argument("destruction_id")
@credential_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def approve(destruction_id: str, user: str | None, password_stdin: bool, token_stdin: bool,
            as_json: bool) -> None:
    """Approve (first call) or confirm (second call, a different person) a list.

    You sign in to approve: --user NAME with your password (--password-stdin or a
    prompt), or --token-stdin with your personal API token. A name alone is refused.
    """
    from chartvault.db import session_scope
    from retention.service import approve as sign

    settings = get_settings()
    with session_scope(settings) as session:
        account = authenticate(session, user, password_stdin, token_stdin)
    view = sign(settings, destruction_id, user=account.name, role=account.role)
    if as_json:
        emit_json(view.as_dict())
    else:
        click.echo(f"destruction {view.id} is now {view.status} (by {account.name})")


@retention.command("cancel")
@click.argument("destruction_id")
@credential_options
@click.option("--reason", required=True, help="Why the list is withdrawn.")
def cancel(destruction_id: str, user: str | None, password_stdin: bool, token_stdin: bool,
           reason: str) -> None:
    """Withdraw a list before it is executed; its documents can be proposed again.

    You sign in as for `approve`.
    """
    from chartvault.db import session_scope
    from retention.service import cancel as withdraw

    settings = get_settings()
    with session_scope(settings) as session:
        account = authenticate(session, user, password_stdin, token_stdin)
    view = withdraw(settings, destruction_id, user=account.name, reason=reason,
                    role=account.role)
    click.echo(f"destruction {view.id} is now {view.status}")


@retention.command("execute")
@click.argument("destruction_id")
@click.option("--user", help="Who executes (default: your login).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def execute(destruction_id: str, user: str | None, as_json: bool) -> None:
    """Destroy a confirmed list (refused before two approvals) and write its certificate."""
    from retention.service import execute as run

    view = run(get_settings(), destruction_id, actor=_actor(user))
    if as_json:
        emit_json(view.as_dict())
        return
    destroyed = sum(1 for i in view.items if i.status == "destroyed")
    waiting = [i for i in view.items if i.status == "waiting"]
    click.echo(f"destruction {view.id}: {destroyed} destroyed, "
               f"{len(view.items) - destroyed} not destroyed; certificate {view.certificate_key}")
    for item in waiting:
        click.echo(f"waiting: {item.document_id}: {item.reason} (retried at the next "
                   "`chartvault retention execute`)")


@retention.command("certificate")
@click.argument("destruction_id")
@click.option("--format", "fmt", type=click.Choice(["pdf", "json"]), default="pdf",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="File to write.")
@click.option("--user", help="Who downloads (default: your login).")
def certificate(destruction_id: str, fmt: str, output: str, user: str | None) -> None:
    """Write the certificate of destruction to a file."""
    from pathlib import Path

    from retention.service import certificate_bytes

    Path(output).write_bytes(certificate_bytes(get_settings(), destruction_id, fmt,
                                               actor=_actor(user)))
    click.echo(output)


@click.group()
def hold() -> None:
    """Legal holds: nothing they cover can be destroyed."""


@hold.command("place")
@click.option("--mrn", "mrns", multiple=True, help="A patient's MRN (repeatable).")
@click.option("--document", "documents", multiple=True, help="A document id (repeatable).")
@click.option("--search", "query", help="A saved search; the documents it matches now.")
@click.option("--case", "case_id", required=True, help="Case or matter id.")
@click.option("--reason", required=True, help="Why the records must be kept.")
@click.option("--user", help="Who places the hold (default: your login).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def place(mrns, documents, query, case_id, reason, user, as_json) -> None:  # noqa: ANN001
    """Place a legal hold on patients, documents or a search's results."""
    from retention.service import place_hold

    view = place_hold(get_settings(), actor=_actor(user), case_id=case_id, reason=reason,
                      mrns=mrns, document_ids=documents, query=query)
    if as_json:
        emit_json(view.as_dict())
    else:
        click.echo(f"hold {view.id} placed: case {view.case_id}, "
                   f"{view.documents_covered} document(s) covered")


@hold.command("release")
@click.argument("hold_id")
@click.option("--reason", required=True, help="Why the hold ends.")
@click.option("--user", help="Who releases it (default: your login).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def release(hold_id: str, reason: str, user: str | None, as_json: bool) -> None:
    """Release a legal hold."""
    from retention.service import release_hold

    view = release_hold(get_settings(), hold_id, actor=_actor(user), reason=reason)
    if as_json:
        emit_json(view.as_dict())
    else:
        click.echo(f"hold {view.id} released")


@hold.command("list")
@click.option("--active", is_flag=True, help="Only holds not yet released.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(active: bool, as_json: bool) -> None:
    """Every legal hold and how many documents it covers."""
    from chartvault.cli.reads import record_read
    from retention.service import list_holds

    holds = list_holds(get_settings(), include_released=not active)
    record_read(get_settings(), "holds", holds=len(holds))
    if as_json:
        emit_json([h.as_dict() for h in holds])
        return
    table("Legal holds", ["id", "case", "mrns", "documents", "covered", "placed", "released"],
          [[h.id, h.case_id, len(h.mrns), len(h.document_ids), h.documents_covered,
            f"{h.placed_by} {h.placed_at:%Y-%m-%d}",
            f"{h.released_by} {h.released_at:%Y-%m-%d}" if h.released_at else ""]
           for h in holds])


COMMANDS = [retention, hold]
