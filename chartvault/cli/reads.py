"""Audit events of the commands that show patient data without opening a document."""

from __future__ import annotations

import getpass
from typing import Any

from chartvault.settings import Settings


def cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


def record_read(settings: Settings, object_type: str, object_id: str = "", *,
                action: str = "view", mrn: str | None = None, **detail: Any) -> None:
    """One event for what the command just showed (call it once, after the read)."""
    from chartvault import audit
    from chartvault.db import session_scope

    with session_scope(settings) as session:
        audit.record(session, cli_actor(), action, object_type=object_type,
                     object_id=object_id, mrn=mrn, detail=detail)
