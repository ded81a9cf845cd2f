"""JWT signing keys: Ed25519 (EdDSA) by default, or P-256 (ES256) for gateways without EdDSA,
kept in the store so every instance signs and verifies alike.

One key per algorithm signs at a time (the newest not yet rotated). A rotated key stays published
in the JWKS and keeps verifying until the last token it can have signed has expired, then drops
out and is deleted at the next rotation. Keys of every algorithm verify, so a deployment can
switch algorithms without refusing the tokens already out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from turris_api.store import signing_keys
from turris_api.store.database import Database
from turris_api.store.errors import Unavailable
from turris_api.store.schema import utcnow

ALGORITHM = "EdDSA"  # the default
ALGORITHMS = ("EdDSA", "ES256")
ACCESS_TOKEN_LIFETIME = 3600  # seconds; the seed's 60-minute JWT
SIGNING_KEY_TTL = 2.0  # how long an instance trusts its idea of the current signing key
VERIFY_KEYS_TTL = 30.0  # how long an instance trusts its set of verification keys
UNKNOWN_KID_RELOAD = 1.0  # at most one reload a second for a kid we have not seen
# A rotated key may still sign on other instances for SIGNING_KEY_TTL, and tokens live an hour.
KEY_RETENTION = timedelta(seconds=ACCESS_TOKEN_LIFETIME + 60)
PASSPHRASE_ENV = "TURRIS_SIGNING_KEY_PASSPHRASE"  # noqa: S105 (the variable name, not a value)

_THUMBPRINT_MEMBERS = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}  # RFC 7638 3.2
_JWK = {"EdDSA": OKPAlgorithm, "ES256": ECAlgorithm}


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: a kid every instance derives the same way."""
    members = {k: jwk[k] for k in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def _generate(algorithm: str):
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return Ed25519PrivateKey.generate()


def _new_key_row(algorithm: str = ALGORITHM) -> dict[str, Any]:
    private = _generate(algorithm)
    jwk = _JWK[algorithm].to_jwk(private.public_key(), as_dict=True)
    kid = _thumbprint(jwk)
    passphrase = _passphrase()
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return {
        "kid": kid,
        "algorithm": algorithm,
        "private_key": pem.decode("ascii"),
        "public_jwk": {**jwk, "kid": kid, "alg": algorithm, "use": "sig"},
        "created_at": utcnow(),
        "rotated_at": None,
    }


def _load_private(pem: str, algorithm: str):
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=_passphrase())
    except (TypeError, ValueError) as err:
        raise Unavailable(
            f"The signing key cannot be opened: set {PASSPHRASE_ENV} to the passphrase it was created with.",
            retry_after=30,
        ) from err
    expected = ec.EllipticCurvePrivateKey if algorithm == "ES256" else Ed25519PrivateKey
    if not isinstance(key, expected):
        raise Unavailable(f"The stored signing key is not a key for {algorithm}.", retry_after=30)
    return key


def ensure_signing_key(db: Database, algorithm: str = ALGORITHM) -> str:
    """The kid of the current signing key for `algorithm`, creating one if there is none."""
    return signing_keys.ensure_current(db, algorithm, _new_key_row)


def rotate_signing_key(db: Database) -> str:
    """Start signing with new keys; the old ones verify until their tokens expired. Returns the
    new kid (of the default algorithm's key when several algorithms sign)."""
    kids = signing_keys.rotate(db, _new_key_row, KEY_RETENTION, ALGORITHM)
    return kids.get(ALGORITHM) or next(iter(kids.values()))


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: Any  # Ed25519PrivateKey | EllipticCurvePrivateKey


@dataclass(frozen=True)
class VerifyingKey:
    algorithm: str  # a JWT's header must name this very algorithm (no algorithm confusion)
    key: Any


class KeyRing:
    """This instance's view of the keys in the store, refreshed often enough to follow rotations."""

    def __init__(self, db: Database, algorithm: str = ALGORITHM) -> None:
        self.db = db
        self.algorithm = algorithm
        self._lock = threading.Lock()
        self._signing: SigningKey | None = None
        self._signing_checked = 0.0
        self._private_by_kid: dict[str, Any] = {}
        self._public: dict[str, VerifyingKey] = {}
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
            found = signing_keys.current_key(self.db, self.algorithm, self._private_by_kid.__contains__)
            if found is None:
                ensure_signing_key(self.db, self.algorithm)
                found = signing_keys.current_key(self.db, self.algorithm, self._private_by_kid.__contains__)
            kid, pem = found
            if pem is not None:
                self._private_by_kid = {kid: _load_private(pem, self.algorithm)}
            self._signing = SigningKey(kid, self.algorithm, self._private_by_kid[kid])
            self._signing_checked = time.monotonic()
            return self._signing

    def public_key(self, kid: str) -> VerifyingKey | None:
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
        rows = [row for row in signing_keys.verifying_keys(self.db, KEY_RETENTION) if row[1] in _JWK]
        public = {kid: VerifyingKey(algorithm, _JWK[algorithm].from_jwk(jwk)) for kid, algorithm, jwk in rows}
        with self._lock:
            self._public = public
            self._jwks = [jwk for _, _, jwk in rows]
            self._public_loaded = time.monotonic()
