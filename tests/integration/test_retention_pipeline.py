"""The real path: a hold placed on a patient BEFORE intake covers the document that
arrives later, and the policy date reaches every stored version, through CLI intake,
a real Celery worker, OCR and the ``retention.apply`` task sent by the finish step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date

import pytest

from chartvault.synthetic import ChartSpec, make_chart

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "chartvault"]


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=dict(os.environ), capture_output=True, text=True,
                          timeout=timeout)


def test_intake_applies_policy_dates_and_earlier_holds(settings, tmp_path) -> None:  # noqa: ANN001
    from archive import keys, open_store
    from chartvault import workers
    from chartvault.db import session_scope
    from chartvault.models import Document, StoredObject
    from chartvault.policy import load_policy

    placed = run_cli("hold", "place", "--mrn", "TST000901", "--case", "PIPE-1",
                     "--reason", "pending litigation", "--json")
    assert placed.returncode == 0, placed.stderr
    assert json.loads(placed.stdout)["documents_covered"] == 0
    spec = ChartSpec(mrn="TST000901", patient_name="TESTPATIENT, Bob", doc_type="progress_note",
                     date_of_birth=date(2014, 4, 5), service_date=date(2020, 2, 3), pages=1,
                     paragraphs=1, seed=5)
    chart = make_chart(spec, tmp_path / "chart.pdf", fmt="pdf", dpi=150)
    done = run_cli("ingest", str(chart.path), "--mrn", "TST000901", "--type", "progress_note",
                   "--service-date", "2020-02-03", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    document_id = json.loads(done.stdout)["documents"][0]["id"]

    # `ingest --wait` stops its worker once the document is indexed; the
    # retention.apply message it left behind is picked up by the next worker.
    worker = workers.start_worker(settings, concurrency=1)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with session_scope(settings) as session:
                doc = session.get(Document, document_id)
                if doc.policy_version and doc.hold:
                    break
            time.sleep(0.5)
    finally:
        workers.stop(worker)
    assert doc.policy_version == load_policy(settings).version
    assert doc.hold
    # no date of birth was given at intake: the adult rule, 10 years after the encounter,
    # or the 10-year intake default if later -- never earlier than either
    assert doc.retain_until >= date(2030, 2, 3)
    store = open_store(settings)
    versions = list(store.list_versions(keys.document_prefix(document_id)))
    assert len(versions) >= 4  # original, searchable PDF, page PDF, words, thumbnails
    assert all(v.legal_hold for v in versions)
    with session_scope(settings) as session:
        rows = session.query(StoredObject).filter_by(document_id=document_id).all()
        assert rows and all(r.legal_hold for r in rows)
    listed = run_cli("hold", "list", "--json")
    assert json.loads(listed.stdout)[0]["documents_covered"] == 1
