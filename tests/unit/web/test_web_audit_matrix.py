"""Issue 22 finding 6: every read of patient data is exactly one audit event.

Every rule of ``app.url_map`` × every role × its methods, on real rows and stored
files: a refused request leaves no event; an allowed read leaves exactly the events
this table says (and a route missing from the table fails the test, so no new route
escapes). The viewer's own sub-requests (its page image, thumbnails, the batch page's
polling) are part of the one view; break-the-glass is recorded once.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chartvault.db import session_scope
from chartvault.models import AuditEvent, QuarantineEntry
from tests.support.access_seed import MRN, seed_patient, store_files
from web.permissions import PERMISSIONS, PUBLIC, ROLES, permission_of

# endpoint -> (query string, the events (action, object_type) an allowed GET leaves)
READS: dict[str, tuple[dict, list[tuple[str, str]]]] = {
    "dashboard.home": ({}, []),  # a redirect
    "dashboard.index": ({}, []),  # counts only, no patient data
    "healthz": ({}, []),
    "static": ({}, []),
    "auth.login": ({}, []),
    "auth.password": ({}, []),  # the change-password form
    "users.index": ({}, []),  # accounts, no patient data (account changes are audited)
    "api.openapi": ({}, []),
    "batches.upload_form": ({}, []),
    "patients.lookup": ({}, []),  # the form
    "api.get_batch": ({}, [("view", "batch")]),
    "api.get_document": ({}, [("view", "document")]),
    "api.original": ({}, [("download", "document")]),
    "api.page_image": ({}, [("view", "document")]),
    "api.pdf": ({}, []),  # 404: no searchable PDF yet, nothing read
    "api.search": ({"q": "metformin"}, [("search", "query")]),
    "audit.index": ({}, [("audit_view", "audit")]),
    "audit.access_report": ({"mrn": MRN}, [("audit_view", "access_report")]),
    "audit.break_glass": ({}, [("audit_view", "break_glass")]),
    "batches.index": ({}, [("view", "batches")]),
    "batches.show": ({}, [("view", "batch")]),
    "documents.view": ({}, [("view", "document")]),
    "documents.original": ({}, [("download", "document")]),
    "documents.image": ({}, [("view", "document")]),
    "documents.thumb": ({}, [("view", "document")]),
    "documents.pdf": ({}, []),  # 404 as above
    "patients.show": ({}, [("view", "patient")]),
    "queues.quarantine": ({}, [("view", "quarantine")]),
    "queues.review": ({}, [("view", "review")]),
    "retention.index": ({}, [("view", "retention")]),
    "retention.certificate": ({}, []),  # 404: no such destruction
    "search.index": ({"q": "metformin"}, [("search", "query")]),
}


@pytest.fixture
def world(settings):  # noqa: ANN001, ANN201
    seeded = seed_patient(settings)
    store_files(settings, seeded.open_id)
    with session_scope(settings) as session:
        entry = QuarantineEntry(batch_id=seeded.batch_id, filename="bad.pdf", code="corrupt",
                                reason="not a PDF")
        session.add(entry)
        session.flush()
        entry_id = entry.id
    return {"document_id": seeded.open_id, "batch_id": seeded.batch_id, "mrn": MRN,
            "number": 1, "entry_id": entry_id, "destruction_id": "0" * 32,
            "hold_id": "0" * 32, "fmt": "pdf", "filename": "app.css", "seq": 1,
            "name": "nobody"}


def _events(settings, after: int) -> list[AuditEvent]:  # noqa: ANN001
    with session_scope(settings) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.seq > after)
                                    .order_by(AuditEvent.seq)))


def _last(settings) -> int:  # noqa: ANN001
    events = _events(settings, 0)
    return events[-1].seq if events else 0


def _path(rule, values: dict) -> str:  # noqa: ANN001
    path = rule.rule
    for arg in rule.arguments:
        for shape in (f"<int:{arg}>", f"<path:{arg}>", f"<{arg}>"):
            path = path.replace(shape, str(values[arg]))
    return path


def _allowed(permission: str, role: str | None) -> bool:
    return permission == PUBLIC or (role is not None and role in PERMISSIONS[permission])


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_route_leaves_exactly_its_audit_events(app, as_role, settings, world,  # noqa: ANN001
                                                     role: str | None) -> None:
    wrong = []
    for rule in app.url_map.iter_rules():
        permission = PUBLIC if rule.endpoint == "static" else permission_of(
            app.view_functions[rule.endpoint])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if rule.endpoint == "auth.logout" or (method == "POST" and _allowed(permission,
                                                                                 role)):
                continue  # writes: their events are the writing tests' business
            if method == "GET" and rule.endpoint not in READS:
                wrong.append(f"{rule.endpoint}: not in READS (say what it records)")
                continue
            args, expected = READS.get(rule.endpoint, ({}, []))
            before = _last(settings)
            client = as_role(role)  # a fresh session: nothing it showed before
            response = client.open(_path(rule, world), method=method, query_string=args)
            status = response.status_code
            response.close()
            got = [(e.action, e.object_type) for e in _events(settings, before)]
            want = expected if _allowed(permission, role) and method == "GET" else []
            if got != want or status >= 500:
                wrong.append(f"{role} {method} {rule.rule}: {status}, events {got}, "
                             f"expected {want}")
    assert not wrong, "\n".join(wrong)


def test_search_events_carry_the_query(as_role, settings, world) -> None:  # noqa: ANN001
    before = _last(settings)
    with as_role("staff").get("/api/search", query_string={"q": "metformin mrn:" + MRN}):
        pass
    (event,) = _events(settings, before)
    assert event.action == "search" and event.detail["query"] == f"metformin mrn:{MRN}"
    assert event.detail["mrns"] == [MRN] and event.actor == "web:staff"


def test_opening_a_document_once_is_one_event(as_role, settings, world) -> None:  # noqa: ANN001
    """The viewer, then what its browser fetches for it: one view, not one per request."""
    staff, doc = as_role("staff"), world["document_id"]
    before = _last(settings)
    for path in (f"/documents/{doc}", f"/documents/{doc}/pages/1/image",
                 f"/documents/{doc}/pages/1/thumb", f"/documents/{doc}/pages/1/thumb"):
        with staff.get(path) as r:
            assert r.status_code == 200, path
    assert [(e.action, e.detail.get("page")) for e in _events(settings, before)] == [
        ("view", 1)]
    # another reader's direct fetch of the image is a read of its own
    with as_role("clerk").get(f"/documents/{doc}/pages/1/image") as r:
        assert r.status_code == 200
    assert [e.actor for e in _events(settings, before)][-1] == "web:clerk"


def test_the_batch_pages_polling_is_part_of_its_view(as_role, settings, world) -> None:  # noqa: ANN001
    clerk, batch = as_role("clerk"), world["batch_id"]
    before = _last(settings)
    with clerk.get(f"/batches/{batch}") as r:
        assert r.status_code == 200
    for _ in range(3):
        with clerk.get(f"/api/batches/{batch}") as r:
            assert r.status_code == 200
    assert [(e.action, e.object_type) for e in _events(settings, before)] == [
        ("view", "batch")]


def test_break_the_glass_is_recorded_once(as_role, settings) -> None:  # noqa: ANN001
    seeded = seed_patient(settings)
    staff, doc = as_role("staff"), seeded.restricted_id
    before = _last(settings)
    with staff.post(f"/documents/{doc}/break-glass",
                    data={"reason": "covering the patient's care today"}) as r:
        assert r.status_code == 303
    for _ in range(3):
        with staff.get(f"/documents/{doc}") as r:
            assert r.status_code == 200
    events = [(e.action, e.detail.get("break_glass")) for e in _events(settings, before)]
    assert events == [("break_glass", None), ("view", True), ("view", True), ("view", True)]
