"""Engine, sessions and automatic migration of the catalog."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from chartvault.errors import Unavailable
from chartvault.files import FILE_MODE, private_file, private_folder, tighten
from chartvault.settings import Settings

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration's revision (a test checks it against migrations/versions): a
# catalog already there is recognised without importing alembic and reading every
# migration script, ~0.17 s of every command's and worker's start.
HEAD_REVISION = "0008"


class CatalogUnavailable(Unavailable):
    code = "catalog_unavailable"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    # WAL lets the web process read while workers write; busy_timeout makes
    # concurrent writers wait for the lock instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows are overwritten with zeros, not left in free space (a destroyed chart's
    # text must not stay readable in the file); the default of some builds, not of all.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_catalog(Path(path))
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _private_catalog(path: Path) -> None:
    """The catalog file made 0600 before SQLite opens it (its -wal and -shm files take
    the database file's mode), its folder 0700 if made here; an older catalog's files
    are tightened."""
    private_folder(path.parent, tighten_existing=False)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(Path(f"{path}{suffix}"), FILE_MODE)


def purge_free_pages(settings: Settings) -> None:
    """After rows were deleted (destruction): leave none of their bytes in the catalog's
    files. Idempotent; raises :class:`CatalogUnavailable` if it could not finish.

    SQLite: every connection deletes with ``secure_delete`` (the row's bytes zeroed in the
    new page versions), but the old versions of those pages stay in the database file
    until a checkpoint copies the new ones over them, and in the write-ahead log until it
    is reset: a TRUNCATE checkpoint does both (the log is emptied to 0 bytes). It waits
    for readers (busy_timeout) and fails rather than report a partial checkpoint.

    PostgreSQL has no secure delete: a plain ``VACUUM`` of the database removes the dead
    rows (no query or page inspection of live data sees them; their space is reused by
    later writes) without locking out reads or writes. The bytes may stay in the tables'
    free space and in WAL segments until reused; ``VACUUM FULL`` rewrites the tables but
    locks each one for the whole rewrite, so it is left to the operator (README)."""
    engine = engine_for(settings)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if connection.dialect.name == "sqlite":
                busy, log_frames, done = connection.exec_driver_sql(
                    "PRAGMA wal_checkpoint(TRUNCATE)").one()
                if busy:
                    raise CatalogUnavailable(
                        "the catalog is busy (a long read or write held it): its log could "
                        f"not be checkpointed ({done} of {log_frames} pages); try again")
            elif connection.dialect.name == "postgresql":
                connection.exec_driver_sql("VACUUM")
    except OperationalError as exc:
        raise CatalogUnavailable(f"the catalog database is unreachable: {exc.orig}") from exc


def migrate(engine: Engine) -> None:
    """Bring the schema to head; idempotent, safe to call from many processes at once."""
    if _revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with _migration_lock(engine), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(7460001)"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise CatalogUnavailable(f"the catalog database is unreachable: {exc.orig}") from exc


def _revision(engine: Engine) -> str | None:
    """The catalog's schema revision; None when it has none yet or cannot be read (then
    :func:`migrate` takes the full path, which creates it or reports the outage)."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """SQLite has no advisory locks: processes starting together take a lock file."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_FACTORIES: dict[str, sessionmaker[Session]] = {}


def _factory(url: str) -> sessionmaker[Session]:
    """One engine per database URL per process, migrated on first use."""
    factory = _FACTORIES.get(url)
    if factory is None:
        engine = make_engine(url)
        migrate(engine)
        factory = _FACTORIES[url] = sessionmaker(engine, expire_on_commit=False)
    return factory


def engine_for(settings: Settings) -> Engine:
    return _factory(settings.database_url).kw["bind"]


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    session = _factory(settings.database_url)()
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise CatalogUnavailable(f"the catalog database is unreachable: {exc.orig}") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_all() -> None:
    """Close pooled connections and forget the engines (after fork, between tests)."""
    while _FACTORIES:
        _, factory = _FACTORIES.popitem()
        factory.kw["bind"].dispose()
