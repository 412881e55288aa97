"""The S3 server gone in the middle of an upload: the file fails with "storage
unavailable", no catalog row exists without its original, the rest of the batch is
kept, and a retry after the server is back archives what failed."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from chartvault.synthetic import ChartSpec, make_chart
from tests.support.faults import TcpGate

pytestmark = pytest.mark.integration


class CutDuringUpload:
    """The store, with the S3 server cut off while the ``nth`` original is being sent."""

    def __init__(self, store, gate: TcpGate, nth: int) -> None:  # noqa: ANN001
        self.store, self.gate, self.nth, self.puts = store, gate, nth, 0

    def put(self, key: str, stream, **options):  # noqa: ANN001, ANN003, ANN201
        self.puts += 1
        if self.puts == self.nth:
            stream = _CutAfterFirstRead(stream, self.gate)
        return self.store.put(key, stream, **options)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.store, name)


class _CutAfterFirstRead:
    def __init__(self, stream, gate: TcpGate) -> None:  # noqa: ANN001
        self.stream, self.gate, self.reads = stream, gate, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.reads += 1
        if self.reads == 1:
            self.gate.down()
        return data

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.stream, name)


def _files(folder: Path) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(4):
        spec = ChartSpec(mrn="TST000555", patient_name="FAKERECORD, Store Q.",
                         date_of_birth=date(1977, 7, 8), doc_type="operative_report",
                         service_date=date(2021, 1, 2), pages=1, seed=60 + i, paragraphs=1)
        paths.append(make_chart(spec, folder / f"scan-{i}.pdf", fmt="pdf", dpi=150).path)
    return paths


def test_s3_down_mid_upload_then_retry(cv_env, postgres_url, rgw, monkeypatch,
                                       tmp_path) -> None:  # noqa: ANN001
    from archive import open_store
    from chartvault.db import session_scope
    from chartvault.models import Document, StoredObject
    from chartvault.settings import get_settings, reset_settings_cache
    from ingest.service import IncomingFile, IntakeOptions, ingest_files

    gate = TcpGate(int(rgw.endpoint.rsplit(":", 1)[1]))
    for key, value in {"CHARTVAULT_DATABASE_URL": postgres_url, "CHARTVAULT_OBJECT_STORE": "s3",
                       "CHARTVAULT_S3_ENDPOINT": gate.url,
                       "CHARTVAULT_S3_ACCESS_KEY": rgw.access_key,
                       "CHARTVAULT_S3_SECRET_KEY": rgw.secret_key,
                       "CHARTVAULT_S3_BUCKET": f"cv-rel-{uuid.uuid4().hex[:10]}"}.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    settings = get_settings()
    files = [IncomingFile(p, p.name) for p in _files(tmp_path / "batch")]
    options = IntakeOptions(actor="test", source="cli", mrn="TST000555",
                            doc_type="operative_report")
    queued: list[str] = []
    try:
        store = CutDuringUpload(open_store(settings), gate, nth=2)
        first = ingest_files(settings, store, files, options, queued.append)
        by_name = {o.filename: o for o in first.outcomes}
        assert by_name["scan-0.pdf"].status == "queued"
        for name in ("scan-1.pdf", "scan-2.pdf", "scan-3.pdf"):
            assert by_name[name].status == "failed", by_name[name]
            assert by_name[name].code == "storage_unavailable"
        assert "unreachable" in by_name["scan-1.pdf"].reason

        gate.up()  # the server is back
        _every_row_has_its_original(settings, open_store(settings), expected=1)
        retry = ingest_files(settings, open_store(settings), files, options, queued.append)
        statuses = sorted(o.status for o in retry.outcomes)
        assert statuses == ["duplicate", "queued", "queued", "queued"]
        _every_row_has_its_original(settings, open_store(settings), expected=4)
        with session_scope(settings) as session:
            assert session.scalar(select(Document.id).where(
                Document.filename == "scan-0.pdf")) == by_name["scan-0.pdf"].document_id
            originals = list(session.scalars(select(StoredObject.key).where(
                StoredObject.kind == "original")))
        assert len(originals) == len(set(originals)) == 4
        assert len(queued) == 4
    finally:
        gate.down()


def _every_row_has_its_original(settings, store, expected: int) -> None:  # noqa: ANN001
    from chartvault.db import session_scope
    from chartvault.models import Document

    with session_scope(settings) as session:
        docs = list(session.scalars(select(Document)))
    assert len(docs) == expected
    for doc in docs:
        info = store.stat(doc.original_key, doc.original_version)
        assert info.sha256 == doc.sha256 and info.size == doc.size
