"""Rolling secrets with an overlap, credential expiry, the address of last use, a lifetime cap.

A rolled credential keeps its previous value's hash and last four until `old_*_expires_at`;
`expires_at` ends a credential for good (it stays listed); `last_used_ip` is where a Restricted
Access Token was last used from; an organization may cap credential lifetimes.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from turris_api.store.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.add_column(sa.Column("old_secret_hash", sa.String(255), nullable=True))
        batch.add_column(sa.Column("old_secret_last4", sa.String(4), nullable=True))
        batch.add_column(sa.Column("old_secret_expires_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("expires_at", UTCDateTime, nullable=True))
    with op.batch_alter_table("restricted_tokens") as batch:
        batch.add_column(sa.Column("old_token_hash", sa.String(255), nullable=True))
        batch.add_column(sa.Column("old_token_last4", sa.String(4), nullable=True))
        batch.add_column(sa.Column("old_token_expires_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("expires_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("last_used_ip", sa.String(45), nullable=True))
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("max_lifetime_days", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("max_lifetime_days")
    with op.batch_alter_table("restricted_tokens") as batch:
        for name in ("last_used_ip", "expires_at", "old_token_expires_at", "old_token_last4", "old_token_hash"):
            batch.drop_column(name)
    with op.batch_alter_table("api_clients") as batch:
        for name in ("expires_at", "old_secret_expires_at", "old_secret_last4", "old_secret_hash"):
            batch.drop_column(name)
