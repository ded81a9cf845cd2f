"""SQLite: never reuse a deleted credential's id (AUTOINCREMENT).

Without it SQLite hands the highest deleted id to the next insert, so a stale reference (a
table row opened before someone else's delete, an audit record) would point at another
credential, and a delete or an update carrying version 1 could hit it. PostgreSQL sequences
never reuse ids, so there is nothing to do there.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("api_clients", "restricted_tokens")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
