"""An operator's view of the store: private files, explicit set-up of a server database, and a
backup taken while writers run that restores every credential."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from turris_api.store.database import Database
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft
from turris_api.store.operator import bootstrap

TURRIS_API = str(Path(sys.executable).with_name("turris-api"))


def cli(*argv: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([TURRIS_API, *argv], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_store_is_private_to_its_owner_wal_and_shm_included(tmp_path):
    folder = tmp_path / "data" / "turris-api"
    db = Database(f"sqlite:///{folder / 'store.db'}")
    bootstrap(db)
    store = LocalStore(db)
    store.create_client(ClientDraft(name="Loader"))
    with db.read():  # an open connection: the -wal and -shm files exist now
        files = sorted(folder.iterdir())
        assert {f.name for f in files} >= {"store.db", "store.db-wal", "store.db-shm"}
        assert mode(folder) == 0o700
        for file in files:
            assert mode(file) == 0o600, (file.name, oct(mode(file)))
    db.dispose()


def test_an_existing_store_others_can_read_is_warned_about(tmp_path):
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}"
    assert cli("--db", url, "client", "list").returncode == 0
    os.chmod(path, 0o644)
    done = cli("--db", url, "client", "list")
    assert done.returncode == 0
    assert "can be read by other users (mode 0644)" in done.stderr and f"chmod 600 {path}" in done.stderr


def test_a_server_database_is_set_up_explicitly_and_never_as_a_side_effect(postgres_url):
    """No organization with the OS user as admin appears on a PostgreSQL database by itself."""
    refused = cli("--db", postgres_url, "client", "list")
    assert refused.returncode == 1 and "migrate" in refused.stderr

    check = cli("--db", postgres_url, "migrate", "--check", "--json")
    assert check.returncode == 1 and json.loads(check.stdout)["pending"][0] == "0001"
    assert cli("--db", postgres_url, "migrate").returncode == 0
    assert cli("--db", postgres_url, "migrate", "--check").returncode == 0

    empty = cli("--db", postgres_url, "client", "list")
    assert empty.returncode == 4 and "turris-api init" in empty.stderr
    db = Database(postgres_url, migrate=False)
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM members").scalar() == 0  # nobody was invented
    db.dispose()

    assert cli("--db", postgres_url, "init", "--org", "Acme", "--admin", "Ops@Acme.test").returncode == 0
    again = cli("--db", postgres_url, "init", "--org", "Acme", "--admin", "ops@acme.test")
    assert again.returncode == 5 and "set up already" in again.stderr
    made = cli("--db", postgres_url, "client", "create", "--name", "Loader", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["created_by"] == "ops@acme.test"


def test_serve_refuses_a_database_that_needs_migrations(postgres_url):
    done = cli("--db", postgres_url, "serve", "--port", "1")
    assert done.returncode == 1 and "serve --migrate" in done.stderr


def test_a_backup_taken_under_concurrent_writes_restores_every_credential(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    db = Database(url)
    bootstrap(db)
    store = LocalStore(db)
    before = {store.create_client(ClientDraft(name=f"Before {i}")).client.client_id for i in range(20)}
    stop = threading.Event()
    written: list[str] = []

    def writer() -> None:
        while not stop.is_set():
            written.append(store.create_client(ClientDraft(name=f"During {len(written)}")).client.client_id)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:
            stop.wait(0.01)
        done = cli("--db", url, "backup", str(tmp_path / "copy.db"))
        assert done.returncode == 0, done.stderr
    finally:
        stop.set()
        thread.join(30)
    assert mode(tmp_path / "copy.db") == 0o600

    restored_url = f"sqlite:///{tmp_path / 'restored.db'}"
    done = cli("--db", restored_url, "restore", str(tmp_path / "copy.db"))
    assert done.returncode == 0, done.stderr
    restored_db = Database(restored_url)
    restored = {c.client_id for c in LocalStore(restored_db).list_clients()}
    assert before <= restored  # everything committed before the backup began
    assert restored - before <= set(written)  # and only whole commits of the writer after it
    with restored_db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM members").scalar() == 1
    restored_db.dispose()
    db.dispose()


def test_restore_refuses_a_live_store_without_force_and_then_replaces_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert cli("--db", url, "client", "create", "--name", "Kept").returncode == 0
    assert cli("--db", url, "backup", str(tmp_path / "b.db")).returncode == 0
    assert cli("--db", url, "backup", str(tmp_path / "b.db")).returncode == 5  # never overwrites by accident
    assert cli("--db", url, "client", "create", "--name", "Later").returncode == 0

    refused = cli("--db", url, "restore", str(tmp_path / "b.db"))
    assert refused.returncode == 5 and "--force" in refused.stderr
    names = [c["name"] for c in json.loads(cli("--db", url, "client", "list", "--json").stdout)]
    assert names == ["Kept", "Later"]  # a refused restore changes nothing

    assert cli("--db", url, "restore", str(tmp_path / "b.db"), "--force").returncode == 0
    assert [c["name"] for c in json.loads(cli("--db", url, "client", "list", "--json").stdout)] == ["Kept"]

    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    done = cli("--db", url, "restore", str(not_a_backup), "--force")
    assert done.returncode == 2 and "not a turris-api backup" in done.stderr


def test_backup_of_a_postgresql_store_points_at_pg_dump(postgres_url):
    Database(postgres_url).dispose()
    done = cli("--db", postgres_url, "backup", "/nonexistent/x.db")
    assert done.returncode == 2 and "pg_dump" in done.stderr


@pytest.mark.parametrize("command", [("client", "list"), ("client", "list", "--json")])
def test_a_reader_that_goes_away_stops_the_command_quietly(tmp_path, command):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    db = Database(url)
    bootstrap(db)
    store = LocalStore(db)
    for i in range(600):  # more than a pipe holds, so the command is still writing when head leaves
        store.create_client(ClientDraft(name=f"Loader {i}"))
    db.dispose()
    done = subprocess.run(f"{TURRIS_API} --db {url} {' '.join(command)} | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60)
    assert done.stderr == ""
    assert done.stdout.strip() == "141"
