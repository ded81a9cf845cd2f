"""LocalStore: the CredentialStore on a SQLAlchemy database, acting as one member."""

from __future__ import annotations

import dataclasses
import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from turris_api.store import audit, crypto, policy, validation
from turris_api.store.database import Database
from turris_api.store.errors import Conflict, Invalid, NotFound, PermissionDenied
from turris_api.store.membership import ID_MAX, find_member
from turris_api.store.models import (
    ACTIVE,
    ADMIN,
    DEFAULT_OVERLAP,
    ApiClient,
    AuditEvent,
    ClientDraft,
    CreatedClient,
    CreatedToken,
    Me,
    Member,
    Organization,
    RestrictedToken,
    TokenDraft,
    is_expired,
)
from turris_api.store.schema import (
    UTCDateTime,
    api_clients,
    member_tokens,
    members,
    not_before_now,
    organizations,
    restricted_tokens,
    utcnow,
)

API_CLIENT = audit.API_CLIENT
RESTRICTED_TOKEN = audit.RESTRICTED_TOKEN

_CLIENT_COLUMNS = [c for c in api_clients.c if c.name not in ("secret_hash", "old_secret_hash")]
_TOKEN_COLUMNS = [c for c in restricted_tokens.c if c.name not in ("token_hash", "old_token_hash", "locator")]


class _Listing:
    """Listing a model's rows fast: 10,000 API Clients through SQLAlchemy's per-value result processors
    (JSON, UTCDateTime) and frozen-dataclass __init__ took ~145 ms; decoding column by column, in
    bulk, takes about half. Results are the same models with the same values."""

    def __init__(self, table: sa.Table, model: type) -> None:
        self.model = model
        self.names = [f.name for f in dataclasses.fields(model)]
        columns = [table.c[name] for name in self.names]
        self.json = [i for i, c in enumerate(columns) if isinstance(c.type, sa.JSON)]
        self.datetimes = [i for i, c in enumerate(columns) if isinstance(c.type, UTCDateTime)]
        # Those two kinds come as the driver returns them; ordering by name in SQL leaves the final
        # casefold sort (which SQL collations cannot promise) almost nothing to do.
        raw = [sa.type_coerce(c, sa.String).label(c.name) if i in self.json + self.datetimes else c
               for i, c in enumerate(columns)]
        self.select = sa.select(*raw).order_by(table.c.name, table.c.id)
        self.organization_id = table.c.organization_id

    def __call__(self, conn: Connection, organization_id: int) -> list:
        with _collector_paused():
            return self._build(conn.execute(self.select.where(self.organization_id == organization_id)).all())

    def _build(self, rows: list) -> list:
        if not rows:
            return []
        columns = list(zip(*rows, strict=True))
        for i in self.json:
            columns[i] = _json_arrays(columns[i])
        for i in self.datetimes:
            columns[i] = _utc_datetimes(columns[i])
        new, model, names = object.__new__, self.model, self.names
        listed = []
        for values in zip(*columns, strict=True):
            item = new(model)  # a frozen dataclass's __init__ sets each field through object.__setattr__
            item.__dict__.update(zip(names, values, strict=True))
            listed.append(item)
        keyed = sorted([(item.name.casefold(), item.id, n) for n, item in enumerate(listed)])
        return [listed[n] for _, _, n in keyed]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A listing builds tens of thousands of objects that all outlive it: the cyclic collector's
    runs in between only walk them (and the whole heap), 40% of listing 10,000 (bench/, issue 6).
    Collecting resumes after, unless someone else had paused it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _json_arrays(values: tuple) -> list[tuple]:
    """JSON array columns as tuples: SQLite returns text (decoded here in one call), psycopg lists."""
    if all(isinstance(v, str) for v in values):
        return [tuple(a) for a in json.loads("[" + ",".join(values) + "]")]
    return [tuple(json.loads(v) if isinstance(v, str) else v) for v in values]


