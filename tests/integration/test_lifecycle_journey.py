"""The records lifecycle as a records office lives it, through the real commands only.

A back-scanned stack of two patients' charts (two cover sheets, date of service
1990-01-15) is taken in by ``chartvault ingest --wait``; the first patient is put
under legal hold; ``retention due`` lists the second chart at once (its policy date,
10 years after the encounter, passed in 2000); two records managers approve and
the list is executed. Then every object version left in the store is read back
(through the store interface, and on RGW with a raw S3 client too), PDFs' text
layers extracted and images OCR'd: no word of the destroyed chart remains, stack
included, while the held chart is intact and searchable; on the embedded defaults
no file under CHARTVAULT_HOME holds one of its words as plain bytes either.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(_ROOT))

from ingest.barcodes import CoverSheet  # noqa: E402
from tests.support.ingest_stacks import write_stack  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CLI = [sys.executable, "-m", "chartvault"]
HELD = CoverSheet(mrn="TST771001", doc_type="discharge_summary",
                  patient_name="TESTPATIENT, Heldia", date_of_birth=date(1950, 3, 1))
DOOMED = CoverSheet(mrn="TST771002", doc_type="progress_note",
                    patient_name="TESTPATIENT, Doomas", date_of_birth=date(1951, 4, 2))
PASSWORD = "Quiet-Archive-Lantern-4821"
_WORD = re.compile(r"[A-Za-z]{5,}")
HEADER_LINES = 4  # hospital, type and page, patient and MRN, birth and encounter


def run_cli(*args: str, stdin: str | None = None, timeout: float = 900
            ) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=dict(os.environ), capture_output=True, text=True,
                          input=stdin, timeout=timeout)


def ok(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = run_cli(*args, stdin=stdin)
    assert done.returncode == 0, f"chartvault {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done


def _words(texts) -> set[str]:  # noqa: ANN001
    return {w.lower() for text in texts for w in _WORD.findall(text)}


def _body_words(texts) -> set[str]:  # noqa: ANN001
    """The words of the clinical text, not of the header (type, name, MRN are catalog
    metadata the tombstone and the certificate keep by design)."""
    return _words("\n".join(text.splitlines()[HEADER_LINES:]) for text in texts)


def _store_env(monkeypatch, cv_env, request) -> str:  # noqa: ANN001
    """The store the journey runs on: the embedded default or the real Ceph RGW."""
    kind = request.param
    monkeypatch.setenv("CHARTVAULT_INTAKE_LOCK_HOURS", "0")
    if kind == "rgw":
        rgw = request.getfixturevalue("rgw")
        for name, value in {"OBJECT_STORE": "s3", "S3_ENDPOINT": rgw.url,
                            "S3_ACCESS_KEY": rgw.access_key, "S3_SECRET_KEY": rgw.secret_key,
                            "S3_REGION": rgw.region,
                            "S3_BUCKET": f"cv-journey-{uuid.uuid4().hex[:10]}"}.items():
            monkeypatch.setenv(f"CHARTVAULT_{name}", value)
    from chartvault.db import dispose_all
    from chartvault.settings import reset_settings_cache

    reset_settings_cache()
    dispose_all()
    return kind


@pytest.fixture(params=["filesystem", "rgw"])
def store_kind(request, cv_env, monkeypatch):  # noqa: ANN001, ANN201
    return _store_env(monkeypatch, cv_env, request)


def _text_of(body: bytes, content_type: str, workdir: Path) -> str:
    """What a reader can get out of a stored object: its bytes as text, a PDF's text
    layer, and the OCR of every image (a PDF's pages rendered, or an image itself)."""
    import pytesseract
    from PIL import Image
    from pypdf import PdfReader

    text = body.decode("latin-1")
    if body.startswith(b"%PDF"):
        reader = PdfReader(io.BytesIO(body))
        text += "\n".join(page.extract_text() or "" for page in reader.pages)
        pdf = workdir / "object.pdf"
        pdf.write_bytes(body)
        subprocess.run(["pdftoppm", "-r", "150", "-gray", "-png", str(pdf),
                        str(workdir / "render")], check=True, timeout=300)
        for png in sorted(workdir.glob("render*.png")):
            text += "\n" + pytesseract.image_to_string(Image.open(png))
            png.unlink()
    elif content_type.startswith("image/"):
        text += "\n" + pytesseract.image_to_string(Image.open(io.BytesIO(body)))
    return text.lower()


def test_back_scanned_stack_hold_due_destroy_leaves_nothing(store_kind, settings, tmp_path
                                                             ) -> None:  # noqa: ANN001
    from archive import open_store
    from chartvault.policy import load_policy

    texts = write_stack([("cover", HELD, 1), ("cover", DOOMED, 3)], tmp_path / "stack.pdf",
                        dpi=200)
    held_words, doomed_words = _words(texts[0]), _words(texts[1])
    distinct = _body_words(texts[1]) - held_words
    assert len(distinct) >= 4, distinct

    for name in ("rm-alice", "rm-bob"):
        ok("users", "add", name, "--role", "records_manager", "--password-stdin",
           stdin=f"{PASSWORD}\n")
    ingested = json.loads(ok("ingest", str(tmp_path / "stack.pdf"), "--service-date",
                             "1990-01-15", "--wait", "--json").stdout)
    docs = {d["mrn"]: d for d in ingested["documents"]}
    assert set(docs) == {HELD.mrn, DOOMED.mrn}, ingested
    assert all(d["status"] == "indexed" for d in docs.values()), ingested
    held_id, doomed_id = docs[HELD.mrn]["id"], docs[DOOMED.mrn]["id"]

    # Intake already gave each record its policy's own date (not scan date + 10 years).
    shown = json.loads(ok("show", doomed_id, "--json").stdout)
    assert shown["retain_until"] == "2000-01-15", shown
    assert shown["retention"]["basis"] == "policy"
    assert shown["retention"]["trigger_date"] == "1990-01-15"
    assert shown["retention"]["locked_until"] is None  # ended before it was scanned
    assert shown["retention"]["policy_version"] == load_policy(settings).version

    ok("hold", "place", "--mrn", HELD.mrn, "--case", "JOURNEY-1", "--reason", "litigation")
    due = json.loads(ok("retention", "due", "--json").stdout)
    due_ids = {d["id"] for d in due["documents"]}
    assert doomed_id in due_ids and held_id not in due_ids

    proposal = json.loads(ok("retention", "propose", "--json").stdout)
    for name in ("rm-alice", "rm-bob"):  # two people, each signed in
        ok("retention", "approve", proposal["id"], "--user", name, "--password-stdin",
           stdin=f"{PASSWORD}\n")
    done = json.loads(ok("retention", "execute", proposal["id"], "--json").stdout)
    assert done["status"] == "executed", done
    assert [i["status"] for i in done["items"]] == ["destroyed"], done
    ok("retention", "certificate", proposal["id"], "--format", "json", "--output",
       str(tmp_path / "certificate.json"))
    certificate = json.loads((tmp_path / "certificate.json").read_text())
    destroyed_keys = {o["key"] for r in certificate["records"] for o in r["objects"]}
    assert any("/original-" in k for k in destroyed_keys), certificate
    assert all(len(o["sha256"]) == 64 for r in certificate["records"] for o in r["objects"])

    # Every object version left, read back through the store interface.
    store = open_store(settings)
    left = list(store.list_versions(""))
    assert left, "the held chart and the certificates must remain"
    seen_held = False
    for info in left:
        with store.get(info.key, info.version_id) as stream:
            text = _text_of(stream.read(), info.content_type, tmp_path)
        found = sorted(w for w in distinct if w in text)
        assert not found, f"{info.key} ({info.version_id}) still holds {found}"
        seen_held |= len([w for w in held_words - doomed_words if w in text]) >= 2
    assert seen_held, "the checker read no word of the held chart: it proves nothing"
    assert not any(i.key.startswith("batches/") for i in left), "the scan stack survived"

    if store_kind == "rgw":  # and as a raw S3 client sees the bucket
        from minio import Minio

        client = Minio(settings.s3_endpoint.split("://", 1)[-1],
                       access_key=settings.s3_access_key, secret_key=settings.s3_secret_key,
                       secure=False, region=settings.s3_region)
        raw = list(client.list_objects(settings.s3_bucket, recursive=True,
                                       include_version=True))
        assert {(o.object_name, o.version_id) for o in raw} == {
            (i.key, i.version_id) for i in left}
    else:  # no plaintext anywhere under CHARTVAULT_HOME
        for path in settings.home.rglob("*"):
            if path.is_file():
                data = path.read_bytes().lower()
                found = sorted(w for w in distinct if w.encode() in data)
                assert not found, f"{path} holds {found} as plain bytes"

    # The held chart is intact and searchable; the checks of the whole archive pass.
    word = sorted(held_words - doomed_words)[0]
    hits = json.loads(ok("search", word, "--json").stdout)
    assert {h["document_id"] for h in hits["hits"]} == {held_id}
    gone = json.loads(ok("search", sorted(distinct)[0], "--json").stdout)
    assert gone["hits"] == []
    ok("verify")
    ok("search-check")
    ok("audit", "verify")


def test_last_years_chart_is_locked_until_its_policy_date(store_kind, settings, tmp_path
                                                         ) -> None:  # noqa: ANN001
    from archive import open_store
    from chartvault.synthetic import ChartSpec, make_chart

    last_year = date.today().replace(month=3, day=4) - timedelta(days=365)
    spec = ChartSpec(mrn="TST771003", patient_name="TESTPATIENT, Recens",
                     date_of_birth=date(1960, 1, 1), doc_type="progress_note",
                     service_date=last_year, pages=1, paragraphs=1, seed=9)
    chart = make_chart(spec, tmp_path / "chart.pdf", fmt="pdf", dpi=150)
    ingested = json.loads(ok("ingest", str(chart.path), "--mrn", spec.mrn, "--type",
                             "progress_note", "--service-date", last_year.isoformat(),
                             "--wait", "--json").stdout)
    document_id = ingested["documents"][0]["id"]
    policy_date = last_year.replace(year=last_year.year + 10)
    shown = json.loads(ok("show", document_id, "--json").stdout)
    assert shown["retain_until"] == policy_date.isoformat()
    assert shown["retention"]["locked_until"] == policy_date.isoformat()
    versions = list(open_store(settings).list_versions(f"documents/{document_id}/"))
    assert len(versions) >= 4
    for info in versions:  # the original and every derived file, in the store itself
        assert info.retain_until is not None
        assert info.retain_until.date() == policy_date, info
