"""The pages' queries on PostgreSQL (dashboard aggregates, audit filters, timelines)."""

from __future__ import annotations

import pytest
from web_support import sign_in

pytestmark = pytest.mark.integration


def test_every_page_on_postgres(cv_env, postgres_url, monkeypatch) -> None:  # noqa: ANN001
    from datetime import date

    from chartvault.db import dispose_all, session_scope
    from chartvault.models import Batch, Document, Page, Patient, new_id
    from chartvault.settings import get_settings, reset_settings_cache
    from web import accounts, create_app

    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", postgres_url)
    reset_settings_cache()
    dispose_all()
    settings = get_settings()
    doc_id, batch_id = new_id(), new_id()
    with session_scope(settings) as session:
        admin = accounts.add_user(session, "admin", "admin", "plum violin gravel 42", "test")
        session.add(Patient(mrn="TST000900", name="TESTPATIENT, Pg"))
        session.add(Batch(id=batch_id, created_by="test", source="cli"))
        session.flush()
        session.add(Document(id=doc_id, batch_id=batch_id, mrn="TST000900",
                             doc_type="progress_notes", filename="a.pdf", mime="application/pdf",
                             original_key=f"documents/{doc_id}/a.pdf", original_version="1",
                             sha256="1" * 64, size=1, page_count=1, status="indexed",
                             retain_until=date(2035, 1, 1), needs_review=True))
        session.add(Page(document_id=doc_id, number=1, status="done", text="words",
                         confidence=55.5, flag="low_confidence"))
    app = create_app(test_config={"TESTING": True, "WTF_CSRF_ENABLED": False},
                     settings=settings)
    client = app.test_client()
    sign_in(client, admin.id)
    for path in ("/dashboard", "/batches", f"/batches/{batch_id}", "/review", "/quarantine",
                 "/patients/TST000900", f"/documents/{doc_id}", "/retention",
                 "/audit?action=view&from=2020-01-01&to=2099-01-01", "/audit?verify=1"):
        with client.get(path) as response:
            assert response.status_code == 200, (path, response.data[:300])
    with client.get("/dashboard") as response:
        body = response.get_data(as_text=True)
    assert "2035" in body and "50-59" in body
    dispose_all()
