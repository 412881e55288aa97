"""`chartvault show` and `search` go through the access rules (break the glass, accounting)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select

from chartvault.cli import main
from chartvault.db import session_scope
from chartvault.models import AuditEvent, Batch, Document, Patient


def _restricted_document(settings) -> str:  # noqa: ANN001
    with session_scope(settings) as session:
        session.add(Patient(mrn="TST000321", name="TESTPATIENT, Eve"))
        session.add(Batch(id="b1", created_by="tester", source="cli"))
        session.flush()
        session.add(Document(id="d1", batch_id="b1", mrn="TST000321", doc_type="progress_notes",
                             filename="x.pdf", mime="application/pdf", original_key="k",
                             original_version="v", sha256="0" * 64, size=1, page_count=0,
                             status="indexed", restricted=True))
    return "d1"


def test_show_of_a_restricted_document_needs_a_reason(settings) -> None:  # noqa: ANN001
    document_id = _restricted_document(settings)
    refused = CliRunner().invoke(main, ["show", document_id])
    assert refused.exit_code == 77, refused.output
    assert "break_glass_reason_required" in refused.output
    opened = CliRunner().invoke(main, ["show", document_id, "--json", "--reason",
                                       "covering physician, patient in ED"])
    assert opened.exit_code == 0, opened.output
    with session_scope(settings) as session:
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert "break_glass" in actions and actions[-1] == "view"


def test_search_is_recorded_with_the_query(settings) -> None:  # noqa: ANN001
    result = CliRunner().invoke(main, ["search", "metformin", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total_estimated"] is False  # nothing indexed: exact
    with session_scope(settings) as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event.action == "search" and event.detail["query"] == "metformin"
