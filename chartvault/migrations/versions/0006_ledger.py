"""the object ledger and retention from each record's own facts

Every object Chartvault writes is a row of ``stored_object`` with its owner and
page; documents say which rule set their date and how far the store locks them.
Rows are backfilled from what the catalog knows: the documents' objects, scan
stacks and staged uploads (``intake_file``), quarantined bytes and certificates.
Documents dated before this revision are ``legacy``: `chartvault retention
recompute` gives them the policy's own date.

Revision ID: 0006
Revises: 0005
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_PAGE = re.compile(r"/pages/(\d{4})[-.]")


def upgrade() -> None:
    with op.batch_alter_table("stored_object") as table:
        table.add_column(sa.Column("owner_type", sa.String(20), nullable=False,
                                   server_default="document"))
        table.add_column(sa.Column("owner_id", sa.String(64), nullable=False,
                                   server_default=""))
        table.add_column(sa.Column("page", sa.Integer(), nullable=True))
        table.create_index("ix_stored_object_owner", ["owner_type", "owner_id"])
    with op.batch_alter_table("document") as table:
        table.add_column(sa.Column("retention_basis", sa.String(20), nullable=False,
                                   server_default="legacy"))
        table.add_column(sa.Column("retention_rule", sa.String(50), nullable=True))
        table.add_column(sa.Column("retention_trigger", sa.String(30), nullable=True))
        table.add_column(sa.Column("retention_trigger_date", sa.Date(), nullable=True))
        table.add_column(sa.Column("locked_until", sa.Date(), nullable=True))
    with op.batch_alter_table("retention_destruction_item") as table:
        table.add_column(sa.Column("objects", sa.JSON(), nullable=True))
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE stored_object SET owner_id = document_id "
                         "WHERE document_id IS NOT NULL"))
    # The page number becomes a column: the last time a key is parsed.
    rows = bind.execute(sa.text(
        "SELECT id, key FROM stored_object WHERE document_id IS NOT NULL")).all()
    for row_id, key in rows:
        found = _PAGE.search(key)
        if found:
            bind.execute(sa.text("UPDATE stored_object SET page = :page WHERE id = :id"),
                         {"page": int(found.group(1)), "id": row_id})
    bind.execute(sa.text(
        "UPDATE document SET locked_until = (SELECT MAX(o.retain_until) FROM stored_object o "
        "WHERE o.document_id = document.id AND o.deleted_at IS NULL)"))
    stacks = bind.execute(sa.text(
        "SELECT id, object_key, object_version, sha256, size FROM intake_file "
        "WHERE object_key IS NOT NULL")).all()
    for file_id, key, version, sha256, size in stacks:
        _record(bind, "intake_file", file_id, "stack", key, version, sha256, size)
    staged = bind.execute(sa.text(
        "SELECT id, staged, sha256, size FROM intake_file WHERE status = 'staged'")).all()
    for file_id, data, sha256, size in staged:
        data = _json(data)
        if data and data.get("key"):
            _record(bind, "intake_file", file_id, "staged", data["key"], data.get("version"),
                    sha256, size)
    kept = bind.execute(sa.text(
        "SELECT id, object_key, object_version, sha256, size FROM quarantine "
        "WHERE object_key IS NOT NULL AND resolved_at IS NULL")).all()
    for entry_id, key, version, sha256, size in kept:
        _record(bind, "quarantine", entry_id, "quarantine", key, version, sha256, size)


def _json(value):  # noqa: ANN001, ANN202
    import json

    return json.loads(value) if isinstance(value, str) else value


def _record(bind, owner_type, owner_id, kind, key, version, sha256, size) -> None:  # noqa: ANN001
    if bind.execute(sa.text("SELECT 1 FROM stored_object WHERE key = :k AND version_id = :v"),
                    {"k": key, "v": version or ""}).first():
        return
    bind.execute(sa.text(
        "INSERT INTO stored_object (document_id, owner_type, owner_id, kind, key, version_id, "
        "sha256, size, content_type, legal_hold, created_at) VALUES (NULL, :ot, :oi, :kind, "
        ":key, :version, :sha, :size, 'application/octet-stream', :hold, CURRENT_TIMESTAMP)"),
        {"ot": owner_type, "oi": owner_id, "kind": kind, "key": key, "version": version or "",
         "sha": sha256 or "", "size": size or 0, "hold": False})


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM stored_object WHERE document_id IS NULL"))
    with op.batch_alter_table("retention_destruction_item") as table:
        table.drop_column("objects")
    with op.batch_alter_table("document") as table:
        for name in ("locked_until", "retention_trigger_date", "retention_trigger",
                     "retention_rule", "retention_basis"):
            table.drop_column(name)
    with op.batch_alter_table("stored_object") as table:
        table.drop_index("ix_stored_object_owner")
        for name in ("page", "owner_id", "owner_type"):
            table.drop_column(name)
