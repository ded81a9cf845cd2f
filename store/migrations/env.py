"""Alembic environment: always run programmatically with a connection from store.database."""

from alembic import context

from turris_api.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
