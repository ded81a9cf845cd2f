"""Member token lifetimes, emails unique per organization, and audit records beyond credentials.

Member access tokens get an expiry; the ones already out expire MEMBER_TOKEN_GRACE after this
migration rather than at once. An address is unique within an organization only (a global
constraint told an admin whether an address existed in another organization). The audit log
gets room for an email as a name and a `detail` of what changed. On SQLite, members and member
tokens keep their ids for good (AUTOINCREMENT), as credentials do since 0003: a removed member or
a revoked token must never lend its id to someone else.

Revision ID: 0005
Revises: 0004
"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from turris_api.store.schema import UTCDateTime, utcnow

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MEMBER_TOKEN_GRACE = timedelta(days=90)
ORG_EMAIL = "uq_members_organization_email"
# SQLite keeps 0001's constraint unnamed: batch mode finds it under this name.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _email_constraint() -> str:
    for found in sa.inspect(op.get_bind()).get_unique_constraints("members"):
        if found["column_names"] == ["email"] and found["name"]:
            return found["name"]
    return "uq_members_email"


def upgrade() -> None:
    sqlite = {"sqlite_autoincrement": True}
    old = _email_constraint()
    # On SQLite both tables are rebuilt (so they take AUTOINCREMENT); PostgreSQL alters them in place.
    with op.batch_alter_table("members", recreate="auto", naming_convention=NAMING, table_kwargs=sqlite) as batch:
        batch.drop_constraint(old, type_="unique")
        batch.create_unique_constraint(ORG_EMAIL, ["organization_id", "email"])
        batch.create_index("ix_members_email", ["email"])

    with op.batch_alter_table("member_tokens", table_kwargs=sqlite) as batch:
        batch.add_column(sa.Column("expires_at", UTCDateTime, nullable=True))
    tokens = sa.table("member_tokens", sa.column("expires_at", UTCDateTime))
    op.execute(tokens.update().values(expires_at=utcnow() + MEMBER_TOKEN_GRACE))
    with op.batch_alter_table("member_tokens", recreate="auto", table_kwargs=sqlite) as batch:
        batch.alter_column("expires_at", existing_type=UTCDateTime, nullable=False)

    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("credential_name", existing_type=sa.String(100), type_=sa.String(254),
                           existing_nullable=False)
        batch.add_column(sa.Column("detail", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    sqlite = {"sqlite_autoincrement": False}
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("detail")
        batch.alter_column("credential_name", existing_type=sa.String(254), type_=sa.String(100),
                           existing_nullable=False)
    with op.batch_alter_table("member_tokens", recreate="always", table_kwargs=sqlite) as batch:
        batch.drop_column("expires_at")
    # Fails, as it should, where one address is now a member of two organizations.
    with op.batch_alter_table("members", recreate="always", table_kwargs=sqlite) as batch:
        batch.drop_index("ix_members_email")
        batch.drop_constraint(ORG_EMAIL, type_="unique")
        batch.create_unique_constraint("members_email_key", ["email"])
