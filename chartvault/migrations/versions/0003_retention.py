"""retention schema: hold scope rows, destruction items, policy versions, the due-sweep index

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_document_hold_retain_until", "document", ["hold", "retain_until"])
    op.create_table(
        "retention_hold_scope",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("hold_id", sa.String(32), sa.ForeignKey("legal_hold.id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("value", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("hold_id", "kind", "value"),
    )
    op.create_index("ix_retention_hold_scope_hold_id", "retention_hold_scope", ["hold_id"])
    op.create_index("ix_retention_hold_scope_value", "retention_hold_scope", ["kind", "value"])
    op.create_table(
        "retention_destruction_item",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("destruction_id", sa.String(32), sa.ForeignKey("destruction.id"),
                  nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("mrn", sa.String(32), nullable=False),
        sa.Column("doc_type", sa.String(50), nullable=False),
        sa.Column("service_date", sa.Date()),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("retain_until", sa.Date()),
        sa.Column("policy_version", sa.String(64)),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("done_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_retention_destruction_item_destruction_id",
                    "retention_destruction_item", ["destruction_id"])
    op.create_table(
        "retention_policy_version",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("retention_policy_version")
    op.drop_table("retention_destruction_item")
    op.drop_table("retention_hold_scope")
    op.drop_index("ix_document_hold_retain_until", table_name="document")
