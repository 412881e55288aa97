"""Alembic environment: runs on the connection handed over by chartvault.db.migrate."""

from alembic import context

import chartvault.audit_models  # noqa: F401  (audit tables)
import ingest.models  # noqa: F401  (intake tables)
import retention.models  # noqa: F401  (retention tables)
from chartvault.models import Base

connection = context.config.attributes.get("connection")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
