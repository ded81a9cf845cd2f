"""PostgreSQL helpers: a URL routed through a cuttable proxy, and throwaway databases."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def upstream_of(url: str) -> tuple[str, int]:
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


def via_port(url: str, port: int) -> str:
    """The same database, reached through 127.0.0.1:<port> (a TcpProxy)."""
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def _admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


@contextmanager
def throwaway_database(url: str) -> Iterator[str]:
    """A fresh database next to the test database, dropped afterwards (even if sessions linger)."""
    name = f"turris_tmp_{secrets.token_hex(4)}"
    admin = _admin_engine(url)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def set_read_only(url: str, read_only: bool) -> None:
    """Flip a database to read-only (as a failed-over standby is) and end its sessions, so every
    new session sees the change: what an instance meets when its primary goes read-only."""
    name = make_url(url).database
    admin = _admin_engine(url)
    try:
        with admin.connect() as conn:
            if read_only:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
            else:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
    finally:
        admin.dispose()
