"""audit schema: the accounting of disclosures

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disclosure",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("document_id", sa.String(32), sa.ForeignKey("document.id"), nullable=False),
        sa.Column("mrn", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("disclosed_by", sa.String(100), nullable=False),
        sa.Column("disclosed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_disclosure_document_id", "disclosure", ["document_id"])
    op.create_index("ix_disclosure_mrn_at", "disclosure", ["mrn", "disclosed_at"])


def downgrade() -> None:
    op.drop_index("ix_disclosure_mrn_at", table_name="disclosure")
    op.drop_index("ix_disclosure_document_id", table_name="disclosure")
    op.drop_table("disclosure")
