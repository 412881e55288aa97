"""The records lifecycle with the catalog on the real PostgreSQL (filesystem store)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(_ROOT))

from tests.support.retention_seed import Seeder, add_users  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_settings(cv_env, postgres_url, monkeypatch):  # noqa: ANN001, ANN201
    from chartvault.db import dispose_all
    from chartvault.settings import get_settings, reset_settings_cache

    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", postgres_url)
    reset_settings_cache()
    dispose_all()
    return get_settings()


def test_lifecycle_on_postgresql(pg_settings) -> None:  # noqa: ANN001
    from archive import keys, open_store
    from retention.apply import apply_retention
    from retention.certificate import certificate_bytes
    from retention.destruction import approve, due_documents, execute, propose
    from retention.holds import list_holds, place_hold, release_hold
    from search import open_index

    settings = pg_settings
    assert settings.database_url.startswith("postgresql")
    store, index = open_store(settings), open_index(settings)
    add_users(settings)
    seed = Seeder(settings, store, index)
    doomed = seed.document("TST000601", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    held = seed.document("TST000602", date(2001, 1, 1), retain_until=date(2011, 1, 1))
    seed.patient("TST000603", date(2012, 6, 1))
    minor = seed.document("TST000603", date(2013, 1, 1))
    assert apply_retention(settings, minor) == date(2033, 6, 1)
    hold = place_hold(settings, actor="alice", case_id="PG-1", reason="claim",
                      document_ids=[held])
    assert [d.document_id for d in due_documents(settings)] == [doomed]
    proposal = propose(settings)
    approve(settings, proposal.id, user="alice")
    approve(settings, proposal.id, user="carol")
    done = execute(settings, proposal.id, actor="carol")
    assert [(i.document_id, i.status) for i in done.items] == [(doomed, "destroyed")]
    assert list(store.list_versions(keys.document_prefix(doomed))) == []
    cert = json.loads(certificate_bytes(settings, proposal.id, "json", actor="bob"))
    assert [r["document_id"] for r in cert["records"]] == [doomed]
    release_hold(settings, hold.id, actor="bob", reason="settled")
    assert not list_holds(settings, include_released=False)
    assert [d.document_id for d in due_documents(settings)] == [held]
    index.close()
