"""The intake commands: coversheet, ingest --manifest, status, quarantine, watch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pdf2image import convert_from_path

from chartvault.cli import main
from ingest.barcodes import find_separator

# Enqueuing in process on the embedded queue goes through kombu's SQLAlchemy
# transport, whose models use the ``noload`` strategy SQLAlchemy 2.1 deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy:DeprecationWarning")


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_coversheet_command(cv_env, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "cover.pdf"
    done = invoke("coversheet", "--mrn", "tst000123", "--type", "Discharge Summary",
                  "--name", "TESTPATIENT, Alice", "--dob", "1970-01-02", "--output", str(out))
    assert done.exit_code == 0, done.output
    found = find_separator(convert_from_path(out, dpi=200, grayscale=True)[0], ())
    assert found.cover.mrn == "TST000123" and found.cover.doc_type == "discharge_summary"
    bad = CliRunner().invoke(main, ["coversheet", "--mrn", "no!", "--type", "consent",
                                    "--output", str(out)])
    assert bad.exit_code == 65 and "bad_mrn" in bad.output


def test_ingest_with_manifest_status_and_quarantine(cv_env, tmp_path: Path,  # noqa: ANN001
                                                    small_chart) -> None:
    chart = small_chart("a.pdf")
    other = small_chart("b.pdf", seed=5)
    broken = tmp_path / "broken.csv"
    broken.write_text("filename,type\na.pdf,consent\n")
    refused = CliRunner().invoke(main, ["ingest", str(chart), "--manifest", str(broken)])
    assert refused.exit_code == 65 and "manifest_missing_column" in refused.output

    manifest = tmp_path / "m.csv"
    manifest.write_text("filename,mrn,document_type\na.pdf,TST000001,consent\n")
    done = invoke("ingest", str(chart), str(other), "--manifest", str(manifest), "--json")
    assert done.exit_code == 1  # b.pdf has no MRN: quarantined
    report = json.loads(done.output)
    by_name = {d["filename"]: d for d in report["documents"]}
    assert by_name["a.pdf"]["status"] == "queued"
    assert by_name["b.pdf"]["code"] == "missing_mrn"
    entry = by_name["b.pdf"]["quarantine_id"]

    status = json.loads(invoke("status", report["batch_id"], "--json").output)
    assert [f["status"] for f in status["files"]] == ["archived", "quarantined"]
    listed = json.loads(invoke("quarantine", "list", "--json").output)["entries"]
    assert [e["id"] for e in listed] == [entry]
    released = invoke("quarantine", "release", entry, "--mrn", "TST000002", "--type", "consent")
    assert released.exit_code == 0 and "queued" in released.output
    assert json.loads(invoke("quarantine", "list", "--json").output)["entries"] == []
    again = invoke("ingest", str(chart), "--mrn", "TST000001")  # the table, for people
    assert again.exit_code == 0 and "1 duplicate" in again.output
    text = invoke("status", report["batch_id"]).output
    assert "Files" in text and "b.pdf" in text


def test_watch_once(cv_env, tmp_path: Path, small_chart) -> None:  # noqa: ANN001
    hot = tmp_path / "hot"
    hot.mkdir()
    (hot / "drop").mkdir()
    small_chart("a.pdf").rename(hot / "drop" / "a.pdf")
    (hot / "drop" / "m.csv").write_text("filename,mrn,document_type\na.pdf,TST000001,consent\n")
    done = invoke("watch", str(hot), "--once", "--interval", "0.1")
    assert done.exit_code == 0 and "drop -> done" in done.output


def test_ingest_imports_no_page_reading_but_a_worker_does(cv_env) -> None:  # noqa: ANN001
    """`chartvault ingest` starts for one batch: what only the worker's page tasks use
    (numpy, pdf2image, the OCR pipeline, the search index) is not imported before the
    intake starts, and the worker imports it before it forks its pool processes."""
    import subprocess
    import sys

    heavy = ("numpy", "pdf2image", "ocr.page", "ocr.pipeline", "search")
    code = ("import sys\nimport chartvault.cli\nfrom archive import open_store\n"
            "from ingest.service import ingest_files\nfrom ocr.tasks import enqueue_document\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
            "from celery.signals import worker_init\nworker_init.send(sender=None)\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["[]", str(sorted(heavy))]
