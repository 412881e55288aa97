"""Intake on PostgreSQL: the 0002 migration, splitting, manifests and quarantine."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from tests.support.ingest_stacks import three_patients, write_stack

pytestmark = pytest.mark.integration


def test_intake_on_postgres(cv_env, postgres_url: str, tmp_path: Path,  # noqa: ANN001
                            monkeypatch: pytest.MonkeyPatch) -> None:
    from archive import open_store
    from chartvault.db import engine_for, session_scope
    from chartvault.settings import get_settings, reset_settings_cache
    from ingest.interface import IncomingFile, IntakeOptions
    from ingest.models import IntakeFile
    from ingest.quarantine import discard, list_entries
    from ingest.service import ingest_files

    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", postgres_url)
    reset_settings_cache()
    settings = get_settings()
    covers = three_patients()
    stack = tmp_path / "stack.pdf"
    write_stack([("cover", covers[0], 1), ("cover", covers[1], 2)], stack)
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.4 broken")
    manifest = tmp_path / "m.csv"
    manifest.write_text("filename,mrn,document_type\nmissing.pdf,TST000001,consent\n")
    result = ingest_files(settings, open_store(settings),
                          [IncomingFile(p, p.name) for p in (manifest, stack, junk)],
                          IntakeOptions(actor="test"), lambda _id: None)
    assert [o.status for o in result.outcomes] == ["manifest", "quarantined", "queued",
                                                   "queued", "quarantined"]
    with session_scope(settings) as session:
        stored = session.scalars(select(IntakeFile).where(IntakeFile.kind == "pdf")).all()
        assert [f.status for f in stored] == ["split"]
        assert stored[0].parts[1]["pages"] == "4-5"
    assert "intake_file" in sa_inspect(engine_for(settings)).get_table_names()
    entries = list_entries(settings)
    assert {e["code"] for e in entries} == {"manifest_file_missing", "corrupt_pdf"}
    discard(settings, open_store(settings), entries[0]["id"], "clerk", "not needed")
    assert len(list_entries(settings)) == 1
