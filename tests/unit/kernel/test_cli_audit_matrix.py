"""Issue 22 finding 6, the command line: every command that shows patient data leaves
exactly one audit event per run; every command is in one of the two tables below, so a
new command cannot escape the question."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from chartvault.cli import main
from chartvault.db import session_scope
from chartvault.models import AuditEvent, Destruction
from tests.support.access_seed import MRN, seed_patient

# command -> (arguments, the events (action, object_type) one run leaves)
READS = {
    "audit access": (["{mrn}"], [("access_report", "patient")]),
    "audit break-glass": ([], [("audit_view", "break_glass")]),
    "audit export": ([], [("audit_export", "audit")]),
    "hold list": ([], [("view", "holds")]),
    "quarantine list": ([], [("view", "quarantine")]),
    "retention due": ([], [("view", "retention_due")]),
    "retention show": (["{destruction_id}"], [("view", "destruction")]),
    "search": (["metformin"], [("search", "query")]),
    "show": (["{document_id}"], [("view", "document")]),
    "status": (["{batch_id}"], [("view", "batch")]),
}
# commands that show no patient data (their writes are audited by their own tests)
OTHERS = {
    "audit anchor", "audit restrict", "audit review", "audit verify",  # the trail itself
    "beat", "serve", "worker", "demo", "watch",  # processes
    "coversheet", "ocr",  # a local file in, nothing stored read
    "hold place", "hold release", "ingest", "quarantine discard", "quarantine release",
    "reindex", "retention apply", "retention approve", "retention cancel",
    "retention certificate", "retention execute", "retention patient", "retention policy",
    "retention propose", "retention recompute", "search-check", "verify",
    "seal-store",  # writes and checks (recompute audits itself: retention_recompute)
    "users add", "users disable", "users enable", "users list", "users reset-password",
    "users revoke-tokens", "users set-role", "users token",  # accounts (audited in their tests)
}


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix}{name} ")
        else:
            names.append(prefix + name)
    return names


def test_every_command_is_in_a_table() -> None:
    commands = set(_commands(main))
    assert commands == set(READS) | OTHERS, (commands ^ (set(READS) | OTHERS))
    assert not set(READS) & OTHERS


def _events(settings, after: int) -> list[tuple[str, str]]:  # noqa: ANN001
    with session_scope(settings) as session:
        return [(e.action, e.object_type) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq))]


@pytest.mark.parametrize("command", sorted(READS))
def test_a_read_command_leaves_one_event(settings, command: str) -> None:  # noqa: ANN001
    seeded = seed_patient(settings)
    with session_scope(settings) as session:
        session.add(Destruction(id="d" * 32, proposed_by="scheduler"))
    values = {"mrn": MRN, "document_id": seeded.open_id, "batch_id": seeded.batch_id,
              "destruction_id": "d" * 32}
    args, expected = READS[command]
    before = len(_events(settings, 0))
    result = CliRunner().invoke(main, [*command.split(), *(a.format(**values) for a in args)])
    assert result.exit_code == 0, result.output
    got = _events(settings, 0)[before:]
    assert got == expected
