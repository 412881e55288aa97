"""Migration 0002 (intake_file) goes up and down on SQLite."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from chartvault.db import MIGRATIONS, make_engine


def _run(engine, action, target: str) -> None:  # noqa: ANN001
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, target)


def test_0002_up_and_down(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    try:
        _run(engine, command.upgrade, "0002")
        assert "intake_file" in inspect(engine).get_table_names()
        columns = {c["name"] for c in inspect(engine).get_columns("intake_file")}
        wanted = {"batch_id", "origin", "sha256", "status", "parts", "object_key", "staged"}
        assert wanted <= columns
        _run(engine, command.downgrade, "0001")
        assert "intake_file" not in inspect(engine).get_table_names()
        _run(engine, command.upgrade, "0002")
        assert "intake_file" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
