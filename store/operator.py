"""Set-up only someone with access to the database itself may do: organizations, their first admin, member
tokens. The support desk's levers on credentials are LocalStore methods (`set_client_status`, `set_api_access`)."""

from __future__ import annotations

import getpass
from datetime import timedelta

import sqlalchemy as sa

from turris_api.store import crypto, validation
from turris_api.store.database import Database
from turris_api.store.errors import Conflict, NotFound
from turris_api.store.models import ADMIN
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
        if conn.execute(sa.select(members.c.id).where(members.c.email == address)).first() is not None:
            return conn.execute(sa.select(members.c.organization_id).where(members.c.email == address)).scalar_one()
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


def issue_member_token(db: Database, email: str) -> str:
    """A member access token for the management API; returned once, stored hashed."""
    address = validation.email(email)
    locator = crypto.new_locator()
    value = crypto.new_locator_token(crypto.MEMBER_TOKEN_PREFIX, locator)
    token_hash = crypto.hash_secret(value)
    with db.write() as conn:
        member_id = conn.execute(sa.select(members.c.id).where(members.c.email == address)).scalar()
        if member_id is None:
            raise NotFound(f"No member {validation.shown(address)} in this store.")
        conn.execute(
            member_tokens.insert().values(
                member_id=member_id,
                locator=locator,
                token_hash=token_hash,
                token_last4=crypto.last4(value),
                created_at=utcnow(),
                expires_at=utcnow() + MEMBER_TOKEN_LIFETIME,
            )
        )
    return value
