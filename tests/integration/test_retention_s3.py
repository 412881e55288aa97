"""The records lifecycle end to end on the S3 backend, against a real Ceph RGW.

Documents with dates of service long past (objects written without retention,
as an expired retention would leave them), one patient under legal hold, one
recent document under COMPLIANCE retention: sweep, propose, approve, confirm,
execute. Skipped with the reason when Ceph is not installed.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(_ROOT))

from tests.support.retention_seed import Seeder, add_users  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_settings(cv_env, rgw, monkeypatch):  # noqa: ANN001, ANN201
    from chartvault.db import dispose_all
    from chartvault.settings import get_settings, reset_settings_cache

    for name, value in {"OBJECT_STORE": "s3", "S3_ENDPOINT": rgw.url,
                        "S3_ACCESS_KEY": rgw.access_key,
                        "S3_SECRET_KEY": rgw.secret_key,
                        "S3_REGION": rgw.region,
                        "S3_BUCKET": f"cv-retention-{uuid.uuid4().hex[:10]}"}.items():
        monkeypatch.setenv(f"CHARTVAULT_{name}", value)
    reset_settings_cache()
    dispose_all()
    return get_settings()


def test_lifecycle_end_to_end_on_s3(s3_settings, rgw) -> None:  # noqa: ANN001
    from minio import Minio
    from minio.error import S3Error

    from archive import keys, open_store
    from chartvault.db import session_scope
    from chartvault.models import Document, Page
    from retention.apply import apply_retention
    from retention.certificate import certificate_bytes
    from retention.destruction import approve, due_documents, execute, propose
    from retention.holds import place_hold
    from search import open_index

    settings = s3_settings
    store = open_store(settings)
    assert type(store).__name__ == "S3Store"
    index = open_index(settings)
    add_users(settings)
    seed = Seeder(settings, store, index)
    doomed = [seed.document("TST000501", date(2001, 3, 4), retain_until=date(2011, 3, 4)),
              seed.document("TST000502", date(2004, 5, 6), retain_until=date(2014, 5, 6))]
    held = seed.document("TST000503", date(2002, 1, 1), retain_until=date(2012, 1, 1))
    young = seed.document("TST000504", date.today() - timedelta(days=10))
    assert apply_retention(settings, young) > date.today()
    place_hold(settings, actor="alice", case_id="S3-CASE", reason="litigation",
               mrns=["TST000503"])
    assert all(v.legal_hold for v in store.list_versions(keys.document_prefix(held)))

    assert sorted(d.document_id for d in due_documents(settings)) == sorted(doomed)
    proposal = propose(settings, actor="scheduler")
    approve(settings, proposal.id, user="alice")
    approve(settings, proposal.id, user="bob")
    done = execute(settings, proposal.id, actor="bob")
    assert done.status == "executed"
    assert sorted(i.document_id for i in done.items if i.status == "destroyed") == sorted(doomed)

    for document_id in doomed:
        assert list(store.list_versions(keys.document_prefix(document_id))) == []
    assert len(list(store.list_versions(keys.document_prefix(held)))) == 3
    with session_scope(settings) as session:
        for document_id in doomed:
            assert session.get(Document, document_id).status == "destroyed"
            assert session.query(Page).filter_by(document_id=document_id).count() == 0
    index.close()
    fresh = open_index(settings)
    remaining = fresh.document_ids()
    fresh.close()
    assert not set(doomed) & remaining and {held, young} <= remaining
    cert = json.loads(certificate_bytes(settings, proposal.id, "json", actor="alice"))
    assert sorted(r["document_id"] for r in cert["records"]) == sorted(doomed)
    assert "S3" in cert["method"]
    assert certificate_bytes(settings, proposal.id, "pdf", actor="alice").startswith(b"%PDF")

    # the server itself refuses: a raw S3 delete of a retained or held version
    raw = Minio(rgw.endpoint, access_key=rgw.access_key,
                secret_key=rgw.secret_key, secure=False, region=rgw.region)
    for document_id in (young, held):
        version = next(iter(store.list_versions(keys.document_prefix(document_id))))
        with pytest.raises(S3Error) as refused:
            raw.remove_object(settings.s3_bucket, version.key, version_id=version.version_id)
        assert refused.value.code == "AccessDenied"
    certificate = store.stat(keys.certificate_key(proposal.id, ".pdf"))
    with pytest.raises(S3Error):
        raw.remove_object(settings.s3_bucket, certificate.key,
                          version_id=certificate.version_id)
