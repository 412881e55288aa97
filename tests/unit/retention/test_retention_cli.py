"""``chartvault retention ...`` and ``chartvault hold ...`` through the real command group."""

from __future__ import annotations

import json
from datetime import date

from click.testing import CliRunner

from chartvault.cli import main


def _run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.output


PASSWORDS = {name: f"Harbor-Quiet-Lantern-{n}{n}81"
             for n, name in enumerate(("alice", "bob", "carol", "dave"))}


def _passwords(settings) -> None:  # noqa: ANN001
    from chartvault.db import session_scope
    from web import accounts

    with session_scope(settings) as session:
        for name, password in PASSWORDS.items():
            accounts.set_password(session, name, password, "test")


def _as(name: str) -> dict:
    """The arguments and standard input that sign NAME in."""
    return {"args": ("--user", name, "--password-stdin"), "stdin": PASSWORDS[name] + "\n"}


def _signed(*args: str, who: str) -> tuple[int, str]:
    creds = _as(who)
    return _run(*args, *creds["args"], stdin=creds["stdin"])


def test_policy_due_propose_approve_execute(settings, seeder, tmp_path) -> None:  # noqa: ANN001
    _passwords(settings)
    doomed = seeder.document("TST000301", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    held = seeder.document("TST000302", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    code, out = _run("retention", "policy", "--json")
    assert code == 0 and len(json.loads(out)["version"]) == 64
    code, out = _run("hold", "place", "--mrn", "TST000302", "--case", "C-9",
                     "--reason", "audit", "--json")
    assert code == 0
    hold = json.loads(out)
    assert hold["documents_covered"] == 1 and hold["active"]
    code, out = _run("retention", "due", "--json")
    assert code == 0 and [d["id"] for d in json.loads(out)["documents"]] == [doomed]
    code, out = _run("retention", "propose", "--json")
    proposal = json.loads(out)["id"]
    assert code == 0 and proposal
    code, out = _run("retention", "execute", proposal)
    assert code == 77 and "not_confirmed" in out
    assert _signed("retention", "approve", proposal, who="alice")[0] == 0
    code, out = _signed("retention", "approve", proposal, who="alice")
    assert code == 77 and "two_person_rule" in out
    code, out = _run("retention", "execute", proposal)
    assert code == 77
    assert _signed("retention", "approve", proposal, who="bob")[0] == 0
    code, out = _run("retention", "execute", proposal, "--user", "bob", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["status"] == "executed"
    assert [(i["id"], i["status"]) for i in result["items"]] == [(doomed, "destroyed")]
    _anchored_after_destruction(settings)
    target = tmp_path / "cert.json"
    code, _ = _run("retention", "certificate", proposal, "--format", "json", "-o", str(target))
    assert code == 0 and json.loads(target.read_text())["records"][0]["document_id"] == doomed
    code, out = _run("hold", "release", hold["id"], "--reason", "done", "--json")
    assert code == 0 and not json.loads(out)["active"]
    code, out = _run("hold", "list", "--json")
    assert code == 0 and json.loads(out)[0]["released_by"]
    assert held  # untouched: still in the catalog (checked in the destruction tests)


def test_nothing_due_and_bad_input(settings, seeder) -> None:  # noqa: ANN001
    _passwords(settings)
    code, out = _run("retention", "propose", "--json")
    assert code == 0 and json.loads(out) == {"id": None, "items": []}
    code, out = _run("hold", "place", "--case", "C", "--reason", "r")
    assert code == 65 and "hold_empty" in out
    code, out = _signed("retention", "approve", "nosuchid", who="alice")
    assert code == 66
    seeder.document("TST000313", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    proposal = json.loads(_run("retention", "propose", "--json")[1])["id"]
    assert _signed("retention", "cancel", proposal, "--reason", "x", who="dave")[0] == 77
    code, out = _signed("retention", "cancel", proposal, "--reason", "redo", who="bob")
    assert code == 0 and "cancelled" in out


def test_apply_command(settings, seeder) -> None:  # noqa: ANN001
    document_id = seeder.document("TST000310", date(2024, 3, 3))
    code, out = _run("retention", "apply", document_id)
    assert code == 0 and "2034-03-03" in out
    seeder.document("TST000311", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    code, out = _run("retention", "apply")
    assert code == 0 and out.startswith("1 stale")


def test_patient_facts_command(settings, seeder) -> None:  # noqa: ANN001
    document_id = seeder.document("TST000312", date(2024, 3, 3))
    assert _run("retention", "apply", document_id)[0] == 0
    code, out = _run("retention", "patient", "TST000312", "--encounter", "2025-01-01")
    assert code == 0 and out.startswith("1 document")
    code, out = _run("retention", "patient", "TST000312", "--date-of-birth", "2020-05-05")
    assert code == 0 and out.startswith("1 document")  # now a minor's chart: 2041-05-05
    code, out = _run("retention", "apply", document_id)
    assert "2041-05-05" in out
    code, out = _run("retention", "patient", "NOSUCH01", "--encounter", "2025-01-01")
    assert code == 66


def _status(settings, destruction_id: str) -> str:  # noqa: ANN001
    from retention.service import get_destruction

    return get_destruction(settings, destruction_id).status


def _token(settings, name: str) -> str:  # noqa: ANN001
    from chartvault.db import session_scope
    from web import accounts

    with session_scope(settings) as session:
        return accounts.new_token(session, name, "test")


def test_two_person_rule_needs_two_authenticated_people(settings, seeder) -> None:  # noqa: ANN001
    """Issue 22 finding 5: `--user NAME` alone approved as anyone; now the CLI signs the
    person in (password on stdin or a personal token) and the audit trail names them."""
    from sqlalchemy import select

    from chartvault.db import session_scope
    from chartvault.models import AuditEvent, User

    _passwords(settings)
    seeder.document("TST000320", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    proposal = json.loads(_run("retention", "propose", "--json")[1])["id"]
    # a name alone, a wrong password, a token that is not theirs: refused, nothing approved
    code, out = _run("retention", "approve", proposal, "--user", "alice")
    assert code == 77 and "not_authenticated" in out
    code, out = _run("retention", "approve", proposal, "--user", "alice", "--password-stdin",
                     stdin="guess-guess-guess\n")
    assert code == 77 and "not_authenticated" in out
    bobs = _token(settings, "bob")
    code, out = _run("retention", "approve", proposal, "--user", "alice", "--token-stdin",
                     stdin=bobs + "\n")
    assert code == 77 and "not_authenticated" in out
    assert _status(settings, proposal) == "proposed"
    # alice approves with her password; alice again with her token is still alice
    assert _signed("retention", "approve", proposal, who="alice")[0] == 0
    alices = _token(settings, "alice")
    code, out = _run("retention", "approve", proposal, "--token-stdin", stdin=alices + "\n")
    assert code == 77 and "two_person_rule" in out
    # a disabled records manager cannot confirm, even with the right password
    with session_scope(settings) as session:
        session.scalar(select(User).where(User.name == "bob")).disabled = True
    code, out = _signed("retention", "approve", proposal, who="bob")
    assert code == 77 and "not_authenticated" in out
    with session_scope(settings) as session:
        session.scalar(select(User).where(User.name == "bob")).disabled = False
    code, out = _run("retention", "approve", proposal, "--token-stdin", stdin=bobs + "\n")
    assert code == 0 and "confirmed (by bob)" in out
    with session_scope(settings) as session:
        events = [(e.actor, e.action) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(
                ("login", "login_failed", "destruction_approve", "destruction_confirm")))
            .order_by(AuditEvent.seq))]
    assert [e for e in events if e[1].startswith("destruction")] == [
        ("alice", "destruction_approve"), ("bob", "destruction_confirm")]
    assert ("cli:alice", "login_failed") in events and ("cli:bob", "login") in events


def test_approve_with_no_terminal_and_no_credentials_never_prompts(settings, seeder) -> None:  # noqa: ANN001
    _passwords(settings)
    seeder.document("TST000321", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    proposal = json.loads(_run("retention", "propose", "--json")[1])["id"]
    code, out = _run("retention", "approve", proposal)
    assert code == 77 and "say who you are" in out
    code, out = _run("retention", "approve", proposal, "--token-stdin", "--password-stdin",
                     stdin="x\n")
    assert code == 77
    assert _status(settings, proposal) == "proposed"


def _anchored_after_destruction(settings) -> None:  # noqa: ANN001
    """Issue 22 finding 7: a destruction's events are bound by an anchor at once."""
    from sqlalchemy import select

    from chartvault.audit_tasks import verify_all
    from chartvault.db import session_scope
    from chartvault.models import AuditEvent

    with session_scope(settings) as session:
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    last_destroy = max(i for i, a in enumerate(actions) if a.startswith("destr"))
    assert "audit_anchor" in actions[last_destroy:]
    assert verify_all(settings).ok
