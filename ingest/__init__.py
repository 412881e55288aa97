"""Intake of scanned batches: validation, splitting, manifests, dedupe, quarantine.

Public names are loaded lazily: the migrations import ``ingest.models`` and must
not pull in the whole intake stage.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FileOutcome", "IncomingFile", "IntakeOptions", "IntakeResult", "ingest_files"]


def __getattr__(name: str) -> Any:
    if name == "ingest_files":
        from ingest.service import ingest_files

        return ingest_files
    if name in __all__:
        from ingest import interface

        return getattr(interface, name)
    raise AttributeError(name)
