"""Credential generation and hashing.

Secrets and tokens carry 256 bits from `secrets`, so the hash only has to protect a stolen
database, not a guessable password: argon2id at t=1, m=1 MiB, p=1 keeps one verification
around a millisecond on a 2-core machine (see README, "Hashing"). The parameters travel inside
each hash, so raising them later only needs `needs_rehash` on the next successful check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

CLIENT_ID_PREFIX = "trs_ci_"
CLIENT_SECRET_PREFIX = "trs_cs_"  # noqa: S105 (a public prefix, not a secret)
RESTRICTED_TOKEN_PREFIX = "trs_rat_"  # noqa: S105
MEMBER_TOKEN_PREFIX = "trs_mat_"  # noqa: S105
LOCATOR_HEX = 16  # 64-bit public locator inside a token: one indexed lookup, then one hash check

HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)


def new_client_id() -> str:
    return CLIENT_ID_PREFIX + secrets.token_hex(12)


def new_client_secret() -> str:
    return CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)


def new_locator() -> str:
    return secrets.token_hex(LOCATOR_HEX // 2)


def new_locator_token(prefix: str, locator: str) -> str:
    """A bearer token of the form <prefix><locator>_<256 random bits>."""
    return f"{prefix}{locator}_{secrets.token_urlsafe(32)}"


def locator_of(token: str, prefix: str) -> str | None:
    """The public locator inside a presented token, or None if it is not of that shape."""
    if not token.startswith(prefix):
        return None
    rest = token[len(prefix) :]
    locator, sep, secret = rest[:LOCATOR_HEX], rest[LOCATOR_HEX : LOCATOR_HEX + 1], rest[LOCATOR_HEX + 1 :]
    if sep != "_" or not secret or any(c not in "0123456789abcdef" for c in locator) or len(locator) != LOCATOR_HEX:
        return None
    return locator


def hash_secret(secret: str) -> str:
    return HASHER.hash(secret)


@cache
def _dummy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(32))


def verify_secret(stored_hash: str | None, presented: str) -> bool:
    """Check a presented secret; with no stored hash, still spend one verification."""
    try:
        return HASHER.verify(stored_hash or _dummy_hash(), presented) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return HASHER.check_needs_rehash(stored_hash)


def keyed_digest(key: bytes, value: str) -> str:
    """A digest for cache keys: the token itself is never kept."""
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def last4(value: str) -> str:
    return value[-4:]
