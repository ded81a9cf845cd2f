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
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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
KEY_FILE_NAME = "signing.key"  # beside an SQLite store: the at-rest key of the signing keys in it
SEALED = "aesgcm:v1:"  # a private key encrypted at rest: base64url(nonce || AES-256-GCM(PKCS#8 DER)), kid as AAD
NONCE_BYTES = 12

log = logging.getLogger("server")

_THUMBPRINT_MEMBERS = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}  # RFC 7638 3.2
_JWK = {"EdDSA": OKPAlgorithm, "ES256": ECAlgorithm}


class KeyMaterial:
    """What opens and protects the signing keys in the store: the at-rest key (not in the
    database), and the passphrase older keys may have been stored under."""

    __slots__ = ("at_rest_key", "passphrase", "previous")

    def __init__(self, at_rest_key: bytes | None = None, passphrase: bytes | None = None,
                 previous: bytes | None = None) -> None:
        self.at_rest_key = at_rest_key
        self.passphrase = passphrase
        self.previous = previous  # the at-rest key being rotated out: opens, never seals

    def __repr__(self) -> str:
        return f"KeyMaterial(at_rest_key={'(set)' if self.at_rest_key else None})"

    def seal(self, private, kid: str) -> str:
        if self.at_rest_key is None:
            encryption = (serialization.BestAvailableEncryption(self.passphrase) if self.passphrase
                          else serialization.NoEncryption())
            return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         encryption).decode("ascii")
        der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.at_rest_key).encrypt(nonce, der, kid.encode("ascii"))
        return SEALED + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def sealed_with_current(self, stored: str, kid: str) -> bool:
        try:
            self._unseal(stored, kid, self.at_rest_key)
        except (InvalidTag, ValueError):
            return False
        return True

    @staticmethod
    def _unseal(stored: str, kid: str, key: bytes):
        blob = base64.urlsafe_b64decode(stored[len(SEALED):])
        der = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], kid.encode("ascii"))
        return serialization.load_der_private_key(der, password=None)

    def open(self, stored: str, kid: str):
        """The private key; Unavailable (with what to configure) when it cannot be opened."""
        if stored.startswith(SEALED):
            if self.at_rest_key is None:
                raise Unavailable("The signing key is encrypted at rest and no key to open it is configured "
                                  "(TURRIS_SECRET_KEY or the signing.key file beside the store).", retry_after=30)
            try:
                return self._unseal(stored, kid, self.at_rest_key)
            except (InvalidTag, ValueError) as err:
                if self.previous is not None:
                    try:
                        return self._unseal(stored, kid, self.previous)
                    except (InvalidTag, ValueError):
                        pass
                raise Unavailable("The signing key cannot be decrypted with the configured at-rest key "
                                  "(TURRIS_SECRET_KEY or signing.key); restore that key, or rotate the signing key.",
                                  retry_after=30) from err
        try:
            password = self.passphrase if "ENCRYPTED" in stored else None
            return serialization.load_pem_private_key(stored.encode("ascii"), password=password)
        except (TypeError, ValueError) as err:
            raise Unavailable(
                f"The signing key cannot be opened: set {PASSPHRASE_ENV} to the passphrase it was created with.",
                retry_after=30,
            ) from err


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: a kid every instance derives the same way."""
    members = {k: jwk[k] for k in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def _generate(algorithm: str):
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return Ed25519PrivateKey.generate()


def _new_key_row(algorithm: str, material: KeyMaterial) -> dict[str, Any]:
    private = _generate(algorithm)
    jwk = _JWK[algorithm].to_jwk(private.public_key(), as_dict=True)
    kid = _thumbprint(jwk)
    if material.at_rest_key is None and material.passphrase is None:
        log.warning("A new signing key is stored in plaintext: configure an at-rest key (TURRIS_SECRET_KEY).")
    return {
        "kid": kid,
        "algorithm": algorithm,
        "private_key": material.seal(private, kid),
        "public_jwk": {**jwk, "kid": kid, "alg": algorithm, "use": "sig"},
        "created_at": utcnow(),
        "rotated_at": None,
    }


def _load_private(stored: str, algorithm: str, kid: str, material: KeyMaterial):
    key = material.open(stored, kid)
    expected = ec.EllipticCurvePrivateKey if algorithm == "ES256" else Ed25519PrivateKey
    if not isinstance(key, expected):
        raise Unavailable(f"The stored signing key is not a key for {algorithm}.", retry_after=30)
    return key


def ensure_signing_key(db: Database, algorithm: str = ALGORITHM, material: KeyMaterial | None = None) -> str:
    """The kid of the current signing key for `algorithm`, creating one if there is none."""
    material = material or KeyMaterial()
    return signing_keys.ensure_current(db, algorithm, lambda a: _new_key_row(a, material))


def rotate_signing_key(db: Database, material: KeyMaterial | None = None) -> str:
    """Start signing with new keys; the old ones verify until their tokens expired. Returns the
    new kid (of the default algorithm's key when several algorithms sign)."""
    material = material or KeyMaterial()
    kids = signing_keys.rotate(db, lambda a: _new_key_row(a, material), KEY_RETENTION, ALGORITHM)
    return kids.get(ALGORITHM) or next(iter(kids.values()))


def seal_stored_keys(db: Database, material: KeyMaterial) -> tuple[int, list[str]]:
    """Encrypt at rest every key still stored in plaintext or under a passphrase. Returns how many
    were sealed and the kids of keys that could not be opened (left as they are)."""
    if material.at_rest_key is None:
        return 0, []
    unreadable: list[str] = []

    def reseal(kid: str, stored: str) -> str | None:
        if stored.startswith(SEALED) and material.sealed_with_current(stored, kid):
            return None
        try:
            private = material.open(stored, kid)
        except Unavailable:
            unreadable.append(kid)
            return None
        return material.seal(private, kid)

    return signing_keys.reseal(db, reseal), unreadable


def check_stored_keys(db: Database, material: KeyMaterial) -> list[str]:
    """The kids of signing keys (current ones) this configuration cannot open."""
    unreadable = []
    for kid, stored in signing_keys.current_private_keys(db):
        try:
            material.open(stored, kid)
        except Unavailable:
            unreadable.append(kid)
    return unreadable


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

    def __init__(self, db: Database, algorithm: str = ALGORITHM, material: KeyMaterial | None = None) -> None:
        self.db = db
        self.algorithm = algorithm
        self.material = material or KeyMaterial()
        self._lock = threading.Lock()
        self._signing: SigningKey | None = None
        self._signing_checked = 0.0
        self._private_by_kid: dict[str, Any] = {}
        self._public: dict[str, VerifyingKey] = {}
        self._jwks: list[dict[str, Any]] = []
        self._public_loaded = 0.0
        self._last_unknown_reload = 0.0

    def signing_key(self, fresh: bool = False) -> SigningKey:
        """The key to sign with; `fresh` reads the store now instead of trusting the recent answer."""
        now = time.monotonic()
        current = self._signing
        if current is not None and now - self._signing_checked < SIGNING_KEY_TTL and not fresh:
            return current
        with self._lock:
            if self._signing is not None and now - self._signing_checked < SIGNING_KEY_TTL and not fresh:
                return self._signing
            found = signing_keys.current_key(self.db, self.algorithm, self._private_by_kid.__contains__)
            if found is None:
                ensure_signing_key(self.db, self.algorithm, self.material)
                found = signing_keys.current_key(self.db, self.algorithm, self._private_by_kid.__contains__)
            kid, pem = found
            if pem is not None:
                self._private_by_kid = {kid: _load_private(pem, self.algorithm, kid, self.material)}
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
