"""Member access tokens and JWT signing keys for the credential service.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from turris_api.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("locator", sa.String(32), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(255), nullable=False),
        sa.Column("token_last4", sa.String(4), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_used_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("private_key", sa.Text, nullable=False),
        sa.Column("public_jwk", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("rotated_at", UTCDateTime, nullable=True),
    )
    # Listings sort by name within an organization.
    op.create_index("ix_api_clients_org_name", "api_clients", ["organization_id", "name"])
    op.create_index("ix_restricted_tokens_org_name", "restricted_tokens", ["organization_id", "name"])


def downgrade() -> None:
    op.drop_index("ix_restricted_tokens_org_name", "restricted_tokens")
    op.drop_index("ix_api_clients_org_name", "api_clients")
    op.drop_table("signing_keys")
    op.drop_table("member_tokens")
