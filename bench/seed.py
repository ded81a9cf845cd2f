"""Benchmark databases: a fresh SQLite file or PostgreSQL database, filled with realistic credentials."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote_plus

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from turris_api.store import crypto
from turris_api.store.database import Database
from turris_api.store.models import ACTIVE
from turris_api.store.operator import bootstrap
from turris_api.store.schema import api_clients, members, utcnow

PG_ENV = ("TURRIS_BENCH_DATABASE_URL", "TURRIS_TEST_DATABASE_URL")
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def sqlite_url(directory: Path, name: str) -> str:
    return f"sqlite:///{directory / name}.db"


def postgres_server_url() -> str:
    for name in PG_ENV:
        if url := os.environ.get(name):
            return url
    return PG_DEFAULT


@contextmanager
def postgres_database(tag: str) -> Iterator[str | None]:
    """A throwaway database on the PostgreSQL server (never the test database itself); None if unreachable."""
    server = make_url(postgres_server_url())
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"turris_bench_{tag}_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.SQLAlchemyError:
        admin.dispose()
        yield None
        return
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def open_store(url: str) -> Database:
    """Migrated and bootstrapped: one organization with API access, its admin."""
    db = Database(url)
    bootstrap(db)
    return db


def origins_for(i: int) -> list[str]:
    """Most clients allow one or two origins, some none (any origin), as real organizations do."""
    if i % 10 == 0:
        return []
    if i % 3 == 0:
        return [f"https://app{i}.example.com", f"https://staging.app{i}.example.com"]
    return [f"https://app{i}.example.com"]


def basic_credentials(client_id: str, secret: str) -> str:
    """The client_secret_basic value (RFC 6749 2.3.1: each part form-encoded, then base64)."""
    return base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


def client_name(i: int) -> str:
    return f"Integration {i:05d}"


def bulk_clients(db: Database, count: int, start: int = 0) -> None:
    """Insert API Clients straight into the table: setting up a large store, not measuring creation.

    They share one real argon2id hash (of a secret nobody keeps): listing never reads it.
    """
    if count <= 0:
        return
    shared_hash = crypto.hash_secret(crypto.new_client_secret())
    now = utcnow()
    with db.write() as conn:
        org_id, email = conn.execute(sa.select(members.c.organization_id, members.c.email).limit(1)).one()
        rows = []
        for i in range(start, start + count):
            rows.append(
                {
                    "organization_id": org_id,
                    "name": client_name(i),
                    "description": f"Order sync for warehouse {i % 97}" if i % 4 else "",
                    "client_id": crypto.new_client_id(),
                    "secret_hash": shared_hash,
                    "secret_last4": secrets.token_hex(2),
                    "allowed_origins": origins_for(i),
                    "status": ACTIVE if i % 25 else "disabled",
                    "created_at": now,
                    "created_by": email,
                    "updated_at": now,
                    "version": 1,
                }
            )
        conn.execute(api_clients.insert(), rows)
