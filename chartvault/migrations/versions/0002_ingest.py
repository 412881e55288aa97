"""ingest schema: intake_file (what each received file became)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_file",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("batch_id", sa.String(32), sa.ForeignKey("batch.id"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("origin", sa.String(400)),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size", sa.BigInteger()),
        sa.Column("kind", sa.String(10)),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("code", sa.String(50)),
        sa.Column("reason", sa.Text()),
        sa.Column("object_key", sa.String(400)),
        sa.Column("object_version", sa.String(200)),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("staged", sa.JSON()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_intake_file_batch_id", "intake_file", ["batch_id"])
    op.create_index("ix_intake_file_origin", "intake_file", ["origin"])
    op.create_index("ix_intake_file_sha256", "intake_file", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_intake_file_sha256", table_name="intake_file")
    op.drop_index("ix_intake_file_origin", table_name="intake_file")
    op.drop_index("ix_intake_file_batch_id", table_name="intake_file")
    op.drop_table("intake_file")
