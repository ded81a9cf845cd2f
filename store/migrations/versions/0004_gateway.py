"""Not-before times for API Clients, and revoked JWTs.

A status change (or the plan losing API access) sets `not_before`: JWTs issued before it stay
refused even once the client is active again. Revoked JWTs are kept by `jti` until they expire,
in the database so that every instance refuses them at once.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from turris_api.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_clients", sa.Column("not_before", UTCDateTime, nullable=True))
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
        sa.Column("revoked_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("revoked_tokens")
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_column("not_before")
