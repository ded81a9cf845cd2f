"""Credential generation and hashing.

Secrets and tokens carry 256 bits from `secrets`, so the hash only has to protect a stolen
database, not a guessable password: argon2id at t=1, m=1 MiB, p=1 keeps one verification
around a millisecond on a 2-core machine (see README, "Hashing"). The parameters travel inside
each hash, so raising them later only needs `needs_rehash` on the next successful check.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from functools import cache, lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

CLIENT_ID_PREFIX = "trs_ci_"
CLIENT_SECRET_PREFIX = "trs_cs_"  # noqa: S105 (a public prefix, not a secret)
RESTRICTED_TOKEN_PREFIX = "trs_rat_"  # noqa: S105
MEMBER_TOKEN_PREFIX = "trs_mat_"  # noqa: S105
LOCATOR_HEX = 16  # 64-bit public locator inside a token: one indexed lookup, then one hash check

_LOCATOR_AND_SECRET = re.compile(rf"([0-9a-f]{{{LOCATOR_HEX}}})_(.+)", re.DOTALL)

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
    found = _LOCATOR_AND_SECRET.fullmatch(token, len(prefix))
    return None if found is None else found.group(1)


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


@lru_cache(maxsize=16_384)  # asked after every successful check; a stored hash's parameters never change
def needs_rehash(stored_hash: str) -> bool:
    return HASHER.check_needs_rehash(stored_hash)


def keyed_digest(key: bytes, value: str) -> str:
    """A digest for cache keys: the token itself is never kept. BLAKE2b's keyed mode is a MAC
    (RFC 7693) at half the cost of HMAC-SHA256, on the path of every bearer request."""
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), key=key, digest_size=32).hexdigest()


def last4(value: str) -> str:
    return value[-4:]