def _utc_datetimes(values: tuple) -> list[datetime | None]:
    """UTCDateTime columns decoded as UTCDateTime does. SQLite returns text, which SQLAlchemy writes as
    naive UTC 'YYYY-MM-DD HH:MM:SS.ffffff': that common form is parsed with its zone appended, which
    is several times cheaper than replacing the zone after parsing."""
    parse = datetime.fromisoformat
    try:
        return [
            None if v is None else parse(v + "+00:00") if v.__class__ is str and len(v) == 26 else _utc(v)
            for v in values
        ]
    except ValueError:  # an unusual text of length 26 (a zone of its own): the exact way for all
        return [_utc(v) for v in values]


def _utc(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_CLIENT_LISTING = _Listing(api_clients, ApiClient)
_TOKEN_LISTING = _Listing(restricted_tokens, RestrictedToken)


class LocalStore:
    """Every call runs in its own short transaction and re-reads who the member is."""

    def __init__(self, db: Database, member: str | int | None = None) -> None:
        self.db = db
        self.description = db.description
        self.warnings = db.warnings
        self._member_id = self._resolve_member(member)

    def close(self) -> None:
        self.db.dispose()

    # --- who ---------------------------------------------------------------

    def _resolve_member(self, member: str | int | None) -> int:
        with self.db.read() as conn:
            if member is None:
                found = conn.execute(sa.select(members.c.id).order_by(members.c.id).limit(1)).scalar()
                if found is None:
                    raise NotFound("This store has no members yet: set it up with turris-api init --org NAME --admin EMAIL.")
                return found
            return find_member(conn, member)

    def _me(self, conn: Connection) -> Me:
        row = conn.execute(
            sa.select(members, organizations.c.name.label("org_name"), organizations.c.api_access,
                      organizations.c.max_lifetime_days)
            .join(organizations, organizations.c.id == members.c.organization_id)
            .where(members.c.id == self._member_id)
        ).one_or_none()
        if row is None:
            raise NotFound("Your membership no longer exists.")
        return Me(
            member=_member(row),
            organization=Organization(id=row.organization_id, name=row.org_name, api_access=row.api_access,
                                      max_lifetime_days=row.max_lifetime_days),
        )

    def me(self) -> Me:
        with self.db.read() as conn:
            return self._me(conn)

    # --- API Clients -------------------------------------------------------

    def list_clients(self) -> list[ApiClient]:
        with self.db.read() as conn:
            me = self._me(conn)
            policy.require_view(me)
            return _CLIENT_LISTING(conn, me.organization.id)

    def get_client(self, ref: str | int) -> ApiClient:
        with self.db.read() as conn:
            me = self._me(conn)
            policy.require_view(me)
            return _client(self._client_row(conn, me, ref))

    def create_client(self, draft: ClientDraft) -> CreatedClient:
        name = validation.name(draft.name, "Client Name")
        description = validation.description(draft.description)
        origins = validation.origins(draft.allowed_origins)
        secret = crypto.new_client_secret()
        secret_hash = crypto.hash_secret(secret)  # outside the write lock: hashing takes time
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_clients(me)
            now = utcnow()
            expires_at = _capped(me, validation.expiry(draft.expires, now), now)
            new_id = conn.execute(
                api_clients.insert().values(
                    organization_id=me.organization.id,
                    name=name,
                    description=description,
                    client_id=crypto.new_client_id(),
                    secret_hash=secret_hash,
                    secret_last4=crypto.last4(secret),
                    allowed_origins=list(origins),
                    status=ACTIVE,
                    created_at=now,
                    created_by=me.member.email,
                    updated_at=now,
                    version=1,
                    expires_at=expires_at,
                )
            ).inserted_primary_key[0]
            _audit(conn, me, "create", API_CLIENT, new_id, name)
            row = conn.execute(sa.select(*_CLIENT_COLUMNS).where(api_clients.c.id == new_id)).one()
        return CreatedClient(client=_client(row), secret=secret)

    def update_client(self, ref: str | int, draft: ClientDraft, version: int) -> ApiClient:
        values = {
            "name": validation.name(draft.name, "Client Name"),
            "description": validation.description(draft.description),
            "allowed_origins": list(validation.origins(draft.allowed_origins)),
        }
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_clients(me)
            row = self._client_row(conn, me, ref)
            values["expires_at"] = _new_expiry(me, row, draft.expires)
            if _unchanged(row, values):
                return _client(row)
            _update_versioned(conn, api_clients, row, version, values)
            _audit(conn, me, "update", API_CLIENT, row.id, values["name"])
            return _client(conn.execute(sa.select(*_CLIENT_COLUMNS).where(api_clients.c.id == row.id)).one())

    def delete_client(self, ref: str | int) -> None:
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_clients(me)
            row = self._client_row(conn, me, ref)
            _delete_row(conn, api_clients, row, f"No API Client {validation.shown(str(ref))} in {me.organization.name}.")
            _audit(conn, me, "delete", API_CLIENT, row.id, row.name)

    def roll_client(self, ref: str | int, keep_old_for: str | int | timedelta = DEFAULT_OVERLAP) -> CreatedClient:
        """A new secret for the same Client ID; the current one keeps working for `keep_old_for`."""
        keep = validation.overlap(keep_old_for)
        secret = crypto.new_client_secret()
        secret_hash = crypto.hash_secret(secret)
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_clients(me)
            row = self._client_row(conn, me, ref)
            current = conn.execute(sa.select(api_clients.c.secret_hash).where(api_clients.c.id == row.id)).scalar_one()
            values = _rolled(row, "secret", current, row.secret_last4, keep)
            if not keep:  # every JWT out was issued against the secret that just ended
                values["not_before"] = not_before_now()
            conn.execute(api_clients.update().where(api_clients.c.id == row.id).values(
                secret_hash=secret_hash, secret_last4=crypto.last4(secret), **values))
            _audit(conn, me, "roll", API_CLIENT, row.id, row.name, _roll_detail("secret", row.secret_last4, values))
            after = conn.execute(sa.select(*_CLIENT_COLUMNS).where(api_clients.c.id == row.id)).one()
        return CreatedClient(client=_client(after), secret=secret)

    def end_old_client(self, ref: str | int) -> ApiClient:
        """The previous secret of a roll stops working now."""
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_clients(me)
            row = self._client_row(conn, me, ref)
            _require_old(row, "secret", "API Client")
            conn.execute(api_clients.update().where(api_clients.c.id == row.id).values(**_ended("secret")))
            _audit(conn, me, "end_old", API_CLIENT, row.id, row.name, f"old secret ••••{row.old_secret_last4} ended")
            return _client(conn.execute(sa.select(*_CLIENT_COLUMNS).where(api_clients.c.id == row.id)).one())

    def _client_row(self, conn: Connection, me: Me, ref: str | int) -> Row:
        key = _ref_key(ref)
        row = None
        if key is not None:
            match = api_clients.c.id == key if isinstance(key, int) else api_clients.c.client_id == key
            row = conn.execute(
                sa.select(*_CLIENT_COLUMNS).where(match, api_clients.c.organization_id == me.organization.id)
            ).one_or_none()
        if row is None:
            raise NotFound(f"No API Client {validation.shown(str(ref).strip())} in {me.organization.name}.")
        return row

    # --- the support desk's levers: local only, not part of CredentialStore ---------

    def set_client_status(self, ref: str | int, status: str) -> ApiClient:
        """Enable or disable an API Client ("contact support to have it re-enabled")."""
        new_status = validation.status(status)
        with self.db.write() as conn:
            me = self._me(conn)
            row = self._client_row(conn, me, ref)
            conn.execute(
                api_clients.update()
                .where(api_clients.c.id == row.id)
                .values(status=new_status, version=api_clients.c.version + 1, updated_at=utcnow(),
                        not_before=not_before_now())
            )
            _audit(conn, me, "set_status", API_CLIENT, row.id, row.name, f"status {row.status} -> {new_status}")
        return self.get_client(row.id)

    def set_api_access(self, enabled: bool) -> None:
        """Switch the acting member's organization's plan feature `api_access`."""
        with self.db.write() as conn:
            me = self._me(conn)
            conn.execute(
                organizations.update().where(organizations.c.id == me.organization.id).values(api_access=bool(enabled))
            )
            if not enabled:  # turning it back on must not revive the JWTs issued before
                conn.execute(
                    api_clients.update()
                    .where(api_clients.c.organization_id == me.organization.id)
                    .values(not_before=not_before_now())
                )
            _audit(conn, me, "set_plan", audit.ORGANIZATION, me.organization.id, me.organization.name,
                   f"api_access {'on' if enabled else 'off'}")

    def set_max_lifetime(self, value: str | int | timedelta | None) -> Organization:
        """Cap the lifetime of credentials created or given an expiry from now on (admins); None lifts it."""
        days = validation.max_lifetime(value)
        with self.db.write() as conn:
            me = self._me(conn)
            if not policy.can_manage_members(me):
                raise PermissionDenied(f"Setting the organization's policy needs the Admin role and the credential "
                                       f"permission; {me.member.email} is {me.member.role}.")
            conn.execute(organizations.update().where(organizations.c.id == me.organization.id)
                         .values(max_lifetime_days=days))
            _audit(conn, me, "set_policy", audit.ORGANIZATION, me.organization.id, me.organization.name,
                   f"max lifetime {'none' if days is None else f'{days}d'}")
            return self._me(conn).organization

    # --- Restricted Access Tokens -----------------------------------------

    def list_tokens(self) -> list[RestrictedToken]:
        with self.db.read() as conn:
            me = self._me(conn)
            policy.require_view(me)
            return _TOKEN_LISTING(conn, me.organization.id)

    def get_token(self, ref: str | int) -> RestrictedToken:
        with self.db.read() as conn:
            me = self._me(conn)
            policy.require_view(me)
            return _token(self._token_row(conn, me, ref))

    def create_token(self, draft: TokenDraft) -> CreatedToken:
        name = validation.name(draft.name, "Token Name")
        allowed = validation.ips(draft.allowed_ips)
        locator = crypto.new_locator()
        value = crypto.new_locator_token(crypto.RESTRICTED_TOKEN_PREFIX, locator)
        token_hash = crypto.hash_secret(value)
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_tokens(me)
            now = utcnow()
            expires_at = _capped(me, validation.expiry(draft.expires, now), now)
            new_id = conn.execute(
                restricted_tokens.insert().values(
                    organization_id=me.organization.id,
                    name=name,
                    locator=locator,
                    token_hash=token_hash,
                    token_last4=crypto.last4(value),
                    allowed_ips=list(allowed),
                    created_at=now,
                    created_by=me.member.email,
                    updated_at=now,
                    version=1,
                    expires_at=expires_at,
                )
            ).inserted_primary_key[0]
            _audit(conn, me, "create", RESTRICTED_TOKEN, new_id, name)
            row = conn.execute(sa.select(*_TOKEN_COLUMNS).where(restricted_tokens.c.id == new_id)).one()
        return CreatedToken(token=_token(row), value=value)

    def update_token(self, ref: str | int, draft: TokenDraft, version: int) -> RestrictedToken:
        values = {
            "name": validation.name(draft.name, "Token Name"),
            "allowed_ips": list(validation.ips(draft.allowed_ips)),
        }
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_tokens(me)
            row = self._token_row(conn, me, ref)
            values["expires_at"] = _new_expiry(me, row, draft.expires)
            if _unchanged(row, values):
                return _token(row)
            _update_versioned(conn, restricted_tokens, row, version, values)
            _audit(conn, me, "update", RESTRICTED_TOKEN, row.id, values["name"])
            return _token(conn.execute(sa.select(*_TOKEN_COLUMNS).where(restricted_tokens.c.id == row.id)).one())

    def delete_token(self, ref: str | int) -> None:
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_tokens(me)
            row = self._token_row(conn, me, ref)
            gone = f"No Restricted Access Token {validation.shown(str(ref))} in {me.organization.name}."
            _delete_row(conn, restricted_tokens, row, gone)
            _audit(conn, me, "delete", RESTRICTED_TOKEN, row.id, row.name)

    def roll_token(self, ref: str | int, keep_old_for: str | int | timedelta = DEFAULT_OVERLAP) -> CreatedToken:
        """A new value for the token; the current one keeps working for `keep_old_for`."""
        keep = validation.overlap(keep_old_for)
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_tokens(me)
            row = self._token_row(conn, me, ref)
            stored = conn.execute(sa.select(restricted_tokens.c.locator, restricted_tokens.c.token_hash)
                                  .where(restricted_tokens.c.id == row.id)).one()
            # The same locator: one lookup finds both values, the new hash is checked first.
            value = crypto.new_locator_token(crypto.RESTRICTED_TOKEN_PREFIX, stored.locator)
            values = _rolled(row, "token", stored.token_hash, row.token_last4, keep)
            conn.execute(restricted_tokens.update().where(restricted_tokens.c.id == row.id).values(
                token_hash=crypto.hash_secret(value), token_last4=crypto.last4(value), **values))
            _audit(conn, me, "roll", RESTRICTED_TOKEN, row.id, row.name, _roll_detail("token", row.token_last4, values))
            after = conn.execute(sa.select(*_TOKEN_COLUMNS).where(restricted_tokens.c.id == row.id)).one()
        return CreatedToken(token=_token(after), value=value)

    def end_old_token(self, ref: str | int) -> RestrictedToken:
        """The previous value of a roll stops working now."""
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_tokens(me)
            row = self._token_row(conn, me, ref)
            _require_old(row, "token", "Restricted Access Token")
            conn.execute(restricted_tokens.update().where(restricted_tokens.c.id == row.id).values(**_ended("token")))
            _audit(conn, me, "end_old", RESTRICTED_TOKEN, row.id, row.name, f"old token ••••{row.old_token_last4} ended")
            return _token(conn.execute(sa.select(*_TOKEN_COLUMNS).where(restricted_tokens.c.id == row.id)).one())

    def _token_row(self, conn: Connection, me: Me, ref: str | int) -> Row:
        key = _ref_key(ref)
        row = None
        if isinstance(key, int):
            row = conn.execute(
                sa.select(*_TOKEN_COLUMNS).where(
                    restricted_tokens.c.id == key, restricted_tokens.c.organization_id == me.organization.id
                )
            ).one_or_none()
        if row is None:
            raise NotFound(f"No Restricted Access Token {validation.shown(str(ref).strip())} in {me.organization.name}.")
        return row

    # --- audit and members -------------------------------------------------

    def audit_events(self, limit: int = 50, before: int | None = None, credential_type: str | None = None,
                     credential_id: int | None = None) -> list[AuditEvent]:
        audit.check_page(limit, before, credential_type, credential_id)
        with self.db.read() as conn:
            me = self._me(conn)
            policy.require_view(me)
            return audit.events(conn, me.organization.id, limit, before, credential_type, credential_id)

    def list_members(self) -> list[Member]:
        with self.db.read() as conn:
            me = self._me(conn)
            rows = conn.execute(
                sa.select(members).where(members.c.organization_id == me.organization.id).order_by(members.c.email)
            ).all()
        return [_member(r) for r in rows]

    def add_member(self, email: str, role: str, can_manage_credentials: bool, display_name: str = "") -> Member:
        address = validation.email(email)
        role_name = validation.role(role)
        shown_name = validation.name(display_name or address.split("@")[0], "Display name", "display_name")
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_members(me)
            # Only this organization's members count: whether the address is a member elsewhere stays unsaid.
            mine = members.c.organization_id == me.organization.id
            if conn.execute(sa.select(members.c.id).where(members.c.email == address, mine)).first():
                raise Conflict(f"{validation.shown(address)} is a member of {me.organization.name} already.")
            new_id = conn.execute(
                members.insert().values(
                    organization_id=me.organization.id,
                    email=address,
                    display_name=shown_name,
                    role=role_name,
                    can_manage_credentials=bool(can_manage_credentials),
                    created_at=utcnow(),
                )
            ).inserted_primary_key[0]
            member = _member(conn.execute(sa.select(members).where(members.c.id == new_id)).one())
            _audit(conn, me, "add", audit.MEMBER, member.id, member.email, _membership(member))
            return member

    def update_member(self, ref: str | int, role: str | None = None,
                      can_manage_credentials: bool | None = None) -> Member:
        """Change a member's role, credential permission, or both; None keeps it as it is."""
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = validation.role(role)
        if can_manage_credentials is not None:
            values["can_manage_credentials"] = bool(can_manage_credentials)
        if not values:
            raise Invalid("role", "Give a role, the credential permission, or both to change.")
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_members(me, "Changing a member's role")
            before = self._member_in_org(conn, me, ref)
            after = dataclasses.replace(before, **values)
            if policy.manages_members(before) and not policy.manages_members(after):
                policy.require_a_member_manager_remains(me, before, self._managers(conn, me) - 1, "Changing")
            conn.execute(members.update().where(members.c.id == before.id).values(**values))
            if after != before:
                _audit(conn, me, "set_role", audit.MEMBER, before.id, before.email,
                       f"{_membership(before)} -> {_membership(after)}")
            return after

    def remove_member(self, ref: str | int) -> None:
        """Remove a member of this organization; their member access tokens stop working at once."""
        with self.db.write() as conn:
            me = self._me(conn)
            policy.require_manage_members(me, "Removing members")
            member = self._member_in_org(conn, me, ref)
            if policy.manages_members(member):
                policy.require_a_member_manager_remains(me, member, self._managers(conn, me) - 1, "Removing")
            revoked = conn.execute(member_tokens.delete().where(member_tokens.c.member_id == member.id)).rowcount
            _delete_row(conn, members, member, f"No member {validation.shown(str(ref))} in {me.organization.name}.")
            _audit(conn, me, "remove", audit.MEMBER, member.id, member.email,
                   f"{_membership(member)}; {revoked} member access token(s) revoked")

    def _member_in_org(self, conn: Connection, me: Me, ref: str | int) -> Member:
        """A member of the acting member's organization, by id or email; another's is not found."""
        # Members change one at a time per organization (PostgreSQL; SQLite writes are exclusive
        # anyway): two admins demoting each other at once must not both pass the last-admin check.
        conn.execute(sa.select(organizations.c.id).where(organizations.c.id == me.organization.id).with_for_update())
        key = _ref_key(ref)
        row = None
        if key is not None:
            match = members.c.id == key if isinstance(key, int) else members.c.email == key.lower()
            row = conn.execute(
                sa.select(members).where(match, members.c.organization_id == me.organization.id)
            ).one_or_none()
        if row is None:
            raise NotFound(f"No member {validation.shown(str(ref).strip())} in {me.organization.name}.")
        return _member(row)

    def _managers(self, conn: Connection, me: Me) -> int:
        """How many of the organization's members may manage members."""
        return conn.execute(
            sa.select(sa.func.count()).select_from(members).where(
                members.c.organization_id == me.organization.id,
                members.c.role == ADMIN,
                members.c.can_manage_credentials,
            )
        ).scalar_one()


def _ref_key(ref: str | int) -> int | str | None:
    """An internal id, a public Client ID, or None for a ref no credential can have."""
    text = str(ref).strip()
    if not text or not text.isprintable():
        return None
    if text.isdigit():
        return int(text) if text.isascii() and len(text) <= 10 and int(text) <= ID_MAX else None
    return text


def _unchanged(row: Row, values: dict[str, Any]) -> bool:
    """Whether the cleaned `values` are what the row holds: saving them again is no change (no version, no audit)."""
    stored = row._mapping
    return all(list(stored[key]) == value if isinstance(value, list) else stored[key] == value
               for key, value in values.items())


def _update_versioned(conn: Connection, table: sa.Table, row: Row, version: int, values: dict[str, Any]) -> None:
    """Apply only if nobody changed the row since `version` was read."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise Invalid("version", "An update needs the version it was based on.", str(version))
    changed = conn.execute(
        table.update()
        .where(table.c.id == row.id, table.c.version == version)
        .values(**values, version=table.c.version + 1, updated_at=utcnow())
    ).rowcount
    if changed != 1:
        raise Conflict(
            f"{row.name!r} was changed by someone else since you opened it (version {row.version}, yours {version}). "
            "Reload it and apply your change again."
        )


def _rolled(row: Row, kind: str, current_hash: str, current_last4: str, keep: timedelta) -> dict[str, Any]:
    """The column values of a roll: the current value becomes the old one for `keep`, replacing any old one."""
    now = utcnow()
    old = {f"old_{kind}_hash": current_hash, f"old_{kind}_last4": current_last4,
           f"old_{kind}_expires_at": now + keep} if keep else _ended(kind)
    if is_expired(row.expires_at, now):
        raise Conflict(f"{row.name!r} has expired: give it a new expiry first, or delete it.")
    return {**old, "version": row.version + 1, "updated_at": now}


def _ended(kind: str) -> dict[str, Any]:
    return {f"old_{kind}_hash": None, f"old_{kind}_last4": None, f"old_{kind}_expires_at": None}


def _require_old(row: Row, kind: str, label: str) -> None:
    until = row._mapping[f"old_{kind}_expires_at"]
    if row._mapping[f"old_{kind}_last4"] is None or until is None or until <= utcnow():
        raise Conflict(f"{label} {row.name!r} has no old {kind} still working: nothing to end.")


def _roll_detail(kind: str, old_last4: str, values: dict[str, Any]) -> str:
    until = values[f"old_{kind}_expires_at"]
    if until is None:
        return f"old {kind} ••••{old_last4} ended at once"
    return f"old {kind} ••••{old_last4} works until {until:%Y-%m-%d %H:%M} UTC"


def _capped(me: Me, expires_at: datetime | None, now: datetime) -> datetime | None:
    """The expiry within the organization's cap on lifetimes: none given means the cap."""
    days = me.organization.max_lifetime_days
    if days is None:
        return expires_at
    limit = now + timedelta(days=days)
    if expires_at is None:
        return limit
    if expires_at > limit:
        raise Invalid("expires", f"{me.organization.name} caps credential lifetimes at {days} days: "
                      f"the latest expiry now is {limit:%Y-%m-%d}.", f"{expires_at:%Y-%m-%d}")
    return expires_at


def _new_expiry(me: Me, row: Row, given: str | datetime | None) -> datetime | None:
    """An update's expiry: the stored one as it is (even past, or beyond a cap set since), or a new one checked."""
    stored = row.expires_at
    if given == stored or (stored is not None and _moment(given) == stored):
        return stored
    now = utcnow()
    return _capped(me, validation.expiry(given, now), now)


def _moment(value: str | datetime | None) -> datetime | None:
    """An aware time given as a datetime or in ISO 8601 (as the remote store sends one back), else None."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return value if isinstance(value, datetime) and value.tzinfo is not None else None


def _delete_row(conn: Connection, table: sa.Table, row: Row, gone: str) -> None:
    """Delete, or NotFound if a concurrent delete got there first (PostgreSQL reads before it locks)."""
    if conn.execute(table.delete().where(table.c.id == row.id)).rowcount != 1:
        raise NotFound(gone)


def _audit(conn: Connection, me: Me, action: str, kind: str, subject_id: int, name: str, detail: str = "") -> None:
    audit.record(conn, me.organization.id, me.member.email, action, kind, subject_id, name, detail)


def _membership(member: Member) -> str:
    return f"role {member.role}, {'with' if member.can_manage_credentials else 'without'} the credential permission"


def _member(row: Row) -> Member:
    return Member(
        id=row.id,
        organization_id=row.organization_id,
        email=row.email,
        display_name=row.display_name,
        role=row.role,
        can_manage_credentials=row.can_manage_credentials,
    )


def _client(row: Row) -> ApiClient:
    # By key through _mapping: a Row's attribute lookup costs twice as much, which shows when listing thousands.
    r = row._mapping
    return ApiClient(
        id=r["id"],
        name=r["name"],
        description=r["description"],
        client_id=r["client_id"],
        secret_last4=r["secret_last4"],
        allowed_origins=tuple(r["allowed_origins"]),
        status=r["status"],
        created_at=r["created_at"],
        created_by=r["created_by"],
        updated_at=r["updated_at"],
        version=r["version"],
        last_used_at=r["last_used_at"],
        old_secret_last4=r["old_secret_last4"],
        old_secret_expires_at=r["old_secret_expires_at"],
        expires_at=r["expires_at"],
    )


def _token(row: Row) -> RestrictedToken:
    r = row._mapping
    return RestrictedToken(
        id=r["id"],
        name=r["name"],
        token_last4=r["token_last4"],
        allowed_ips=tuple(r["allowed_ips"]),
        created_at=r["created_at"],
        created_by=r["created_by"],
        updated_at=r["updated_at"],
        version=r["version"],
        last_used_at=r["last_used_at"],
        old_token_last4=r["old_token_last4"],
        old_token_expires_at=r["old_token_expires_at"],
        expires_at=r["expires_at"],
        last_used_ip=r["last_used_ip"],
    )

