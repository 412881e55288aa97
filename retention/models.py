"""Tables of the records lifecycle: hold scope rows and destruction items.

A destroyed document keeps its catalog row as a tombstone (status
``destroyed``, file names, keys and hashes scrubbed, pages and stored objects
removed); its :class:`DestructionItem` keeps what the certificate lists.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chartvault.models import Base, Document, utcnow

# The due sweep: "not held and retained until before today", on a million rows.
Index("ix_document_hold_retain_until", Document.__table__.c.hold,
      Document.__table__.c.retain_until)


class HoldScope(Base):
    """One thing a legal hold covers: a patient (MRN) or a document id."""

    __tablename__ = "retention_hold_scope"
    __table_args__ = (UniqueConstraint("hold_id", "kind", "value"),
                      Index("ix_retention_hold_scope_value", "kind", "value"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hold_id: Mapped[str] = mapped_column(ForeignKey("legal_hold.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # mrn | document
    value: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)


class DestructionItem(Base):
    """One document of a destruction list and how its destruction went."""

    __tablename__ = "retention_destruction_item"
    # One index only: a night's list is written in one INSERT ... SELECT of up to
    # hundreds of thousands of rows, and every extra index made that 3x slower.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    destruction_id: Mapped[str] = mapped_column(ForeignKey("destruction.id"), index=True)
    document_id: Mapped[str] = mapped_column(String(32))
    mrn: Mapped[str] = mapped_column(String(32))
    doc_type: Mapped[str] = mapped_column(String(50))
    service_date: Mapped[date | None] = mapped_column(Date)
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    retain_until: Mapped[date | None] = mapped_column(Date)
    policy_version: Mapped[str | None] = mapped_column(String(64))
    # pending -> deleting -> destroyed ; skipped (no longer due, with the reason) ;
    # waiting (something still holds a copy: retried at the next execution, with the reason)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    # every object version destroyed: [{"key", "version", "sha256", "kind"}]
    objects: Mapped[list[Any] | None] = mapped_column(JSON)
    done_at: Mapped[datetime | None] = mapped_column()


class PolicyVersion(Base):
    """Every policy version that set a date or a list, kept so its text stays known."""

    __tablename__ = "retention_policy_version"
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
