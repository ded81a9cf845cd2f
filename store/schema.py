"""Tables, as the latest migration leaves them (store/migrations is the source of truth)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on every backend (SQLite keeps no zone of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def not_before_now() -> datetime:
    """The next whole second: JWTs carry whole-second `iat`s, and one issued earlier in this
    very second must be refused too (the issuer dates newer ones no earlier than this)."""
    return datetime.fromtimestamp(math.ceil(time.time()), UTC)


metadata = sa.MetaData()

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("api_access", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("max_lifetime_days", sa.Integer, nullable=True),  # migration 0006: caps credential expiry
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("email", sa.String(254), nullable=False, index=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("can_manage_credentials", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # migration 0005: an address is unique within an organization only, so that adding one never
    # tells an admin whether it exists elsewhere
    sa.UniqueConstraint("organization_id", "email", name="uq_members_organization_email"),
    sqlite_autoincrement=True,  # migration 0005: a removed member's id never names someone else
)

api_clients = sa.Table(
    "api_clients",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("client_id", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(255), nullable=False),
    sa.Column("secret_last4", sa.String(4), nullable=False),
    sa.Column("allowed_origins", sa.JSON, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(254), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("not_before", UTCDateTime, nullable=True),  # migration 0004: JWTs issued earlier are refused
    # migration 0006: the previous secret of a roll, until its overlap ends; and the client's own end
    sa.Column("old_secret_hash", sa.String(255), nullable=True),
    sa.Column("old_secret_last4", sa.String(4), nullable=True),
    sa.Column("old_secret_expires_at", UTCDateTime, nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sqlite_autoincrement=True,  # migration 0003: a deleted id is never handed out again
)

restricted_tokens = sa.Table(
    "restricted_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("locator", sa.String(32), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(255), nullable=False),
    sa.Column("token_last4", sa.String(4), nullable=False),
    sa.Column("allowed_ips", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(254), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    # migration 0006: as for API Clients, plus where the token was last used from
    sa.Column("old_token_hash", sa.String(255), nullable=True),
    sa.Column("old_token_last4", sa.String(4), nullable=True),
    sa.Column("old_token_expires_at", UTCDateTime, nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("last_used_ip", sa.String(45), nullable=True),
    sqlite_autoincrement=True,  # migration 0003: a deleted id is never handed out again
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(254), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("credential_type", sa.String(32), nullable=False),
    sa.Column("credential_id", sa.Integer, nullable=False),
    sa.Column("credential_name", sa.String(254), nullable=False),  # migration 0005: room for an email
    sa.Column("detail", sa.String(200), nullable=False, server_default=""),  # migration 0005: what changed
)

# Added by migration 0002: what the credential service needs.
member_tokens = sa.Table(
    "member_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("locator", sa.String(32), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(255), nullable=False),
    sa.Column("token_last4", sa.String(4), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=False),  # migration 0005: refused from then on
    sqlite_autoincrement=True,  # migration 0005: a revoked token's id never names another one
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("private_key", sa.Text, nullable=False),  # PKCS#8 PEM, encrypted when a key passphrase is configured
    sa.Column("public_jwk", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("rotated_at", UTCDateTime, nullable=True),  # stopped signing; verifies until tokens expire
)

# Added by migration 0004: JWTs revoked before they expired, by jti.
revoked_tokens = sa.Table(
    "revoked_tokens",
    metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
    sa.Column("revoked_at", UTCDateTime, nullable=False),
)

sa.Index("ix_api_clients_org_name", api_clients.c.organization_id, api_clients.c.name)
sa.Index("ix_restricted_tokens_org_name", restricted_tokens.c.organization_id, restricted_tokens.c.name)
