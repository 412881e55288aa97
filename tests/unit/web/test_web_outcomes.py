"""Every file of a batch is shown with its outcome (issue 21): the batch page, the API
batch status and `chartvault status`. On main a failed write, a duplicate (even one filed
under another MRN) and a released file were missing or miscounted."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from chartvault.synthetic import ChartSpec, make_chart


@pytest.fixture
def chart(tmp_path: Path) -> bytes:
    spec = ChartSpec(mrn="TST000777", patient_name="TESTPATIENT, Outcome O.",
                     date_of_birth=date(1980, 1, 1), doc_type="progress_notes",
                     service_date=date(2024, 1, 2), pages=1, paragraphs=1, seed=77)
    return make_chart(spec, tmp_path / "c.pdf", fmt="pdf", dpi=100).path.read_bytes()


def _upload(client, files: list[tuple[bytes, str]], **fields: str) -> str:  # noqa: ANN001
    data = {"files": [(io.BytesIO(body), name) for body, name in files], **fields}
    with client.post("/upload", data=data, content_type="multipart/form-data",
                     headers={"Accept": "application/json"}) as r:
        assert r.status_code == 201, r.data
        return r.get_json()["batch_id"]


def _results(client, batch_id: str) -> dict[str, dict]:  # noqa: ANN001
    with client.get(f"/api/batches/{batch_id}") as r:
        assert r.status_code == 200
        return {f["filename"]: f for f in r.get_json()["results"]}


def _page(client, batch_id: str) -> str:  # noqa: ANN001
    with client.get(f"/batches/{batch_id}") as r:
        assert r.status_code == 200
        return r.get_data(as_text=True)


def _status(batch_id: str) -> dict:
    from chartvault.cli import main

    done = CliRunner().invoke(main, ["status", batch_id, "--json"])
    assert done.exit_code == 0, done.output
    return {f["filename"]: f for f in json.loads(done.output)["results"]}


def test_a_write_the_store_refuses_is_shown_as_failed(as_role, settings, chart, queued):
    # a real fault of the real store: the folder every original goes into is a file
    objects = settings.store_path / "objects"
    objects.mkdir(parents=True, exist_ok=True)
    (objects / "documents").write_bytes(b"not a folder")
    client = as_role("clerk")
    batch_id = _upload(client, [(chart, "ward-3.pdf")], mrn="TST000777",
                       type="progress_notes")
    assert queued == []
    result = _results(client, batch_id)["ward-3.pdf"]
    assert result["outcome"] == "failed" and result["reason"] and result["code"]
    page = _page(client, batch_id)
    assert "ward-3.pdf" in page and "status-failed" in page
    assert "All documents finished" not in page and "1 failed" in page
    assert _status(batch_id)["ward-3.pdf"]["outcome"] == "failed"


def test_a_duplicate_under_another_mrn_is_shown_with_a_warning(as_role, chart, queued):
    client = as_role("clerk")
    first = _upload(client, [(chart, "first.pdf")], mrn="TST000777", type="progress_notes")
    [document_id] = queued
    again = _upload(client, [(chart, "again.pdf")], mrn="TST000999", type="progress_notes")
    result = _results(client, again)["again.pdf"]
    assert result["outcome"] == "duplicate" and result["duplicate_of"] == document_id
    assert result["warning"] and "MRN TST000999" in result["reason"]
    assert "filed under MRN TST000777" in result["reason"]
    page = _page(client, again)
    assert "again.pdf" in page and "Check the filing" in page and document_id[:12] in page
    assert _status(again)["again.pdf"]["warning"]
    same = _upload(client, [(chart, "same.pdf")], mrn="TST000777", type="progress_notes")
    assert not _results(client, same)["same.pdf"]["warning"]  # same filing: no warning
    assert _results(client, first)["first.pdf"]["outcome"] in ("queued", "received")


def test_quarantine_speaks_of_the_uploaded_file_to_a_web_user(as_role, chart, queued):
    client = as_role("clerk")
    batch_id = _upload(client, [(b"", "empty-scan.pdf"), (chart, "no-mrn.pdf")])
    results = _results(client, batch_id)
    empty, no_mrn = results["empty-scan.pdf"], results["no-mrn.pdf"]
    assert empty["code"] == "empty_file" and "empty-scan.pdf" in empty["reason"]
    assert ".upload" not in empty["reason"]  # main: "00001.upload is empty"
    assert no_mrn["code"] == "missing_mrn" and "--mrn" not in no_mrn["reason"]
    assert "MRN field" in no_mrn["reason"]
    page = _page(client, batch_id)
    assert ".upload" not in page and "pass --mrn" not in page


def test_release_is_offered_only_where_it_can_succeed(as_role, chart, queued, settings):
    from ingest.quarantine import list_entries

    client = as_role("clerk")
    batch_id = _upload(client, [(b"%PDF-1.4\n%garbage", "broken.pdf"), (chart, "no-mrn.pdf")])
    entries = {e["filename"]: e for e in list_entries(settings, batch_id)}
    assert not entries["broken.pdf"]["releasable"]  # corrupt bytes: a release fails again
    assert entries["no-mrn.pdf"]["releasable"]
    page = _page(client, batch_id)
    release_forms = page.count(f"/quarantine/{entries['no-mrn.pdf']['id']}/release")
    assert release_forms >= 1
    assert f"/quarantine/{entries['broken.pdf']['id']}/release" not in page
    with client.get("/quarantine") as r:  # the quarantine page too
        listing = r.get_data(as_text=True)
    assert f"/quarantine/{entries['no-mrn.pdf']['id']}/release" in listing
    assert f"/quarantine/{entries['broken.pdf']['id']}/release" not in listing
    with client.post(f"/quarantine/{entries['broken.pdf']['id']}/release",
                     data={"mrn": "TST000777", "type": "progress_notes"},
                     follow_redirects=True) as r:  # a hand-made request is refused, plainly
        assert "refused for its content" in r.get_data(as_text=True)
    assert entries["broken.pdf"]["id"] in {e["id"] for e in list_entries(settings, batch_id)}


def test_a_released_file_is_no_longer_counted_as_quarantined(as_role, chart, queued, settings):
    from ingest.quarantine import list_entries

    client = as_role("clerk")
    batch_id = _upload(client, [(chart, "no-mrn.pdf")])
    [entry] = list_entries(settings, batch_id)
    with client.get(f"/api/batches/{batch_id}") as r:
        assert r.get_json()["counts"]["quarantined"] == 1
    with client.post(f"/quarantine/{entry['id']}/release",
                     data={"mrn": "TST000777", "type": "progress_notes"}) as r:
        assert r.status_code in (200, 302, 303), r.data
    with client.get(f"/api/batches/{batch_id}") as r:
        body = r.get_json()
    assert body["counts"]["quarantined"] == 0
    assert [f["outcome"] for f in body["results"]] in (["queued"], ["received"])
