"""The logs of a full run (CLI and worker, PostgreSQL + Redis) hold no patient name,
MRN, date of birth or OCR text of the synthetic patients."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from chartvault.synthetic import FACILITY, fake_patients, make_chart, spec_for
from tests.support.faults import cli, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _secrets(patients, charts) -> set[str]:  # noqa: ANN001
    found = set()
    for patient in patients:
        surname, given = patient.name.split(", ")
        found |= {patient.name, patient.mrn, surname, given.split()[0],
                  patient.date_of_birth.isoformat(),
                  patient.date_of_birth.strftime("%m/%d/%Y")}
    for chart in charts:
        for text in chart.page_texts:
            found |= {w.lower() for w in re.findall(r"[A-Za-z]{9,}", text)}
    return found - {w.lower() for w in FACILITY.split()}  # the (fake) hospital is no PHI


def test_no_phi_in_the_logs_of_a_full_run(server_env, workers, tmp_path: Path) -> None:  # noqa: ANN001
    from chartvault.catalog import statuses
    from chartvault.db import session_scope
    from chartvault.settings import get_settings

    patients = fake_patients(3, seed=8080)
    folder = tmp_path / "scans"
    folder.mkdir()
    charts = [make_chart(spec_for(p, seed=500 + i, pages=2, paragraphs=1),
                         folder / f"chart-{i}.pdf", fmt="pdf", dpi=150)
              for i, p in enumerate(patients)]
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> no end")
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["filename", "mrn", "document_type", "patient_name", "date_of_birth"])
        for i, p in enumerate(patients):
            writer.writerow([f"chart-{i}.pdf", p.mrn, "progress_notes", p.name,
                             p.date_of_birth.isoformat()])
        writer.writerow(["broken.pdf", patients[0].mrn, "consent", patients[0].name,
                         patients[0].date_of_birth.isoformat()])
    env = {**server_env, "CHARTVAULT_LOG_LEVEL": "debug"}
    worker = workers(env)
    stderr = []

    def run(*args: str) -> str:
        done = cli(*args, env=env)
        stderr.append(done.stderr)
        return done.stdout

    report = json.loads(run("ingest", str(folder), "--manifest", str(manifest), "--json"))
    ids = [d["id"] for d in report["documents"] if d["id"]]
    assert len(ids) == 3, report

    def all_done() -> bool:
        with session_scope(get_settings()) as session:
            return set(statuses(session, ids).values()) == {"indexed"}

    wait_until(all_done, 150, "the charts to be indexed")
    assert json.loads(run("show", ids[0], "--json"))["status"] == "indexed"
    word = sorted(re.findall(r"[a-z]{9,}", charts[0].page_texts[0].lower()))[0]
    assert json.loads(run("search", word, "--json"))["total"] >= 1
    run("search", patients[1].mrn, "--json")
    run("audit", "access", patients[0].mrn)
    run("audit", "verify")
    run("audit", "export", "--mrn", patients[2].mrn, "--format", "json")
    run("ingest", str(folder / "chart-0.pdf"), "--mrn", "not an mrn", "--json")
    worker.stop()

    logs = "\n".join(stderr) + worker.log.read_text(errors="replace")
    assert len(logs.splitlines()) > 20, "expected a real amount of logging"
    lowered = logs.lower()
    leaked = sorted(s for s in _secrets(patients, charts) if s.lower() in lowered)
    assert leaked == [], f"PHI in the logs: {leaked}"
