"""The signing_keys table: JWT signing keys as rows. What a key is (generation, PEM, JWK) lives
in the service (server/keys.py); this module only stores, finds and retires them."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from turris_api.store import audit
from turris_api.store.database import Database
from turris_api.store.errors import Invalid, Unavailable
from turris_api.store.models import OPERATOR
from turris_api.store.schema import signing_keys, utcnow

KEY_CHANGE_LOCK = 0x7475_6B65  # PostgreSQL advisory lock id for creating and rotating keys

NewKeyRow = Callable[[str], dict[str, Any]]  # algorithm -> a row for signing_keys.insert()


def _serialize_key_changes(conn) -> None:
    """Instances starting (or rotating) at once must not each create a key: on PostgreSQL take a
    transaction-scoped lock first (SQLite's write transactions are already exclusive)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": KEY_CHANGE_LOCK})


def _current_kid(conn, algorithm: str) -> str | None:
    return conn.execute(
        sa.select(signing_keys.c.kid)
        .where(signing_keys.c.rotated_at.is_(None), signing_keys.c.algorithm == algorithm)
        .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid.desc())
        .limit(1)
    ).scalar()


def ensure_current(db: Database, algorithm: str, new_row: NewKeyRow) -> str:
    """The kid of the key signing with `algorithm`, inserting `new_row(algorithm)` if there is none."""
    with db.write() as conn:
        _serialize_key_changes(conn)
        kid = _current_kid(conn, algorithm)
        if kid is None:
            row = new_row(algorithm)
            conn.execute(signing_keys.insert().values(**row))
            kid = row["kid"]
    return kid


def rotate(db: Database, new_row: NewKeyRow, retention: timedelta, default_algorithm: str) -> dict[str, str]:
    """Retire every signing key, start a new one per algorithm that was signing (or the default),
    and delete keys retired longer ago than `retention`. Returns algorithm -> new kid."""
    now = utcnow()
    with db.write() as conn:
        _serialize_key_changes(conn)
        current = signing_keys.c.rotated_at.is_(None)
        algorithms = sorted(set(conn.execute(sa.select(signing_keys.c.algorithm).where(current)).scalars()))
        rows = [new_row(a) for a in algorithms or [default_algorithm]]
        conn.execute(signing_keys.update().where(current).values(rotated_at=now))
        conn.execute(signing_keys.delete().where(signing_keys.c.rotated_at < now - retention))
        for row in rows:
            conn.execute(signing_keys.insert().values(**{**row, "created_at": now}))
            audit.record_everywhere(conn, OPERATOR, "rotate", audit.SIGNING_KEY, row["kid"], row["algorithm"])
    return {row["algorithm"]: row["kid"] for row in rows}


def current_key(db: Database, algorithm: str, known: Callable[[str], bool]) -> tuple[str, str | None] | None:
    """(kid, private PEM) of the key signing with `algorithm`; the PEM only if `known(kid)` is false."""
    with db.read() as conn:
        kid = _current_kid(conn, algorithm)
        if kid is None:
            return None
        if known(kid):
            return kid, None
        return kid, conn.execute(sa.select(signing_keys.c.private_key).where(signing_keys.c.kid == kid)).scalar()


def verifying_keys(db: Database, retention: timedelta) -> list[tuple[str, str, dict]]:
    """(kid, algorithm, public JWK) of every key that still verifies, newest first."""
    now: datetime = utcnow()
    with db.read() as conn:
        rows = conn.execute(
            sa.select(signing_keys.c.kid, signing_keys.c.algorithm, signing_keys.c.public_jwk)
            .where(sa.or_(signing_keys.c.rotated_at.is_(None), signing_keys.c.rotated_at >= now - retention))
            .order_by(signing_keys.c.created_at.desc())
        ).all()
    return [(row.kid, row.algorithm, dict(row.public_jwk)) for row in rows]


def current_private_keys(db: Database) -> list[tuple[str, str]]:
    """(kid, stored private key) of every key signing now."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(signing_keys.c.kid, signing_keys.c.private_key).where(signing_keys.c.rotated_at.is_(None))
        ).all()
    return [(row.kid, row.private_key) for row in rows]


def reseal(db: Database, transform: Callable[[str, str], str | None]) -> int:
    """Replace each stored private key with `transform(kid, stored)` where that is not None."""
    changed = 0
    with db.write() as conn:
        _serialize_key_changes(conn)
        rows = conn.execute(sa.select(signing_keys.c.kid, signing_keys.c.private_key)).all()
        for row in rows:
            new = transform(row.kid, row.private_key)
            if new is not None:
                conn.execute(signing_keys.update().where(signing_keys.c.kid == row.kid).values(private_key=new))
                changed += 1
    return changed


AT_REST_KEY_BYTES = 32


def at_rest_key_file(path: Path) -> bytes:
    """The key that encrypts the signing keys, from a file kept beside (never inside) the store;
    created 0600 with a new random key if there is none. The file holds the key in base64, the
    same form TURRIS_SECRET_KEY takes."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        pass
    except OSError as err:
        raise Unavailable(f"Cannot create the at-rest key file {path}: {err.strerror or err}.") from err
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(AT_REST_KEY_BYTES)).decode("ascii") + "\n")
    try:
        text = path.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise Unavailable(f"Cannot read the at-rest key file {path}.") from err
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != AT_REST_KEY_BYTES:
        raise Invalid("secret_key_file", f"The at-rest key file {path} does not hold a 32-byte base64 key.")
    return key
