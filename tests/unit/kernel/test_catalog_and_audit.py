from datetime import date

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, update

from chartvault import audit
from chartvault.db import engine_for, session_scope
from chartvault.models import AuditEvent, Batch, Document, Patient


def _exercise(settings) -> None:  # noqa: ANN001
    with session_scope(settings) as session:
        session.add(Patient(mrn="TST000001", name="TESTPATIENT, Bob",
                            date_of_birth=date(1980, 1, 1)))
        session.add(Batch(id="b1", created_by="tester", source="cli"))
        session.flush()
        session.add(Document(id="d1", batch_id="b1", mrn="TST000001", doc_type="consent",
                             filename="x.pdf", mime="application/pdf", original_key="k",
                             original_version="v", sha256="0" * 64, size=1, page_count=1))
        for n in range(5):
            audit.record(session, "tester", "view", object_type="document", object_id="d1",
                         mrn="TST000001", detail={"n": n})
    with session_scope(settings) as session:
        assert audit.verify(session).ok
        assert audit.verify(session).events == 5


def test_migrations_create_every_table(settings) -> None:  # noqa: ANN001
    tables = set(sa_inspect(engine_for(settings)).get_table_names())
    assert {"patient", "batch", "document", "page", "stored_object", "quarantine",
            "legal_hold", "destruction", "audit_event", "audit_head", "user_account",
            "alembic_version"} <= tables


def test_head_revision_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from chartvault.db import HEAD_REVISION, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_a_catalog_at_head_is_not_migrated_again_and_an_older_one_is(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import alembic.command

    from chartvault.db import make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    migrate(engine)  # a new catalog: created by alembic
    upgrades: list[str] = []
    real_upgrade = alembic.command.upgrade
    monkeypatch.setattr(alembic.command, "upgrade",
                        lambda config, rev: upgrades.append(rev) or real_upgrade(config, rev))
    migrate(engine)
    assert upgrades == []  # at head: alembic not run
    from alembic.config import Config

    from chartvault.db import HEAD_REVISION, MIGRATIONS, _revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:  # a catalog one migration behind
        config.attributes["connection"] = connection
        alembic.command.downgrade(config, "-1")
    assert _revision(engine) != HEAD_REVISION
    migrate(engine)
    assert upgrades == ["head"]
    assert _revision(engine) == HEAD_REVISION


def test_audit_chain_detects_an_edited_row(settings) -> None:  # noqa: ANN001
    _exercise(settings)
    with session_scope(settings) as session:
        session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(actor="mallory"))
    with session_scope(settings) as session:
        report = audit.verify(session)
    assert not report.ok and report.first_broken_seq == 3


def test_audit_chain_detects_a_deleted_row(settings) -> None:  # noqa: ANN001
    _exercise(settings)
    with session_scope(settings) as session:
        session.delete(session.scalar(select(AuditEvent).where(AuditEvent.seq == 2)))
    with session_scope(settings) as session:
        report = audit.verify(session)
    assert report.first_broken_seq == 2 and "missing" in report.problem


@pytest.mark.integration
def test_catalog_on_postgres(cv_env, postgres_url, monkeypatch) -> None:  # noqa: ANN001
    from chartvault.settings import get_settings, reset_settings_cache

    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", postgres_url)
    reset_settings_cache()
    settings = get_settings()
    assert engine_for(settings).dialect.name == "postgresql"
    _exercise(settings)
