"""Checking presented credentials, for the service. Not bound to a member.

Each check reads the row fresh (one indexed lookup), so a deletion, a status change, an IP
change or a member token's revocation is effective on the next request. Successful argon2 checks of bearer tokens are
remembered in a bounded cache keyed by a keyed digest (never the token), tied to the stored
hash, so steady-state requests skip the hashing but not the lookup.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from turris_api.store import crypto, validation
from turris_api.store.database import Database
from turris_api.store.lru import VerifiedLru
from turris_api.store.models import ACTIVE, Member, VerifiedClient, VerifiedToken, is_expired
from turris_api.store.schema import (
    api_clients,
    member_tokens,
    members,
    organizations,
    restricted_tokens,
    revoked_tokens,
    utcnow,
)

log = logging.getLogger(__name__)
LAST_USED_RESOLUTION = timedelta(seconds=60)  # last_used_at is written at most once a minute
USE_FLUSH_SECONDS = 1.0  # how long a recorded use may wait to be written, with every other one due then
CACHE_SIZE = 10_000


# Built once: composing a statement per request costs more than running it (bench/, issue 6).
_CLIENT_SECRET = (
    sa.select(
        api_clients.c.id,
        api_clients.c.client_id,
        api_clients.c.name,
        api_clients.c.secret_hash,
        api_clients.c.old_secret_hash,
        api_clients.c.old_secret_expires_at,
        api_clients.c.expires_at,
        api_clients.c.status,
        api_clients.c.last_used_at,
        api_clients.c.not_before,
        api_clients.c.allowed_origins,
        api_clients.c.organization_id,
        organizations.c.name.label("org_name"),
        organizations.c.api_access,
    )
    .join(organizations, organizations.c.id == api_clients.c.organization_id)
    .where(api_clients.c.client_id == sa.bindparam("client_id"))
)
_ACTIVE_CLIENT = (
    sa.select(
        api_clients.c.id,
        api_clients.c.client_id,
        api_clients.c.name,
        api_clients.c.allowed_origins,
        api_clients.c.not_before,
        api_clients.c.expires_at,
        api_clients.c.organization_id,
        organizations.c.name.label("org_name"),
        # In the same lookup: a revoked JWT costs no second round trip.
        sa.exists()
        .where(revoked_tokens.c.jti == sa.bindparam("jti"), revoked_tokens.c.client_id == api_clients.c.client_id)
        .label("revoked"),
    )
    .join(organizations, organizations.c.id == api_clients.c.organization_id)
    .where(api_clients.c.client_id == sa.bindparam("client_id"), api_clients.c.status == ACTIVE, organizations.c.api_access)
)
_RESTRICTED_TOKEN = (
    sa.select(
        restricted_tokens.c.id,
        restricted_tokens.c.name,
        restricted_tokens.c.token_hash,
        restricted_tokens.c.old_token_hash,
        restricted_tokens.c.old_token_expires_at,
        restricted_tokens.c.expires_at,
        restricted_tokens.c.allowed_ips,
        restricted_tokens.c.last_used_at,
        restricted_tokens.c.organization_id,
        organizations.c.name.label("org_name"),
        organizations.c.api_access,
    )
    .join(organizations, organizations.c.id == restricted_tokens.c.organization_id)
    .where(restricted_tokens.c.locator == sa.bindparam("locator"))
)
_MEMBER_TOKEN = (
    sa.select(members, member_tokens.c.token_hash, member_tokens.c.id.label("token_id"), member_tokens.c.last_used_at,
              member_tokens.c.expires_at)
    .join(member_tokens, member_tokens.c.member_id == members.c.id)
    .where(member_tokens.c.locator == sa.bindparam("locator"))
)


def _verified_client(row) -> VerifiedClient:
    return VerifiedClient(
        id=row.id,
        client_id=row.client_id,
        name=row.name,
        organization_id=row.organization_id,
        organization_name=row.org_name,
        not_before=int(row.not_before.timestamp()) if row.not_before is not None else None,
    )


def _old_open(old_hash: str | None, until: datetime | None, now: datetime) -> bool:
    """Whether a rolled credential's previous value still works."""
    return bool(old_hash) and until is not None and until > now


class SecretCheck:
    """One API Client's row as read for a secret check, then which stored hash the secret matched.

    The three steps of `Verifier.verify_client`, apart so the token endpoint can read the row and
    finish on its event loop and send only the argon2 step (`match_secret`) to a thread.
    """

    __slots__ = ("row", "now", "hashes", "matched", "upgraded")

    def __init__(self, row, now: datetime) -> None:
        self.row = row
        self.now = now
        # The current secret's hash first, then a rolled secret's old one while it still works.
        self.hashes: tuple[str, ...] = () if row is None else (row.secret_hash,) + (
            (row.old_secret_hash,) if _old_open(row.old_secret_hash, row.old_secret_expires_at, now) else ())
        self.matched: int | None = None  # the index in `hashes` of the one the secret matched
        self.upgraded: str | None = None  # the current secret hashed anew, when its parameters are outdated

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        return tuple(self.row.allowed_origins)


