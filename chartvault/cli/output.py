"""Printing results: JSON for machines, rich tables for people."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import click


def _default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_default, ensure_ascii=False))


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    grid = Table(title=escape(title))
    for column in columns:
        grid.add_column(escape(column))
    for row in rows:
        # Cells hold file names and OCR text: untrusted, and "[word]" is rich markup.
        grid.add_row(*("" if v is None else escape(str(v)) for v in row))
    Console().print(grid)
