"""Finding 10 of issue 22: bidirectional controls (U+202E...) refused in uploaded file
names at every door (web page, API, CLI, hot folder); every 5xx answered in the app's
own format, a damaged original included."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from chartvault.cli import main

RLO_NAME = "scan\u202efdp.exe"  # shows as "scanexe.pdf"
OTHER_BIDI = ["a\u200fb.pdf", "a\u2066b\u2069.pdf", "a\u061cb.pdf", "a\u202ab.pdf"]


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    from chartvault.synthetic import ChartSpec, make_chart

    return make_chart(ChartSpec(mrn="TST000777", patient_name="TESTPATIENT, Bidi B.",
                                date_of_birth=date(1970, 1, 1), doc_type="progress_notes",
                                service_date=date(2024, 1, 2), pages=1, paragraphs=1),
                      tmp_path / "c.pdf", fmt="pdf", dpi=100).path


def _form(chart: Path, name: str) -> dict:
    return {"files": [(io.BytesIO(chart.read_bytes()), name)], "mrn": "TST000777",
            "type": "progress_notes", "service_date": "2024-01-02"}


def _token(settings, name: str = "clerk") -> dict[str, str]:  # noqa: ANN001
    from chartvault.db import session_scope
    from web import accounts

    with session_scope(settings) as db:
        return {"Authorization": f"Bearer {accounts.new_token(db, name, 'test')}"}


@pytest.mark.parametrize("name", [RLO_NAME + ".pdf", *OTHER_BIDI])
def test_the_api_refuses_bidi_controls_in_file_names(app, users, settings, chart: Path,
                                                     name: str) -> None:  # noqa: ANN001
    with app.test_client().post("/api/batches", data=_form(chart, name),
                                headers=_token(settings),
                                content_type="multipart/form-data") as r:
        assert r.status_code == 202
        outcome = r.get_json()["documents"][0]
    assert outcome["status"] == "quarantined" and outcome["code"] == "unsafe_filename"
    assert not any(c in outcome["filename"] for c in "\u202e\u200f\u2066\u2069\u061c\u202a")


def test_the_page_refuses_them_and_shows_no_control(as_role, chart: Path) -> None:  # noqa: ANN001
    client = as_role("clerk")
    with client.post("/upload", data=_form(chart, RLO_NAME + ".pdf"),
                     content_type="multipart/form-data",
                     headers={"Accept": "application/json"}) as r:
        assert r.status_code == 201
        batch_url = r.get_json()["url"]
    with client.get(batch_url) as r:
        assert "\u202e" not in r.get_data(as_text=True)
        assert "unsafe_filename" in r.get_data(as_text=True) or b"direction control" in r.data


def test_the_cli_refuses_them(cv_env, chart: Path, tmp_path: Path) -> None:  # noqa: ANN001
    named = tmp_path / (RLO_NAME + ".pdf")
    named.write_bytes(chart.read_bytes())
    result = CliRunner().invoke(main, ["ingest", str(named), "--mrn", "TST000777", "--type",
                                       "progress_notes", "--service-date", "2024-01-02",
                                       "--json"])
    assert result.exit_code == 1, result.output
    assert "unsafe_filename" in result.output and "\u202e" not in result.output


def test_the_hot_folder_refuses_them(settings, chart: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from archive import open_store
    from ingest.hotfolder import HotFolder

    folder = tmp_path / "hot"
    folder.mkdir()
    (folder / (RLO_NAME + ".pdf")).write_bytes(chart.read_bytes())
    hot = HotFolder(settings, open_store(settings), folder, lambda _id: None)
    handled = hot.poll() + hot.poll()  # a file is taken once it has stopped changing
    outcomes = [o for h in handled for o in h.outcomes]
    assert [o.code for o in outcomes] == ["unsafe_filename"]


# error pages ------------------------------------------------------------------------


def test_every_5xx_is_the_apps_error_page(app, as_role) -> None:  # noqa: ANN001
    from werkzeug.exceptions import BadGateway, ServiceUnavailable

    def crash():  # noqa: ANN202
        raise RuntimeError("boom with a secret detail")

    def gateway():  # noqa: ANN202
        raise BadGateway()

    def unavailable():  # noqa: ANN202
        raise ServiceUnavailable()

    for rule, view in (("/crash", crash), ("/api/crash", crash), ("/gateway", gateway),
                       ("/unavailable", unavailable)):
        view.chartvault_permission = "dashboard"
        app.add_url_rule(rule, rule.strip("/").replace("/", "_"), view)
    client = as_role("staff")
    with client.get("/crash") as r:
        assert r.status_code == 500 and r.mimetype == "text/html"
        assert b"Something went wrong" in r.data and b"internal_error" in r.data
        assert b"secret detail" not in r.data and b'class="brand"' in r.data
    with client.get("/api/crash") as r:
        assert r.status_code == 500 and r.get_json()["error"]["code"] == "internal_error"
    for path, status in (("/gateway", 502), ("/unavailable", 503)):
        with client.get(path) as r:
            assert r.status_code == status and r.mimetype == "text/html", path
            assert b'class="brand"' in r.data


def test_a_damaged_original_is_an_error_page_not_a_plain_500(as_role, settings, chart: Path
                                                             ) -> None:  # noqa: ANN001
    client = as_role("clerk")
    with client.post("/api/batches", data=_form(chart, "c.pdf"), headers=_token(settings),
                     content_type="multipart/form-data") as r:
        document_id = r.get_json()["documents"][0]["document_id"]
    objects = [p for p in settings.store_path.rglob("*") if p.is_file()
               and document_id in str(p) and p.stat().st_size > 1000]
    assert objects, "the stored original"
    for path in objects:  # flip bytes in the middle of the stored (sealed) original
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
        path.chmod(0o600)
        path.write_bytes(bytes(data))
    for path, html in ((f"/documents/{document_id}/original", True),
                       (f"/api/documents/{document_id}/original", False)):
        with client.get(path, headers={} if html else _token(settings)) as r:
            assert r.status_code >= 400, path
            if html:
                assert r.mimetype == "text/html" and b'class="brand"' in r.data
                assert b"integrity" in r.data
            else:
                assert json.loads(r.data)["error"]["code"] == "integrity_mismatch"
