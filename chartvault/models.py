"""The catalog: SQLAlchemy 2 models, the source of truth for state.

Schema changes go through Alembic (``chartvault/migrations``); the database is
migrated to head automatically on start.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Patient(Base):
    """PHI: never log a field of this table."""

    __tablename__ = "patient"
    mrn: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    date_of_death: Mapped[date | None] = mapped_column(Date)
    last_encounter: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Batch(Base):
    __tablename__ = "batch"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(20))  # web | api | hotfolder | cli
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | done
    documents: Mapped[list[Document]] = relationship(back_populates="batch")


class Document(Base):
    __tablename__ = "document"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"), index=True)
    mrn: Mapped[str] = mapped_column(ForeignKey("patient.mrn"), index=True)
    doc_type: Mapped[str] = mapped_column(String(50))
    service_date: Mapped[date | None] = mapped_column(Date)
    facility: Mapped[str] = mapped_column(String(100), default="")
    filename: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str] = mapped_column(String(100))
    original_key: Mapped[str] = mapped_column(String(400))
    original_version: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    # received -> ocr -> finishing -> indexed ; failed ; destroyed
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    mean_confidence: Mapped[float | None] = mapped_column(Float)
    pdf_key: Mapped[str | None] = mapped_column(String(400))
    retention_class: Mapped[str] = mapped_column(String(50), default="default")
    retain_until: Mapped[date | None] = mapped_column(Date, index=True)
    policy_version: Mapped[str | None] = mapped_column(String(64))
    # Why retain_until is what it is: "policy" (the policy's own date, only ever
    # extended), "intake_default" (facts incomplete at intake: replaced by the policy's
    # date once the facts arrive) or "legacy" (set before 0006: `retention recompute`).
    retention_basis: Mapped[str] = mapped_column(String(20), default="policy")
    retention_rule: Mapped[str | None] = mapped_column(String(50))  # class name or "minors"
    retention_trigger: Mapped[str | None] = mapped_column(String(30))
    retention_trigger_date: Mapped[date | None] = mapped_column(Date)
    # The latest store lock (Object Lock retain-until) on any live object of the
    # document; it can be later than retain_until (COMPLIANCE locks never shorten).
    locked_until: Mapped[date | None] = mapped_column(Date)
    hold: Mapped[bool] = mapped_column(Boolean, default=False)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    indexed_at: Mapped[datetime | None] = mapped_column()
    destroyed_at: Mapped[datetime | None] = mapped_column()

    batch: Mapped[Batch] = relationship(back_populates="documents")
    patient: Mapped[Patient] = relationship()
    pages: Mapped[list[Page]] = relationship(
        back_populates="document", order_by="Page.number", cascade="all, delete-orphan"
    )
    objects: Mapped[list[StoredObject]] = relationship(
        back_populates="document", cascade="all, delete-orphan"
    )


class Page(Base):
    __tablename__ = "page"
    __table_args__ = (UniqueConstraint("document_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("document.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|done|failed
    text: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(20))  # ocr | text-layer
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    dpi: Mapped[int | None] = mapped_column(Integer)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    blank: Mapped[bool] = mapped_column(Boolean, default=False)
    # low_confidence | no_text (ink, but no word read) | blank | failed
    flag: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    image_key: Mapped[str | None] = mapped_column(String(400))
    words_key: Mapped[str | None] = mapped_column(String(400))
    pdf_key: Mapped[str | None] = mapped_column(String(400))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    document: Mapped[Document] = relationship(back_populates="pages")


class StoredObject(Base):
    """The object ledger: one row per object version Chartvault wrote to the store.

    Written only through :mod:`archive.ledger`, which builds the key (``archive.keys``)
    and records it here; retention, holds, fixity, destruction and the viewer read these
    rows and never parse keys. ``owner_type`` is ``document``, ``intake_file`` (a scan
    stack, a staged upload), ``quarantine``, ``destruction`` (certificates) or ``audit``
    (anchors); ``document_id`` is set for a document's own objects.
    """

    __tablename__ = "stored_object"
    __table_args__ = (UniqueConstraint("key", "version_id"),
                      Index("ix_stored_object_owner", "owner_type", "owner_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str | None] = mapped_column(ForeignKey("document.id"), index=True)
    owner_type: Mapped[str] = mapped_column(String(20), default="document")
    owner_id: Mapped[str] = mapped_column(String(64), default="")
    # original | pdf | page-pdf | page-words | page-image-small | page-image-large |
    # stack | staged | quarantine | certificate | anchor
    kind: Mapped[str] = mapped_column(String(30))
    page: Mapped[int | None] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(400), index=True)
    version_id: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    retain_until: Mapped[date | None] = mapped_column(Date)  # the store's lock, if any
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column()
    document: Mapped[Document | None] = relationship(back_populates="objects")


class QuarantineEntry(Base):
    """A file that could not be taken in, kept with its reason until a clerk acts."""

    __tablename__ = "quarantine"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    object_key: Mapped[str | None] = mapped_column(String(400))
    object_version: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolution: Mapped[str | None] = mapped_column(String(20))  # released | discarded


class LegalHold(Base):
    __tablename__ = "legal_hold"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    scope: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"mrns": [], "documents": []}
    placed_by: Mapped[str] = mapped_column(String(100))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_by: Mapped[str | None] = mapped_column(String(100))
    released_at: Mapped[datetime | None] = mapped_column()
    release_reason: Mapped[str | None] = mapped_column(Text)


class Destruction(Base):
    __tablename__ = "destruction"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    items: Mapped[dict[str, Any]] = mapped_column(default=dict)
    policy_version: Mapped[str | None] = mapped_column(String(64))
    proposed_by: Mapped[str] = mapped_column(String(100))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[datetime | None] = mapped_column()
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    confirmed_at: Mapped[datetime | None] = mapped_column()
    executed_by: Mapped[str | None] = mapped_column(String(100))
    executed_at: Mapped[datetime | None] = mapped_column()
    certificate_key: Mapped[str | None] = mapped_column(String(400))


class AuditEvent(Base):
    """Append-only; ``hash`` chains each event to the one before it."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_object", "object_type", "object_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50), index=True)
    object_type: Mapped[str] = mapped_column(String(30), default="")
    object_id: Mapped[str] = mapped_column(String(100), default="")
    mrn: Mapped[str | None] = mapped_column(String(32), index=True)
    client: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the chain head, updated in the same transaction as each append."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(30))
    token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a password someone else chose (setup, demo, an admin's reset): the first sign-in
    # must replace it before anything else
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    last_login_at: Mapped[datetime | None] = mapped_column()
    token_created_at: Mapped[datetime | None] = mapped_column()


class UserSession(Base):
    """One signed-in browser. The cookie carries a random key; only its SHA-256 is kept,
    so a copy of this table signs no one in. Ended rows stay as the record of who was
    signed in when (``end_reason``: logout, timeout, password, role, disabled, admin)."""

    __tablename__ = "user_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    client: Mapped[str | None] = mapped_column(String(100))
    ended_at: Mapped[datetime | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(20))
