"""Tables of the audit work: the accounting of disclosures.

Every disclosure is also an audit event (``disclose``) in the hash chain; this
table makes the HIPAA accounting (who received what, when, why) a plain query.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chartvault.models import Base, new_id, utcnow


class Disclosure(Base):
    """A release of information: a document given to someone outside, and why."""

    __tablename__ = "disclosure"
    __table_args__ = (Index("ix_disclosure_mrn_at", "mrn", "disclosed_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    document_id: Mapped[str] = mapped_column(ForeignKey("document.id"), index=True)
    mrn: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    disclosed_by: Mapped[str] = mapped_column(String(100))
    disclosed_at: Mapped[datetime] = mapped_column(default=utcnow)
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)
