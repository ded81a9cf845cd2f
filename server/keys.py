"""JWT signing keys: Ed25519 (EdDSA), kept in the store so every instance signs and verifies alike.

One key signs at a time (the newest not yet rotated). A rotated key stays published in the
JWKS and keeps verifying until the last token it can have signed has expired, then drops out
and is deleted at the next rotation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from turris_api.store.database import Database
from turris_api.store.errors import Unavailable
from turris_api.store.schema import signing_keys, utcnow

ALGORITHM = "EdDSA"
ACCESS_TOKEN_LIFETIME = 3600  # seconds; the seed's 60-minute JWT
SIGNING_KEY_TTL = 2.0  # how long an instance trusts its idea of the current signing key
VERIFY_KEYS_TTL = 30.0  # how long an instance trusts its set of verification keys
UNKNOWN_KID_RELOAD = 1.0  # at most one reload a second for a kid we have not seen
# A rotated key may still sign on other instances for SIGNING_KEY_TTL, and tokens live an hour.
KEY_RETENTION = timedelta(seconds=ACCESS_TOKEN_LIFETIME + 60)
KEY_CHANGE_LOCK = 0x7475_6B65  # PostgreSQL advisory lock id for creating and rotating keys
PASSPHRASE_ENV = "TURRIS_SIGNING_KEY_PASSPHRASE"  # noqa: S105 (the variable name, not a value)


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: a kid every instance derives the same way."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def _new_key_row() -> dict[str, Any]:
    private = Ed25519PrivateKey.generate()
    jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    kid = _thumbprint(jwk)
    passphrase = _passphrase()
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return {
        "kid": kid,
        "algorithm": ALGORITHM,
        "private_key": pem.decode("ascii"),
        "public_jwk": {**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"},
        "created_at": utcnow(),
        "rotated_at": None,
    }


def _load_private(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=_passphrase())
    except (TypeError, ValueError) as err:
        raise Unavailable(
            f"The signing key cannot be opened: set {PASSPHRASE_ENV} to the passphrase it was created with.",
            retry_after=30,
        ) from err
    if not isinstance(key, Ed25519PrivateKey):
        raise Unavailable("The stored signing key is not an Ed25519 key.", retry_after=30)
    return key


def ensure_signing_key(db: Database) -> str:
    """The kid of the current signing key, creating the first one on an empty store."""
    with db.write() as conn:
        _serialize_key_changes(conn)
        kid = _current_kid(conn)
        if kid is None:
            row = _new_key_row()
            conn.execute(signing_keys.insert().values(**row))
            kid = row["kid"]
    return kid


def rotate_signing_key(db: Database) -> str:
    """Start signing with a new key; the old ones verify until their tokens expired. Returns the new kid."""
    row = _new_key_row()
    now = utcnow()
    with db.write() as conn:
        _serialize_key_changes(conn)
        conn.execute(signing_keys.update().where(signing_keys.c.rotated_at.is_(None)).values(rotated_at=now))
        conn.execute(signing_keys.delete().where(signing_keys.c.rotated_at < now - KEY_RETENTION))
        conn.execute(signing_keys.insert().values(**{**row, "created_at": now}))
    return row["kid"]


def _serialize_key_changes(conn) -> None:
    """Instances starting (or rotating) at once must not each create a key: on PostgreSQL take a
    transaction-scoped lock first (SQLite's write transactions are already exclusive)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": KEY_CHANGE_LOCK})


def _current_kid(conn) -> str | None:
    return conn.execute(
        sa.select(signing_keys.c.kid)
        .where(signing_keys.c.rotated_at.is_(None))
        .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid.desc())
        .limit(1)
    ).scalar()


def _still_verifying(now: datetime):
    return sa.or_(signing_keys.c.rotated_at.is_(None), signing_keys.c.rotated_at >= now - KEY_RETENTION)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


class KeyRing:
    """This instance's view of the keys in the store, refreshed often enough to follow rotations."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._signing: SigningKey | None = None
        self._signing_checked = 0.0
        self._private_by_kid: dict[str, Ed25519PrivateKey] = {}
        self._public: dict[str, Ed25519PublicKey] = {}
        self._jwks: list[dict[str, Any]] = []
        self._public_loaded = 0.0
        self._last_unknown_reload = 0.0

    def signing_key(self) -> SigningKey:
        now = time.monotonic()
        current = self._signing
        if current is not None and now - self._signing_checked < SIGNING_KEY_TTL:
            return current
        with self._lock:
            if self._signing is not None and now - self._signing_checked < SIGNING_KEY_TTL:
                return self._signing
            with self.db.read() as conn:
                kid = _current_kid(conn)
                pem = None
                if kid is not None and kid not in self._private_by_kid:
                    pem = conn.execute(sa.select(signing_keys.c.private_key).where(signing_keys.c.kid == kid)).scalar()
            if kid is None:
                kid = ensure_signing_key(self.db)
                with self.db.read() as conn:
                    pem = conn.execute(sa.select(signing_keys.c.private_key).where(signing_keys.c.kid == kid)).scalar()
            if pem is not None:
                self._private_by_kid = {kid: _load_private(pem)}
            self._signing = SigningKey(kid, self._private_by_kid[kid])
            self._signing_checked = time.monotonic()
            return self._signing

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """The verification key for a kid, or None if the store publishes no such key."""
        now = time.monotonic()
        if now - self._public_loaded >= VERIFY_KEYS_TTL:
            self._reload_public()
        key = self._public.get(kid)
        if key is None and now - self._last_unknown_reload >= UNKNOWN_KID_RELOAD:
            self._last_unknown_reload = now
            self._reload_public()
            key = self._public.get(kid)
        return key

    def jwks(self) -> dict[str, Any]:
        """Read fresh: another instance may already sign with a key rotated in a moment ago, and a
        relying party that meets its kid refetches this once. Relying parties cache it (max-age)."""
        self._reload_public()
        return {"keys": list(self._jwks)}

    def _reload_public(self) -> None:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(signing_keys.c.kid, signing_keys.c.public_jwk)
                .where(_still_verifying(utcnow()), signing_keys.c.algorithm == ALGORITHM)
                .order_by(signing_keys.c.created_at.desc())
            ).all()
        public = {}
        for row in rows:
            public[row.kid] = OKPAlgorithm.from_jwk(row.public_jwk)
        with self._lock:
            self._public = public
            self._jwks = [dict(row.public_jwk) for row in rows]
            self._public_loaded = time.monotonic()
