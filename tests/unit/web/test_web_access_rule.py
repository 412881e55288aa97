"""Issue 22 finding 4: one access rule for every door (web page, API, CLI).

A restricted document the reader has not opened (break the glass) is left out of a
search's hits, total and facets, so a word found only on it answers exactly as a word
found nowhere (the query is not an oracle); a listing of the patient shows it as a
stub with nothing but its id.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from chartvault.cli import main
from tests.support.access_seed import MRN, NAME, seed_patient

ABSENT = "zqxwvy"  # on no page at all


@pytest.fixture
def seeded(settings):  # noqa: ANN001, ANN201
    return seed_patient(settings)


def _api(client, q: str) -> dict:  # noqa: ANN001
    with client.get("/api/search", query_string={"q": q}) as r:
        assert r.status_code == 200, r.data
        return r.get_json()


def test_a_word_only_on_a_restricted_page_answers_like_an_absent_word(as_role, seeded) -> None:  # noqa: ANN001
    staff = as_role("staff")
    restricted = _api(staff, f"creatinine mrn:{MRN}")
    absent = _api(staff, f"{ABSENT} mrn:{MRN}")
    assert restricted == absent
    assert restricted["total"] == 0 and restricted["hits"] == [] and restricted["restricted"] == []
    # a word on both: only the open document, counted and faceted alone
    both = _api(staff, f"metformin mrn:{MRN}")
    assert [h["document_id"] for h in both["hits"]] == [seeded.open_id]
    assert both["total"] == 1 and both["facets"]["doc_type"] == {"progress_notes": 1}
    with staff.get("/search", query_string={"q": "creatinine"}) as r:
        page = r.get_data(as_text=True)
    with staff.get("/search", query_string={"q": ABSENT}) as r:
        assert r.get_data(as_text=True).replace(ABSENT, "creatinine") == page
    for leak in (NAME, "behavioral", seeded.restricted_id, "Creatinine"):
        assert leak not in page


def test_a_patient_listing_shows_the_restricted_document_as_a_bare_stub(as_role, seeded) -> None:  # noqa: ANN001
    staff = as_role("staff")
    listing = _api(staff, f"mrn:{MRN}")
    assert [h["document_id"] for h in listing["hits"]] == [seeded.open_id]
    assert listing["restricted"] == [{"document_id": seeded.restricted_id, "restricted": True}]
    assert listing["total"] == 1 and "behavioral_health" not in json.dumps(listing["facets"])
    with staff.get(f"/patients/{MRN}") as r:
        page = r.get_data(as_text=True)
    assert seeded.restricted_id in page and "Restricted document" in page
    assert "behavioral" not in page
    with staff.get("/search", query_string={"mrn": MRN}) as r:
        page = r.get_data(as_text=True)
    assert seeded.restricted_id in page and "behavioral" not in page


def test_after_breaking_the_glass_the_reader_finds_it(as_role, seeded) -> None:  # noqa: ANN001
    staff, other = as_role("staff"), as_role("clerk")
    with staff.post(f"/documents/{seeded.restricted_id}/break-glass",
                    data={"reason": "covering the patient's care today"}) as r:
        assert r.status_code == 303
    found = _api(staff, "creatinine")
    assert [h["document_id"] for h in found["hits"]] == [seeded.restricted_id]
    assert _api(other, "creatinine")["total"] == 0  # the glass broken by one reader only


def test_the_command_line_follows_the_same_rule(settings, seeded) -> None:  # noqa: ANN001
    def search(*words: str) -> dict:
        result = CliRunner().invoke(main, ["search", *words, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    assert search("creatinine", f"mrn:{MRN}") == search(ABSENT, f"mrn:{MRN}")
    text = CliRunner().invoke(main, ["search", "creatinine"]).output
    assert "Creatinine" not in text and "reatinine]" not in text
    listing = search(f"mrn:{MRN}")
    assert listing["restricted"] == [{"document_id": seeded.restricted_id, "restricted": True}]
    assert [h["document_id"] for h in listing["hits"]] == [seeded.open_id]


def test_costly_and_out_of_range_searches_are_a_clear_422(as_role, seeded) -> None:  # noqa: ANN001
    """Issue 22 finding 8: `date:0001` answered 503 "retryable"; a 1,000-character OR of
    `xyz~2` terms ran for seconds. Both are refused at once, with what to do."""
    staff = as_role("staff")
    costly = " OR ".join(["xyz~2"] * 160)[:1000].rsplit(" OR ", 1)[0]
    many = " OR ".join(f"metformin{n}~1" for n in range(9))
    for q, code in (("date:0001", "query_syntax"), ("metformin date:9999", "query_syntax"),
                    (costly, "query_too_costly"), (many, "query_too_costly"),
                    (" ".join(f"w{n}" for n in range(65)), "query_too_costly")):
        with staff.get("/api/search", query_string={"q": q}) as r:
            assert r.status_code == 422, (q, r.status_code)
            error = r.get_json()["error"]
            assert error["code"] == code and error["retryable"] is False, (q, error)
    with staff.get("/search", query_string={"q": "date:0001"}) as r:
        assert r.status_code == 200 and b"out of range" in r.data
    assert _api(staff, "metformin~1")["total"] == 1  # a reasonable fuzzy word still works


def test_web_approvals_are_made_by_the_signed_in_user(app, as_role, settings, users) -> None:  # noqa: ANN001
    """Issue 22 finding 5, the page: who approves is the session's user, never a form
    field; the same person cannot approve and confirm; a second one can."""
    from datetime import date

    from archive import open_store
    from chartvault.db import session_scope
    from retention.service import get_destruction
    from tests.support.retention_seed import Seeder
    from web import accounts

    Seeder(settings, open_store(settings)).document("TST000900", date(2001, 1, 1),
                                                    retain_until=date(2011, 1, 1))
    manager = as_role("records_manager")
    with manager.post("/retention/destructions") as r:
        assert r.status_code == 303
    from retention.service import list_destructions

    proposal = list_destructions(settings)[0].id
    with app.test_client().post(f"/retention/destructions/{proposal}/approve") as r:
        assert r.status_code == 302 and "/login" in r.headers["Location"]
    url = f"/retention/destructions/{proposal}/approve"
    with manager.post(url, data={"user": "someone-else"}) as r:
        assert r.status_code == 303
    assert get_destruction(settings, proposal).approved_by == "records-manager"
    with manager.post(url, data={"user": "someone-else"}) as r:
        assert r.status_code == 409 and b"two_person_rule" in r.data
    with session_scope(settings) as session:
        accounts.add_user(session, "rm-two", "records_manager", "another long passphrase",
                          "test")
    from sqlalchemy import select
    from web_support import sign_in

    from chartvault.models import User

    with session_scope(settings) as session:
        second_id = session.scalar(select(User.id).where(User.name == "rm-two"))
    second = app.test_client()
    sign_in(second, second_id)
    with second.post(url) as r:
        assert r.status_code == 303
    view = get_destruction(settings, proposal)
    assert (view.status, view.confirmed_by) == ("confirmed", "rm-two")


def test_batch_and_review_listings_show_a_restricted_document_as_a_stub(  # noqa: ANN001
        as_role, settings, seeded) -> None:
    from chartvault.db import session_scope
    from chartvault.models import Document

    with session_scope(settings) as session:  # both need a clerk's look
        for document_id in (seeded.open_id, seeded.restricted_id):
            session.get(Document, document_id).needs_review = True
    clerk = as_role("clerk")
    with clerk.get(f"/api/batches/{seeded.batch_id}") as r:
        assert r.status_code == 200
        listed = {d["id"]: d for d in r.get_json()["documents"]}
    stub = listed[seeded.restricted_id]
    assert (stub["filename"], stub["mrn"], stub["type"], stub["restricted"]) == (
        "restricted document", None, None, True)
    assert listed[seeded.open_id]["mrn"] == MRN  # the open one as before
    for path in (f"/batches/{seeded.batch_id}", "/review"):
        with clerk.get(path) as r:
            page = r.get_data(as_text=True)
        assert r.status_code == 200 and "behavioral_health" not in page, path
        assert "behavioral health" not in page and "restricted document" in page, path
    result = CliRunner().invoke(main, ["status", seeded.batch_id, "--json"],
                                catch_exceptions=False)
    shown = {d["id"]: d for d in json.loads(result.output)["documents"]}
    assert shown[seeded.restricted_id]["mrn"] is None
    assert "behavioral_health" not in result.output
