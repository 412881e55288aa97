"""Archives made before the object ledger: `chartvault retention recompute` gives each
record its policy's own date and reports the store locks it cannot shorten; the
migration backfills the ledger from what the catalog knew."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select, text

from chartvault.cli import main
from chartvault.db import make_engine, session_scope
from chartvault.models import Document, StoredObject
from retention.destruction import due_documents


def _legacy(settings, seeder, mrn: str, served: date, locked: datetime | None) -> str:  # noqa: ANN001
    """A record as intake wrote it before 0006: scan date + 10 years, locked so."""
    until = date.today() + timedelta(days=3652)
    document_id = seeder.document(mrn, served, retain_until=until, object_retention=locked)
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        doc.retention_basis, doc.policy_version = "legacy", None
        doc.locked_until = locked.date() if locked else None
    return document_id


def test_recompute_sets_policy_dates_and_reports_locks_it_cannot_shorten(settings, store,  # noqa: ANN001
                                                                        seeder) -> None:
    lock = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3652)
    locked = _legacy(settings, seeder, "TST773001", date(1990, 1, 15), lock)
    unlocked = _legacy(settings, seeder, "TST773002", date(1991, 2, 3), None)
    result = CliRunner().invoke(main, ["retention", "recompute", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["changed"] == 2
    [later] = report["locked_later"]
    assert later["document_id"] == locked and later["retain_until"] == "2000-01-15"
    assert {o["locked_until"] for o in later["locked"]} == {lock.date().isoformat()}
    assert len(later["locked"]) == 3  # two versions of the original and the PDF
    with session_scope(settings) as session:
        doc = session.get(Document, locked)
        assert (doc.retain_until, doc.retention_basis) == (date(2000, 1, 15), "policy")
        assert doc.locked_until == lock.date()
    for info in store.list_versions(f"documents/{locked}/"):  # nothing shortened
        assert info.retain_until == lock
    due = {d.document_id for d in due_documents(settings)}
    assert unlocked in due and locked not in due  # due when its lock ends
    text_out = CliRunner().invoke(main, ["retention", "recompute"], catch_exceptions=False)
    assert "0 document date(s) changed; 1 record(s) locked" in text_out.output


def test_recompute_never_shortens_a_policy_date(settings, seeder) -> None:  # noqa: ANN001
    document_id = seeder.document("TST773003", date(1990, 1, 15), retain_until=date(2030, 1, 1))
    with session_scope(settings) as session:
        session.get(Document, document_id).retention_basis = "policy"
    CliRunner().invoke(main, ["retention", "recompute"], catch_exceptions=False)
    with session_scope(settings) as session:
        assert session.get(Document, document_id).retain_until == date(2030, 1, 1)


def _alembic(engine, target: str) -> None:  # noqa: ANN001
    from alembic import command
    from alembic.config import Config

    from chartvault.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def test_0006_backfills_the_ledger_from_the_catalog(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    try:
        _alembic(engine, "0005")
        with engine.begin() as db:
            db.execute(text("INSERT INTO patient (mrn, name, created_at) "
                            "VALUES ('TST1', '', CURRENT_TIMESTAMP)"))
            db.execute(text("INSERT INTO batch (id, created_by, created_at, source, status) "
                            "VALUES ('b1', 'x', CURRENT_TIMESTAMP, 'cli', 'done')"))
            db.execute(text(
                "INSERT INTO document (id, batch_id, mrn, doc_type, facility, filename, mime, "
                "original_key, original_version, sha256, size, page_count, status, "
                "needs_review, retention_class, retain_until, hold, restricted, version, "
                "created_at, updated_at) VALUES ('d1', 'b1', 'TST1', 'progress_note', '', "
                "'a.pdf', 'application/pdf', 'documents/d1/original-ab.pdf', 'v1', 'ab', 1, 1, "
                "'indexed', 0, 'default', '2036-12-06', 0, 0, 1, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"))
            for key, kind in (("documents/d1/original-ab.pdf", "original"),
                              ("documents/d1/pages/0003-small.jpg", "page-image-small")):
                db.execute(text(
                    "INSERT INTO stored_object (document_id, kind, key, version_id, sha256, "
                    "size, content_type, retain_until, legal_hold, created_at) VALUES "
                    "('d1', :kind, :key, 'v1', 'ab', 1, 'x', '2036-12-06', 0, "
                    "CURRENT_TIMESTAMP)"), {"kind": kind, "key": key})
            db.execute(text(
                "INSERT INTO intake_file (id, batch_id, filename, sha256, size, pages, status, "
                "object_key, object_version, parts, created_at, updated_at) VALUES ('f1', 'b1', "
                "'stack.pdf', 'cd', 9, 4, 'split', 'batches/b1/f1.pdf', 'v9', '[]', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        _alembic(engine, "head")
        with engine.connect() as db:
            rows = {r.key: r for r in db.execute(select(StoredObject.__table__))}
            assert rows["documents/d1/pages/0003-small.jpg"].page == 3
            assert rows["documents/d1/original-ab.pdf"].owner_id == "d1"
            stack = rows["batches/b1/f1.pdf"]
            assert (stack.owner_type, stack.owner_id, stack.kind, stack.version_id,
                    stack.sha256) == ("intake_file", "f1", "stack", "v9", "cd")
            doc = db.execute(select(Document.__table__)).one()
            assert doc.retention_basis == "legacy" and str(doc.locked_until) == "2036-12-06"
    finally:
        engine.dispose()
