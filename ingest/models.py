"""Catalog tables of the intake stage (migration 0002)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chartvault.models import Base, new_id, utcnow


class IntakeFile(Base):
    """One file of a batch as it was received, and what became of it.

    ``parts`` lists what was made of it: ``[{"pages": "2-11", "status": "queued",
    "document_id": ..., "quarantine_id": ..., "duplicate_of": ...}]``. When a
    stack is split, the stack itself is archived too (``object_key``), so the
    pages as scanned, separator sheets included, are never lost.
    """

    __tablename__ = "intake_file"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    origin: Mapped[str | None] = mapped_column(String(400), index=True)  # hot-folder entry
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    size: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str | None] = mapped_column(String(10))
    pages: Mapped[int] = mapped_column(Integer, default=0)
    # [staged ->] received -> archived | split | duplicate | quarantined | failed
    status: Mapped[str] = mapped_column(String(20), default="received")
    code: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str | None] = mapped_column(Text)
    object_key: Mapped[str | None] = mapped_column(String(400))
    object_version: Mapped[str | None] = mapped_column(String(200))
    parts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # A staged file (taken in by a worker): its intake options, manifest rows and
    # staging object. PHI (name, date of birth): never log it.
    staged: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
