"""Store: create API Clients one by one (argon2id hashing included) and list a large organization."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench import seed
from bench.report import Row, Target, skipped
from turris_api.store import crypto
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft
from turris_api.store.schema import api_clients

LIST_TARGET_MS = 100.0


def run(workdir: Path, *, creates: int, listed: int, repeats: int) -> list[Row]:
    rows = measure("sqlite", "SQLite", seed.sqlite_url(workdir, "store"), creates=creates, listed=listed, repeats=repeats)
    with seed.postgres_database("store") as pg_url:
        if pg_url is None:
            rows += [
                skipped("store_create_postgresql", f"Store: create {creates:,} API Clients, PostgreSQL", "ms",
                        "no PostgreSQL"),
                skipped("store_list_postgresql", f"Store: list {listed:,} API Clients, PostgreSQL", "ms",
                        "no PostgreSQL"),
            ]
        else:
            rows += measure("postgresql", "PostgreSQL", pg_url, creates=creates, listed=listed, repeats=repeats)
    return rows


def measure(key: str, label: str, url: str, *, creates: int, listed: int, repeats: int) -> list[Row]:
    db = seed.open_store(url)
    try:
        store = LocalStore(db)
        return [create_row(key, label, store, creates), list_row(key, label, store, db, listed, repeats)]
    finally:
        db.dispose()


def create_row(key: str, label: str, store: LocalStore, creates: int) -> Row:
    """Mean time of one create_client (validation, argon2id hash, insert + audit in one transaction)."""
    hash_started = time.perf_counter()
    for _ in range(creates):
        crypto.hash_secret(crypto.new_client_secret())
    hash_ms = (time.perf_counter() - hash_started) * 1000 / creates

    started = time.perf_counter()
    for i in range(creates):
        store.create_client(
            ClientDraft(
                name=seed.client_name(i),
                description="Created by the benchmark",
                allowed_origins=seed.origins_for(i),
            )
        )
    total_s = time.perf_counter() - started
    return Row(
        key=f"store_create_{key}",
        name=f"Store: create {creates:,} API Clients, {label} (per create)",
        unit="ms",
        value=total_s * 1000 / creates,
        baseline=hash_ms,
        baseline_name="argon2id hash alone",
        note=f"{creates:,} creates took {total_s:.2f} s",
        extra={"count": creates, "total_s": total_s},
    )


def list_row(key: str, label: str, store: LocalStore, db, listed: int, repeats: int) -> Row:
    """Median time of list_clients over `listed` API Clients, against fetching the same rows raw."""
    already = len(store.list_clients())
    seed.bulk_clients(db, listed - already, start=already)
    columns = ", ".join(c.name for c in api_clients.c if c.name != "secret_hash")  # what list_clients reads

    def raw_fetch() -> int:
        with db.read() as conn:
            return len(conn.exec_driver_sql(f"SELECT {columns} FROM api_clients").fetchall())

    def product_list() -> int:
        return len(store.list_clients())

    raw_ms, raw_count = _median_ms(raw_fetch, repeats)
    list_ms, count = _median_ms(product_list, repeats)
    if count != listed or raw_count != listed:
        raise RuntimeError(f"expected {listed} API Clients, listed {count} (raw {raw_count})")
    return Row(
        key=f"store_list_{key}",
        name=f"Store: list {listed:,} API Clients, {label}",
        unit="ms",
        value=list_ms,
        baseline=raw_ms,
        baseline_name="same rows, raw SQL",
        target=Target("value", "<=", LIST_TARGET_MS) if key == "sqlite" else None,
        note=f"median of {repeats}",
        extra={"count": count},
    )


def _median_ms(fn, repeats: int) -> tuple[float, int]:
    result = fn()  # warm-up: connection pool, statement caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result
