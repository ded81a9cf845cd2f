"""Set-up only someone with access to the database itself may do: organizations, their first admin, member
tokens. The support desk's levers on credentials are LocalStore methods (`set_client_status`, `set_api_access`)."""

from __future__ import annotations

import getpass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from turris_api.store import audit, crypto, validation
from turris_api.store.database import Database
from turris_api.store.errors import Conflict, NotFound
from turris_api.store.membership import ID_MAX, find_member
from turris_api.store.models import ADMIN, OPERATOR, CreatedMemberToken, MemberToken
from turris_api.store.schema import member_tokens, members, organizations, utcnow

MEMBER_TOKEN_LIFETIME = timedelta(days=90)  # the default; `issue_member_token` takes another


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "admin"


def bootstrap(db: Database) -> None:
    """On an empty store: one organization whose plan has API access, and its admin (the OS user)."""
    with db.read() as conn:
        if conn.execute(sa.select(members.c.id).limit(1)).first() is not None:
            return
    user = os_user()
    create_organization(db, f"{user}'s organization", f"{user}@localhost", admin_name=user)


def initialize(db: Database, org_name: str, admin_email: str, admin_name: str = "") -> int:
    """The explicit first set-up of a server store: its organization and first admin. Refuses a store
    that has members already."""
    with db.read() as conn:
        if conn.execute(sa.select(members.c.id).limit(1)).first() is not None:
            raise Conflict("This store is set up already. Add members with: turris-api --as ADMIN_EMAIL member add EMAIL ...")
    return create_organization(db, org_name, admin_email, admin_name=admin_name)


def create_organization(db: Database, name: str, admin_email: str, *, api_access: bool = True,
                        admin_name: str = "") -> int:
    """A new organization and its first admin (with the credential permission); returns its id."""
    org_name = validation.name(name, "Organization name")
    address = validation.email(admin_email)
    with db.write() as conn:
        existing = conn.execute(
            sa.select(members.c.organization_id)
            .join(organizations, organizations.c.id == members.c.organization_id)
            .where(members.c.email == address, organizations.c.name == org_name)
        ).scalar()
        if existing is not None:  # set up already: creating it again changes nothing
            return existing
        now = utcnow()
        org_id = conn.execute(
            organizations.insert().values(name=org_name, api_access=api_access, created_at=now)
        ).inserted_primary_key[0]
        conn.execute(
            members.insert().values(
                organization_id=org_id,
                email=address,
                display_name=admin_name or address.split("@")[0],
                role=ADMIN,
                can_manage_credentials=True,
                created_at=now,
            )
        )
    return org_id


def issue_member_token(db: Database, member: str | int, expires_in: str | timedelta = MEMBER_TOKEN_LIFETIME) -> str:
    """A member access token's value only (see new_member_token)."""
    return new_member_token(db, member, expires_in).value


def new_member_token(db: Database, member: str | int,
                     expires_in: str | timedelta = MEMBER_TOKEN_LIFETIME) -> CreatedMemberToken:
    """A member access token for the management API, refused after `expires_in` (1 to 365 days);
    the value is in the answer once and stored hashed. `member` is an email or a member id."""
    lifetime = validation.token_lifetime(expires_in)
    locator = crypto.new_locator()
    value = crypto.new_locator_token(crypto.MEMBER_TOKEN_PREFIX, locator)
    token_hash = crypto.hash_secret(value)
    with db.write() as conn:
        member_id = find_member(conn, member)
        now = utcnow()
        new_id = conn.execute(
            member_tokens.insert().values(
                member_id=member_id,
                locator=locator,
                token_hash=token_hash,
                token_last4=crypto.last4(value),
                created_at=now,
                expires_at=now + lifetime,
            )
        ).inserted_primary_key[0]
        [token] = _member_tokens(conn, member_tokens.c.id == new_id)
        audit.record(conn, token.organization_id, OPERATOR, "issue", audit.MEMBER_TOKEN, token.id,
                     token.member_email, f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC")
    return CreatedMemberToken(token=token, value=value)


def list_member_tokens(db: Database, member: str | int | None = None) -> list[MemberToken]:
    """Every member access token in the store, or one member's; oldest first. Never the tokens."""
    with db.read() as conn:
        where = sa.true() if member is None else member_tokens.c.member_id == find_member(conn, member)
        return _member_tokens(conn, where)


def revoke_member_token(db: Database, token_id: str | int) -> MemberToken:
    """Delete a member access token: the management API refuses it from its next request on."""
    text = str(token_id).strip()
    key = int(text) if text.isdigit() and text.isascii() and len(text) <= 10 and int(text) <= ID_MAX else None
    with db.write() as conn:
        found = _member_tokens(conn, member_tokens.c.id == key) if key is not None else []
        if not found or conn.execute(member_tokens.delete().where(member_tokens.c.id == key)).rowcount != 1:
            raise NotFound(f"No member access token {validation.shown(text)} in this store "
                           "(see turris-api member token list).")
        token = found[0]
        audit.record(conn, token.organization_id, OPERATOR, "revoke", audit.MEMBER_TOKEN, token.id,
                     token.member_email)
    return token


def _member_tokens(conn: Connection, where: sa.ColumnElement[bool]) -> list[MemberToken]:
    rows = conn.execute(
        sa.select(member_tokens, members.c.email, members.c.organization_id)
        .join(members, members.c.id == member_tokens.c.member_id)
        .where(where)
        .order_by(member_tokens.c.id)
    ).all()
    return [
        MemberToken(id=r.id, member_id=r.member_id, member_email=r.email, organization_id=r.organization_id,
                    token_last4=r.token_last4, created_at=r.created_at, expires_at=r.expires_at,
                    last_used_at=r.last_used_at)
        for r in rows
    ]