def match_secret(check: SecretCheck, secret: str) -> SecretCheck:
    """The argon2 step alone (no lookup, no write): one verification whether or not the client
    exists, a second only for a client in a roll's overlap whose new secret did not match."""
    if not check.hashes:
        crypto.verify_secret(None, secret)  # same cost as a miss on a real row
        return check
    for index, stored_hash in enumerate(check.hashes):
        if crypto.verify_secret(stored_hash, secret):
            check.matched = index
            if index == 0 and crypto.needs_rehash(stored_hash):  # an old secret ends soon: not worth it
                check.upgraded = crypto.hash_secret(secret)
            break
    return check


class UseRecorder:
    """Bookkeeping written back in batches: when (and from where) credentials were last used, and
    secret hashes upgraded to the current parameters. A check records it in memory and never waits
    for a write; one transaction a second writes everything due."""

    def __init__(self, db: Database, interval: float = USE_FLUSH_SECONDS) -> None:
        self.db = db
        self.interval = interval
        self._pending: dict[tuple[str, int], tuple[sa.Table, dict]] = {}
        self._hashes: dict[int, tuple[str, str]] = {}  # API Client row id -> (hash checked, its replacement)
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        db.before_dispose(self.flush)

    def due(self, table: sa.Table, row_id: int, last_used_at: datetime | None, now: datetime) -> bool:
        """Whether a use now should be recorded: none stored in the last minute, and none waiting."""
        return (last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION) \
            and (table.name, row_id) not in self._pending

    def record(self, table: sa.Table, row_id: int, now: datetime, address: str | None = None) -> None:
        values = {"last_used_at": now} if address is None else {"last_used_at": now, "last_used_ip": address[:45]}
        with self._lock:
            self._pending[(table.name, row_id)] = (table, values)
            self._start_timer()

    def replace_hash(self, row_id: int, checked: str, upgraded: str) -> None:
        """An API Client's secret hash `checked` replaced by `upgraded`, unless the secret changed meanwhile (a roll)."""
        with self._lock:
            self._hashes[row_id] = (checked, upgraded)
            self._start_timer()

    def _start_timer(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.interval, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def flush(self) -> None:
        """Write everything recorded so far (the timer does; so does the service as it stops)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            hashes, self._hashes = self._hashes, {}
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if not pending and not hashes:
            return
        try:
            with self.db.write() as conn:
                for (_, row_id), (table, values) in pending.items():
                    # Never back in time: another instance may have written a later use meanwhile.
                    later = sa.or_(table.c.last_used_at.is_(None), table.c.last_used_at < values["last_used_at"])
                    conn.execute(table.update().where(table.c.id == row_id, later).values(**values))
                for row_id, (checked, upgraded) in hashes.items():
                    conn.execute(api_clients.update()
                                 .where(api_clients.c.id == row_id, api_clients.c.secret_hash == checked)
                                 .values(secret_hash=upgraded))
        except Exception as err:  # bookkeeping must never fail an authentication that succeeded
            log.warning("could not write back %d use(s) and %d upgraded hash(es): %s", len(pending), len(hashes),
                        type(err).__name__)


class NeedsThread(Exception):
    """Raised instead of blocking work (an argon2 check) by a check told `blocking=False`:
    an event loop asks that way first, and asks again from a worker thread on this."""


class Verifier:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.uses = UseRecorder(db)
        self._client_secret = db.prepare(_CLIENT_SECRET)
        self._active_client = db.prepare(_ACTIVE_CLIENT)
        self._restricted_token = db.prepare(_RESTRICTED_TOKEN)
        self._member_token = db.prepare(_MEMBER_TOKEN)
        # digest(token) -> the stored hash it verified against: a new hash (rotation) misses
        self._tokens: VerifiedLru[str] = VerifiedLru(CACHE_SIZE)
        self._member_tokens: VerifiedLru[str] = VerifiedLru(CACHE_SIZE)

    def verify_client(self, client_id: str, secret: str) -> VerifiedClient | None:
        """Client ID + secret -> the client, or None (unknown, wrong, non-active, plan without API).

        The lookup, the argon2 step (see match_secret) and the verdict, one after the other.
        """
        return self.accept_client(match_secret(self.client_secret_check(client_id), secret))

    def client_secret_check(self, client_id: str) -> SecretCheck:
        """The client's row as stored now (or none), ready for `match_secret`."""
        return SecretCheck(self.db.fetch_one(self._client_secret, {"client_id": client_id[:64]}), utcnow())

    def accept_client(self, check: SecretCheck) -> VerifiedClient | None:
        """The verdict once `match_secret` ran: the client, or None. Records the use, and an
        upgraded hash, to be written within a second (no write waited for here)."""
        row = check.row
        if check.matched is None:
            return None
        if row.status != ACTIVE or not row.api_access or is_expired(row.expires_at, check.now):
            return None
        self._used(api_clients, row.id, row.last_used_at, check.now)
        if check.upgraded is not None:
            self.uses.replace_hash(row.id, row.secret_hash, check.upgraded)
        return _verified_client(row)

    def active_client(self, client_id: str) -> VerifiedClient | None:
        """The client behind a JWT, if it still exists and is active (no hashing)."""
        found = self.active_client_with_origins(client_id)
        return None if found is None else found[0]

    def active_client_with_origins(
        self, client_id: str, jti: str = ""
    ) -> tuple[VerifiedClient, tuple[str, ...]] | None:
        """The client behind a JWT and its Allowed Origins as stored now, in one lookup (no hashing);
        None too when the JWT with this `jti` was revoked."""
        row = self.db.fetch_one(self._active_client, {"client_id": client_id[:64], "jti": jti[:64]})
        if row is None or row.revoked or is_expired(row.expires_at, utcnow()):
            return None
        return _verified_client(row), tuple(row.allowed_origins)

    def revoke_jwt(self, jti: str, client: VerifiedClient, expires: float) -> None:
        """Refuse the JWT with this `jti` everywhere until it expires; expired entries are dropped."""
        now = utcnow()
        until = datetime.fromtimestamp(expires, UTC)
        with self.db.write() as conn:
            conn.execute(revoked_tokens.delete().where(revoked_tokens.c.expires_at < now))
            exists = conn.execute(sa.select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti[:64])).first()
            if exists is None and until > now:
                conn.execute(revoked_tokens.insert().values(
                    jti=jti[:64], organization_id=client.organization_id, client_id=client.client_id,
                    expires_at=until, revoked_at=now,
                ))

    def verify_restricted_token(
        self, token: str, *, blocking: bool = True, address: str | None = None
    ) -> VerifiedToken | None:
        """The token's row as stored now, or None. With blocking=False, raises NeedsThread rather
        than hash (a token not verified before). Use is recorded (written back within a second), with
        `address` when given, only if that address is allowed."""
        locator = crypto.locator_of(token, crypto.RESTRICTED_TOKEN_PREFIX)
        # A malformed token still costs one lookup (of a locator no token has): same path, same
        # timing, and the same 503 as any other while the store is down.
        row = self.db.fetch_one(self._restricted_token, {"locator": locator or ""})
        now = utcnow()
        hashes = () if row is None else (row.token_hash,) + (
            (row.old_token_hash,) if _old_open(row.old_token_hash, row.old_token_expires_at, now) else ())
        if not self._check_bearer(self._tokens, hashes, token, blocking):
            return None
        if not row.api_access or is_expired(row.expires_at, now):
            return None
        # Parsing the IP rules only when a use is due to be recorded: the service checks them on every request.
        if self.uses.due(restricted_tokens, row.id, row.last_used_at, now) and (
                address is None or validation.address_allowed(address, row.allowed_ips)):
            self.uses.record(restricted_tokens, row.id, now, address)
        return VerifiedToken(
            id=row.id,
            name=row.name,
            organization_id=row.organization_id,
            organization_name=row.org_name,
            allowed_ips=tuple(row.allowed_ips),
        )

    def verify_member_token(self, token: str) -> Member | None:
        """The member behind a management-API access token, or None (unknown, revoked, expired).
        The row is read on every call: a revoked token (its row deleted) fails on its next use."""
        locator = crypto.locator_of(token, crypto.MEMBER_TOKEN_PREFIX)
        row = self.db.fetch_one(self._member_token, {"locator": locator or ""})  # see verify_restricted_token
        if not self._check_bearer(self._member_tokens, (row.token_hash,) if row else (), token):
            return None
        if row.expires_at <= utcnow():  # after the hash check: an expired token costs what a wrong one does
            return None
        self._used(member_tokens, row.token_id, row.last_used_at, utcnow())
        return Member(
            id=row.id,
            organization_id=row.organization_id,
            email=row.email,
            display_name=row.display_name,
            role=row.role,
            can_manage_credentials=row.can_manage_credentials,
        )

    @staticmethod
    def _check_bearer(cache: VerifiedLru[str], hashes: tuple[str, ...], token: str, blocking: bool = True) -> bool:
        """Whether `token` matches one of the stored `hashes` (the current first, then a rolled one's old)."""
        digest = cache.digest(token)
        known = cache.get(digest)
        if known is not None and known in hashes:
            return True
        if not blocking:
            raise NeedsThread
        if not hashes:
            crypto.verify_secret(None, token)  # same cost as a miss on a real row
            return False
        for stored_hash in hashes:
            if crypto.verify_secret(stored_hash, token):
                cache.remember(digest, stored_hash)
                return True
        return False

    def _used(self, table: sa.Table, row_id: int, last_used_at: datetime | None, now: datetime) -> None:
        if self.uses.due(table, row_id, last_used_at, now):
            self.uses.record(table, row_id, now)
