"""``chartvault retention ...`` and ``chartvault hold ...`` through the real command group."""

from __future__ import annotations

import json
from datetime import date

from click.testing import CliRunner

from chartvault.cli import main


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_policy_due_propose_approve_execute(settings, seeder, tmp_path) -> None:  # noqa: ANN001
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
    assert _run("retention", "approve", proposal, "--user", "alice")[0] == 0
    code, out = _run("retention", "approve", proposal, "--user", "alice")
    assert code == 77 and "two_person_rule" in out
    code, out = _run("retention", "execute", proposal)
    assert code == 77
    assert _run("retention", "approve", proposal, "--user", "bob")[0] == 0
    code, out = _run("retention", "execute", proposal, "--user", "bob", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["status"] == "executed"
    assert [(i["id"], i["status"]) for i in result["items"]] == [(doomed, "destroyed")]
    target = tmp_path / "cert.json"
    code, _ = _run("retention", "certificate", proposal, "--format", "json", "-o", str(target))
    assert code == 0 and json.loads(target.read_text())["records"][0]["document_id"] == doomed
    code, out = _run("hold", "release", hold["id"], "--reason", "done", "--json")
    assert code == 0 and not json.loads(out)["active"]
    code, out = _run("hold", "list", "--json")
    assert code == 0 and json.loads(out)[0]["released_by"]
    assert held  # untouched: still in the catalog (checked in the destruction tests)


def test_nothing_due_and_bad_input(settings, seeder) -> None:  # noqa: ANN001
    code, out = _run("retention", "propose", "--json")
    assert code == 0 and json.loads(out) == {"id": None, "items": []}
    code, out = _run("hold", "place", "--case", "C", "--reason", "r")
    assert code == 65 and "hold_empty" in out
    code, out = _run("retention", "approve", "nosuchid", "--user", "alice")
    assert code == 66
    seeder.document("TST000313", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    proposal = json.loads(_run("retention", "propose", "--json")[1])["id"]
    assert _run("retention", "cancel", proposal, "--user", "dave", "--reason", "x")[0] == 77
    code, out = _run("retention", "cancel", proposal, "--user", "bob", "--reason", "redo")
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
