"""A deleted row's text leaves the catalog's files (issue 20, item 5): SQLite deletes with
secure_delete on every connection, and purge_free_pages checkpoints the write-ahead log
so the old page versions are overwritten and the log emptied."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, text

from chartvault import db
from chartvault.db import engine_for, purge_free_pages, session_scope
from chartvault.models import Batch, Document, Page, Patient

MARKER = "QWZYXDESTROYEDWORD"


def _chart(settings, document_id: str, page_text: str) -> None:  # noqa: ANN001
    with session_scope(settings) as session:
        if session.get(Patient, "TST000001") is None:
            session.add(Patient(mrn="TST000001", name="TESTPATIENT, Bob",
                                date_of_birth=date(1980, 1, 1)))
            session.add(Batch(id="b1", created_by="tester", source="cli"))
            session.flush()
        session.add(Document(id=document_id, batch_id="b1", mrn="TST000001",
                             doc_type="consent", filename="x.pdf", mime="application/pdf",
                             original_key="k", original_version="v", sha256="0" * 64,
                             size=1, page_count=1))
        session.flush()
        session.add(Page(document_id=document_id, number=1, status="done", text=page_text))


def _files(settings) -> list[Path]:  # noqa: ANN001
    catalog = Path(engine_for(settings).url.database)
    return [catalog, Path(f"{catalog}-wal"), Path(f"{catalog}-shm")]


def _holding(settings, word: str) -> list[str]:  # noqa: ANN001
    return [p.name for p in _files(settings) if p.exists() and word.encode() in p.read_bytes()]


@pytest.mark.parametrize("how", ["delete", "clear"])  # the rows deleted / the text set NULL
@pytest.mark.parametrize("size", ["short", "long"])  # in the page's cell / overflow pages
def test_deleted_page_text_is_gone_from_the_sqlite_files(settings, size: str,  # noqa: ANN001
                                                         how: str) -> None:
    filler = "routine follow up visit " * (1 if size == "short" else 800)
    _chart(settings, "kept", f"{filler} the chart that stays LIVEWORDKEPT")
    _chart(settings, "gone", f"{filler} {MARKER} end of page")
    purge_free_pages(settings)  # the text is in the database file itself now
    assert _holding(settings, MARKER) == ["catalog.sqlite3"]
    with session_scope(settings) as session:
        if how == "delete":
            session.delete(session.get(Document, "gone"))
        else:
            session.get(Document, "gone").pages[0].text = None
    # the delete's new page versions are in the log; the old ones still in the file
    assert _holding(settings, MARKER) == ["catalog.sqlite3"]
    purge_free_pages(settings)
    assert _holding(settings, MARKER) == []
    assert _files(settings)[1].stat().st_size == 0  # the log emptied, not only reused
    assert _holding(settings, "LIVEWORDKEPT") == ["catalog.sqlite3"]
    with session_scope(settings) as session:
        left = ["kept"] if how == "delete" else ["gone", "kept"]
        assert sorted(session.scalars(select(Page.document_id))) == left
    purge_free_pages(settings)  # idempotent


def test_every_catalog_connection_deletes_securely(settings, tmp_path) -> None:  # noqa: ANN001
    raw = sqlite3.connect(tmp_path / "other.sqlite3")
    raw.execute("PRAGMA secure_delete=OFF")  # as a build whose default is off
    db._sqlite_pragmas(raw, None)
    assert raw.execute("PRAGMA secure_delete").fetchone() == (1,)
    raw.close()
    with engine_for(settings).connect() as connection:
        assert connection.execute(text("PRAGMA secure_delete")).scalar() == 1


@pytest.mark.integration
def test_purge_free_pages_vacuums_postgresql(cv_env, postgres_url: str,  # noqa: ANN001
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from chartvault.settings import get_settings, reset_settings_cache

    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", postgres_url)
    reset_settings_cache()
    settings = get_settings()
    _chart(settings, "kept", "the chart that stays")
    _chart(settings, "gone", f"{MARKER} end of page")
    with session_scope(settings) as session:
        session.delete(session.get(Document, "gone"))
        before = session.execute(text(
            "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'page'")).scalar()
    purge_free_pages(settings)  # VACUUM cannot run in a transaction: this one does not
    with session_scope(settings) as session:
        after = session.execute(text(
            "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'page'")).scalar()
        assert session.scalars(select(Page.document_id)).all() == ["kept"]
    assert after == before + 1
