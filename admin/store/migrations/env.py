"""Alembic's environment: always run programmatically by admin.store.migrate, which hands
over a connection already holding the migration lock. Batch mode keeps ALTERs portable to
SQLite, which rewrites a table to change it."""

from __future__ import annotations

from alembic import context

from admin.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
