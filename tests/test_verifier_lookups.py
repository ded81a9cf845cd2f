"""Credential checks see the row as stored now on every request. On a file SQLite store each thread
keeps its own lookup connection, which re-reads a row only when the database changed: a change, made
by any connection in any process, is still seen by the very next check (on an event loop, by the
first check of the next loop turn, where a request received after the change is answered), the
connections never take the pool's slots from the requests that need them, and they are closed with
the store."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from turris_api.store.database import Database
from turris_api.store.errors import Unavailable
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.operator import bootstrap
from turris_api.store.verify import Verifier

POOL_SLOTS = 50  # SQLITE_POOL_SIZE + max_overflow: more threads than this check at once below


def test_a_deleted_token_is_refused_by_the_next_check_on_a_thread_that_checked_it_before(db, admin):
    token = admin.create_token(TokenDraft(name="Storefront", allowed_ips="127.0.0.1"))
    verifier = Verifier(db)
    with ThreadPoolExecutor(max_workers=1) as same_thread:
        assert same_thread.submit(verifier.verify_restricted_token, token.value).result() is not None
        admin.update_token(token.token.id, TokenDraft(name="Storefront", allowed_ips="198.51.100.7"),
                           token.token.version)
        seen = same_thread.submit(verifier.verify_restricted_token, token.value).result()
        assert seen.allowed_ips == ("198.51.100.7",)

        admin.delete_token(token.token.id)
        assert same_thread.submit(verifier.verify_restricted_token, token.value).result() is None


# The one kind of store whose threads keep lookup connections: the conftest's db, on its SQLite file only.
sqlite_file_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _disable_in_another_process(database_url: str, client_id: str) -> None:
    """An operator's emergency fix with the sqlite3 shell, outside the store and this process."""
    path = sa.engine.make_url(database_url).database
    subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                    "c.execute(\"UPDATE api_clients SET status = 'disabled' WHERE client_id = ?\", (sys.argv[2],)); "
                    "c.commit()", path, client_id], check=True)


@sqlite_file_only
def test_a_client_disabled_by_another_process_is_refused_by_the_next_check(db, admin, database_url):
    client = admin.create_client(ClientDraft(name="Warehouse")).client
    verifier = Verifier(db)
    assert verifier.active_client(client.client_id) is not None
    assert verifier.active_client(client.client_id) is not None  # now remembered by this connection
    _disable_in_another_process(database_url, client.client_id)
    assert verifier.active_client(client.client_id) is None


def _traced(db: Database) -> list[str]:
    statements: list[str] = []
    sa.event.listen(db.engine, "checkout", lambda dbapi, *_: dbapi.set_trace_callback(statements.append))
    return statements


@sqlite_file_only
def test_on_an_event_loop_one_check_serves_a_loop_turn_and_the_next_turn_sees_another_process_change(
        db, admin, database_url):
    client = admin.create_client(ClientDraft(name="Warehouse")).client
    verifier = Verifier(db)
    statements = _traced(db)

    async def requests_in_two_turns():
        for _ in range(3):  # three requests answered in one turn: one check of the store between them
            assert verifier.active_client(client.client_id) is not None
        checks = statements.count("PRAGMA data_version")
        _disable_in_another_process(database_url, client.client_id)
        await asyncio.sleep(0)  # the turn in which a request received after the change is answered
        return checks, verifier.active_client(client.client_id)

    checks, after_the_change = asyncio.run(requests_in_two_turns())
    assert checks == 1
    assert after_the_change is None
    assert statements.count("PRAGMA data_version") == 2


@sqlite_file_only
def test_on_an_event_loop_a_change_this_process_makes_is_seen_by_the_check_right_after_it(db, admin):
    made = admin.create_client(ClientDraft(name="Warehouse")).client
    token = admin.create_token(TokenDraft(name="Storefront", allowed_ips="127.0.0.1"))
    verifier = Verifier(db)
    other_store = LocalStore(Database(db.engine.url.render_as_string(hide_password=False)))  # another store, this process

    async def one_turn():
        assert verifier.active_client(made.client_id) is not None
        assert verifier.verify_restricted_token(token.value) is not None
        admin.set_client_status(made.id, "disabled")
        disabled = verifier.active_client(made.client_id)
        other_store.delete_token(token.token.id)
        return disabled, verifier.verify_restricted_token(token.value)

    try:
        assert asyncio.run(one_turn()) == (None, None)
    finally:
        other_store.db.dispose()


@sqlite_file_only
def test_on_an_event_loop_a_vanished_store_file_fails_the_next_turn_closed(db, admin, database_url):
    made = admin.create_client(ClientDraft(name="Warehouse")).client
    verifier = Verifier(db)
    path = Path(sa.engine.make_url(database_url).database)

    async def two_turns():
        assert verifier.active_client(made.client_id) is not None
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            file.unlink(missing_ok=True)
        await asyncio.sleep(0)
        verifier.active_client(made.client_id)

    with pytest.raises(Unavailable, match="store file is missing"):
        asyncio.run(two_turns())


