"""Pages and API over a real catalog, store and index: upload, views, audit, XSS."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import select

from chartvault.db import session_scope
from chartvault.models import AuditEvent
from tests.support.hostile import insert_hostile_document

PAYLOAD = '<script>alert(1)</script> "><img src=x onerror=alert(2)> xsscanary'
RAW = ("<script>alert(1)", "<img src=x onerror")


def _audit(settings, action: str) -> list[AuditEvent]:  # noqa: ANN001
    with session_scope(settings) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.seq)))


@pytest.fixture
def hostile(settings) -> str:  # noqa: ANN001
    """An indexed document whose OCR text, file name, error and patient name carry markup."""
    return insert_hostile_document(settings, PAYLOAD)


def test_ocr_text_renders_inert_everywhere(as_role, hostile: str) -> None:
    client = as_role("admin")
    with client.get(f"/documents/{hostile}") as r:
        assert r.status_code == 200
        assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in r.data
    paths = ["/search?q=xsscanary", f"/documents/{hostile}", "/patients/TSTXSS001", "/review",
             f"/batches/{_batch_of(client, hostile)}", "/audit", "/dashboard"]
    for path in paths:
        with client.get(path) as r:
            assert r.status_code == 200, path
            body = r.get_data(as_text=True)
            for raw in RAW:
                assert raw not in body, (path, raw)
    with client.get("/search?q=xsscanary") as r:
        assert b"<mark>xsscanary</mark>" in r.data  # highlighting still works
    with client.get("/api/search?q=xsscanary") as r:
        assert r.mimetype == "application/json"


def _batch_of(client, document_id: str) -> str:  # noqa: ANN001
    with client.get(f"/api/documents/{document_id}") as r:
        return r.get_json()["batch_id"]


def test_upload_page_and_api(as_role, settings, tmp_path, queued) -> None:  # noqa: ANN001
    from chartvault.synthetic import ChartSpec, make_chart

    chart = make_chart(ChartSpec(mrn="TST000555", patient_name="TESTPATIENT, Unit U.",
                                 date_of_birth=date(1980, 1, 1), doc_type="progress_notes",
                                 service_date=date(2024, 1, 2), pages=1, paragraphs=1),
                       tmp_path / "c.pdf", fmt="pdf", dpi=100)
    client = as_role("clerk")
    data = {"files": [(io.BytesIO(chart.path.read_bytes()), "chart.pdf"),
                      (io.BytesIO(b""), "empty.pdf")],
            "mrn": "TST000555", "type": "progress_notes", "service_date": "2024-01-02"}
    with client.post("/upload", data=data, content_type="multipart/form-data",
                     headers={"Accept": "application/json"}) as r:
        assert r.status_code == 201, r.data
        batch_id = r.get_json()["batch_id"]
    with client.get(f"/api/batches/{batch_id}") as r:
        batch = r.get_json()
    assert batch["documents"], batch
    assert batch["documents"][0]["status"] == "received"
    assert [q["filename"] for q in batch["quarantine"]] == ["empty.pdf"], batch["quarantine"]
    with client.get(f"/batches/{batch_id}") as r:
        assert r.status_code == 200 and b"empty.pdf" in r.data
    document_id = batch["documents"][0]["id"]
    assert queued == [document_id]  # OCR queued after the catalog commit
    with client.get(f"/documents/{document_id}/original") as r:
        assert r.status_code == 200 and r.data == chart.path.read_bytes()
        assert "attachment" in r.headers["Content-Disposition"]
    with client.get(f"/documents/{document_id}/pdf") as r:
        assert r.status_code == 404  # not OCR'd yet (no worker here)
    with client.get(f"/documents/{document_id}") as r:
        assert r.status_code == 200
    upload = _audit(settings, "upload")[-1]
    assert (upload.actor, upload.client, upload.object_id) == ("web:clerk", "127.0.0.1", batch_id)
    downloads = _audit(settings, "download")
    assert [(e.actor, e.object_id, e.client) for e in downloads] == [
        ("web:clerk", document_id, "127.0.0.1")]
    views = [e for e in _audit(settings, "view") if e.object_type == "document"]
    assert views[-1].mrn == "TST000555" and views[-1].client == "127.0.0.1"
    # The page's quarantine queue offers the empty file; discarding it is audited.
    entry_id = batch["quarantine"][0]["id"]
    with client.get("/quarantine") as r:
        assert entry_id.encode() in r.data
    with client.post(f"/quarantine/{entry_id}/discard", data={"reason": "blank upload"}) as r:
        assert r.status_code == 303
    assert _audit(settings, "quarantine_discard")[-1].object_id == entry_id


def test_quarantine_release_with_corrected_mrn(as_role, settings, tmp_path) -> None:  # noqa: ANN001
    from chartvault.synthetic import ChartSpec, make_chart

    chart = make_chart(ChartSpec(mrn="TST000556", patient_name="TESTPATIENT, Unit V.",
                                 date_of_birth=date(1980, 1, 1), doc_type="progress_notes",
                                 service_date=date(2024, 1, 2), pages=1, paragraphs=1),
                       tmp_path / "c.pdf", fmt="pdf", dpi=100)
    client = as_role("clerk")
    with client.post("/upload", data={"files": [(io.BytesIO(chart.path.read_bytes()), "c.pdf")],
                                      "mrn": "bad mrn!"},
                     headers={"Accept": "application/json"}) as r:
        batch_id = r.get_json()["batch_id"]
    with client.get(f"/api/batches/{batch_id}") as r:
        entry = r.get_json()["quarantine"][0]
    with client.post(f"/quarantine/{entry['id']}/release", data={"mrn": "TST000556"}) as r:
        assert r.status_code == 303 and "/batches/" in r.location
        new_batch = r.location.rsplit("/", 1)[-1]
    with client.get(f"/api/batches/{new_batch}") as r:
        assert r.get_json()["documents"][0]["mrn"] == "TST000556"


def test_dashboard_figures(as_role, hostile: str) -> None:
    with as_role("auditor").get("/dashboard") as r:
        assert r.status_code == 200
        body = r.get_data(as_text=True)
    assert 'id="chart-pages-per-day"' in body and "progress_notes" in body
    assert "TSTXSS001" not in body  # aggregates only: no patient data


def test_openapi_document(app) -> None:  # noqa: ANN001
    with app.test_client().get("/api/openapi.json") as r:
        doc = r.get_json()
    assert doc["openapi"].startswith("3.")
    for path in ("/api/batches", "/api/batches/{batch_id}", "/api/search",
                 "/api/documents/{document_id}",
                 "/api/documents/{document_id}/pages/{number}/image",
                 "/api/documents/{document_id}/original", "/api/documents/{document_id}/pdf"):
        assert path in doc["paths"], path


def test_api_upload_with_manifest(app, users, settings, tmp_path, queued) -> None:  # noqa: ANN001
    from chartvault.synthetic import ChartSpec, make_chart
    from web import accounts

    with session_scope(settings) as session:
        token = accounts.new_token(session, "clerk", "test")
    charts = [make_chart(ChartSpec(mrn=mrn, patient_name="TESTPATIENT, M.",
                                   date_of_birth=date(1990, 1, 1), doc_type="progress_notes",
                                   service_date=date(2024, 1, 2), pages=1, paragraphs=1,
                                   seed=n), tmp_path / f"scan{n}.pdf", fmt="pdf", dpi=100)
              for n, mrn in enumerate(("TST000601", "TST000602"))]
    manifest = (b"filename,mrn,document_type\nscan0.pdf,TST000601,progress_notes\n"
                b"scan1.pdf,TST000602,discharge_summary\n")
    data = {"files": [(io.BytesIO(c.path.read_bytes()), c.path.name) for c in charts],
            "manifest": (io.BytesIO(manifest), "list.csv")}
    with app.test_client().post("/api/batches", data=data,
                                headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status_code == 202, r.data
        body = r.get_json()
    by_name = {d["filename"]: d for d in body["documents"]}
    assert by_name["scan0.pdf"]["status"] == "queued"
    with app.test_client().get(f"/api/batches/{body['id']}",
                               headers={"Authorization": f"Bearer {token}"}) as r:
        docs = {d["filename"]: d for d in r.get_json()["documents"]}
    assert (docs["scan0.pdf"]["mrn"], docs["scan1.pdf"]["mrn"]) == ("TST000601", "TST000602")
    assert docs["scan1.pdf"]["type"] == "discharge_summary"
    assert len(queued) == 2
    upload = _audit(settings, "upload")[-1]
    assert upload.actor == "api:clerk" and upload.client == "127.0.0.1"


def test_hold_placed_on_the_retention_page_shows_in_the_viewer(as_role, hostile: str,
                                                               settings) -> None:  # noqa: ANN001
    manager = as_role("records_manager")
    with manager.post("/retention/holds", data={"case_id": "CASE-42", "reason": "litigation",
                                                 "mrns": "TSTXSS001"}) as r:
        assert r.status_code == 303
    with manager.get("/retention") as r:
        assert b"CASE-42" in r.data and b"AHIMA" in r.data
    with manager.get(f"/documents/{hostile}") as r:
        assert b"legal hold" in r.data and b"CASE-42" in r.data
    with manager.post("/retention/holds", data={"case_id": "", "reason": ""}) as r:
        assert r.status_code == 422 and b"hold_incomplete" in r.data
    assert _audit(settings, "hold_place")[-1].actor == "web:records-manager"
    with as_role("clerk").post("/retention/holds", data={"case_id": "X", "reason": "y",
                                                          "mrns": "TSTXSS001"}) as r:
        assert r.status_code == 403


def test_restricted_document_needs_a_reason(as_role, hostile: str, settings) -> None:  # noqa: ANN001
    from chartvault import access

    with session_scope(settings) as session:
        access.set_restricted(session, "test", hostile, True, reason="behavioral health")
    staff = as_role("staff")
    with staff.get("/search?q=xsscanary") as r:  # not found: as if it were not there
        assert r.status_code == 200 and b"0 document(s)" in r.data
        assert b"xsscanary</mark>" not in r.data
    with staff.get("/api/search?q=xsscanary") as r:
        assert r.get_json()["hits"] == [] and r.get_json()["total"] == 0
    with staff.get(f"/documents/{hostile}") as r:
        assert r.status_code == 403 and b"Reason for access" in r.data
        assert b"xsscanary" not in r.data  # nothing of the chart before the glass breaks
    with staff.get(f"/documents/{hostile}/pages/1/thumb") as r:
        assert r.status_code == 403
    with staff.post(f"/documents/{hostile}/break-glass",
                    data={"reason": "covering the patient's care today"}) as r:
        assert r.status_code == 303
    with staff.get(f"/documents/{hostile}") as r:
        assert r.status_code == 200 and b"xsscanary" in r.data
    glass = _audit(settings, "break_glass")
    assert glass[-1].actor == "web:staff"
    assert glass[-1].detail["reason"] == "covering the patient's care today"
    assert _audit(settings, "break_glass_refused")
    auditor = as_role("auditor")
    with auditor.get("/audit/access?mrn=TSTXSS001") as r:
        assert r.status_code == 200 and b"web:staff" in r.data
        assert b"covering the patient" in r.data
    with auditor.get("/audit/break-glass?unreviewed=1") as r:
        assert b"covering the patient" in r.data
    with auditor.post(f"/audit/break-glass/{glass[-1].seq}/review",
                      data={"note": "on the ward rota"}) as r:
        assert r.status_code == 303
    with auditor.get("/audit/break-glass?unreviewed=1") as r:
        assert b"covering the patient" not in r.data


def test_a_large_result_shows_its_total_as_an_estimate(as_role, settings) -> None:  # noqa: ANN001
    """Above the exact-count limit the total is a HyperLogLog estimate: the page says
    "about", the API says total_estimated; a small result stays exact."""
    from search import DocumentEntry, PageEntry, open_index

    index = open_index(settings)
    index.upsert_many(DocumentEntry(f"doc-{n:05d}", "TST000777", "lab_result",
                                    (PageEntry(1, f"estimword filler {n}"),))
                      for n in range(12_000))
    index.close()
    client = as_role("staff")
    with client.get("/search?q=estimword") as r:
        body = r.get_data(as_text=True)
        assert r.status_code == 200 and "counts estimated" in body and "about 1" in body
    with client.get("/api/search?q=estimword") as r:
        large = r.get_json()
    assert large["total_estimated"] is True and abs(large["total"] - 12_000) < 600
    with client.get("/api/search?q=filler%2011999") as r:
        small = r.get_json()
    assert (small["total"], small["total_estimated"]) == (1, False)
    with client.get("/search?q=filler%2011999") as r:
        assert "1 document(s)" in r.get_data(as_text=True)
        assert "counts estimated" not in r.get_data(as_text=True)


def test_requests_share_one_search_index_and_a_failed_open_is_retried(
        app, as_role, settings, monkeypatch) -> None:  # noqa: ANN001
    import dataclasses
    import socket

    client = as_role("staff")
    with client.get("/api/search?q=anything") as r:
        assert r.status_code == 200
    first = app.extensions["chartvault_search_index"]
    with client.get("/search?q=other") as r:
        assert r.status_code == 200
    assert app.extensions["chartvault_search_index"] is first  # not reopened per request

    with socket.socket() as s:  # a port where no Elasticsearch answers
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = dataclasses.replace(settings, search_backend="elasticsearch",
                               elasticsearch_url=dead)
    app.extensions.pop("chartvault_search_index")
    app.config["CHARTVAULT_SETTINGS"] = down
    with client.get("/api/search?q=anything") as r:
        assert r.status_code == 503 and r.get_json()["error"]["code"] == "search_unavailable"
    assert "chartvault_search_index" not in app.extensions  # not kept: the next one retries
    app.config["CHARTVAULT_SETTINGS"] = settings
    with client.get("/api/search?q=anything") as r:
        assert r.status_code == 200