@sqlite_file_only
def test_a_repeated_check_asks_only_whether_the_store_changed(db, admin):
    client = admin.create_client(ClientDraft(name="Warehouse", allowed_origins=["https://shop.example.com"]))
    statements = _traced(db)
    verifier = Verifier(db)
    assert verifier.client_secret_check(client.client.client_id).allowed_origins == ("https://shop.example.com",)
    assert [s.split()[0] for s in statements] == ["PRAGMA", "SELECT"]
    statements.clear()
    assert verifier.client_secret_check(client.client.client_id).allowed_origins == ("https://shop.example.com",)
    assert statements == ["PRAGMA data_version"]

    admin.update_client(client.client.id, ClientDraft(name="Warehouse", allowed_origins=["https://new.example.com"]),
                        client.client.version)
    statements.clear()
    assert verifier.client_secret_check(client.client.client_id).allowed_origins == ("https://new.example.com",)
    assert [s.split()[0] for s in statements] == ["PRAGMA", "SELECT"]


def test_checks_on_more_threads_than_the_pool_holds_leave_it_free_for_changes(sqlite_url):
    db = Database(sqlite_url)
    try:
        bootstrap(db)
        admin = LocalStore(db)
        token = admin.create_token(TokenDraft(name="Storefront", allowed_ips="127.0.0.1"))
        verifier = Verifier(db)
        checked = threading.Barrier(POOL_SLOTS + 11)
        release = threading.Event()
        results: list[bool] = []

        def check_and_stay() -> None:
            results.append(verifier.verify_restricted_token(token.value) is not None)
            checked.wait(timeout=30)
            release.wait(timeout=30)  # the thread, and whatever it holds, lives on

        threads = [threading.Thread(target=check_and_stay) for _ in range(POOL_SLOTS + 10)]
        for thread in threads:
            thread.start()
        try:
            checked.wait(timeout=30)
            assert results == [True] * len(threads)
            assert db.engine.pool.checkedout() == 0
            assert admin.create_client(ClientDraft(name="Made while every thread holds its lookup")).secret
        finally:
            release.set()
            for thread in threads:
                thread.join(timeout=30)
    finally:
        db.dispose()


def test_a_thread_checks_again_after_the_store_was_disposed(sqlite_url):
    db = Database(sqlite_url)
    bootstrap(db)
    token = LocalStore(db).create_token(TokenDraft(name="Storefront", allowed_ips="127.0.0.1"))
    verifier = Verifier(db)
    with ThreadPoolExecutor(max_workers=1) as same_thread:
        assert same_thread.submit(verifier.verify_restricted_token, token.value).result() is not None
        db.dispose()  # closes this thread's lookup connection too; the store stays usable, as after Engine.dispose
        assert same_thread.submit(verifier.verify_restricted_token, token.value).result() is not None
    db.dispose()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counting open files needs /proc (Linux)")
def test_lookup_connections_close_when_their_thread_ends_and_when_the_store_is_disposed(sqlite_url):
    path = str(Path(sa.engine.make_url(sqlite_url).database).resolve())
    db = Database(sqlite_url)
    bootstrap(db)
    admin = LocalStore(db)
    token = admin.create_token(TokenDraft(name="Storefront", allowed_ips="127.0.0.1"))
    verifier = Verifier(db)
    verifier.uses.interval = 3600  # uses written back when asked below, never by its timer in the middle of a count

    def check() -> None:
        assert verifier.verify_restricted_token(token.value) is not None

    ended = threading.Thread(target=check)  # its first check also records the use, written back through the pool
    ended.start()
    ended.join()
    verifier.uses.flush()
    db.engine.dispose()  # closes the pool's connections: what is left open is a lookup's
    gc.collect()
    assert _open_handles(path) == 0

    checked = threading.Barrier(4)
    release = threading.Event()

    def check_and_stay() -> None:
        check()
        checked.wait(timeout=30)
        release.wait(timeout=30)

    alive = [threading.Thread(target=check_and_stay) for _ in range(3)]
    for thread in alive:
        thread.start()
    try:
        checked.wait(timeout=30)  # every thread has checked, and holds its connection
        assert _open_handles(path) == 3
        db.dispose()
        assert _open_handles(path) == 0
    finally:
        release.set()
        for thread in alive:
            thread.join(timeout=30)


def _open_handles(path: str) -> int:
    """This process's open descriptors on the database file itself (not its -wal or -shm)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == path:
                count += 1
        except OSError:
            pass
    return count
