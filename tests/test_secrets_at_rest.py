"""The one-time secret: after creation it is nowhere but in the hands of whoever created it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import sqlalchemy as sa

from turris_api.app.cli import main
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.schema import metadata


def every_stored_value(db) -> str:
    """Every column of every row of every table, as text."""
    dump = []
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            dump.extend(repr(tuple(row)) for row in conn.execute(sa.select(table)))
    return "\n".join(dump)


def test_no_secret_or_token_is_stored_listed_or_audited(admin, db, caplog):
    caplog.set_level(logging.DEBUG)
    client = admin.create_client(ClientDraft("Loader", "", "https://a.example"))
    token = admin.create_token(TokenDraft("Portal", "10.0.0.1"))
    admin.update_client(client.client.id, ClientDraft("Loader 2"), client.client.version)
    values = [client.secret, token.value]
    bodies = [v.split("_", 2)[-1] for v in values]  # without the public prefix

    stored = every_stored_value(db)
    seen_elsewhere = repr(admin.list_clients()) + repr(admin.list_tokens()) + repr(admin.audit_events()) + caplog.text
    for secret in values + bodies:
        assert secret not in stored
        assert secret not in seen_elsewhere
    assert stored.count("$argon2id$") == 2
    assert client.client.secret_last4 in stored and token.token.token_last4 in stored


def test_the_raw_sqlite_files_hold_no_secret(tmp_path, monkeypatch, capsys):
    """grep the database file bytes, WAL included, after creating through the CLI."""
    path = tmp_path / "store.db"
    monkeypatch.setenv("TURRIS_DB_URL", f"sqlite:///{path}")
    assert main(["client", "create", "--name", "Loader", "--json"]) == 0
    secret = json.loads(capsys.readouterr().out)["client_secret"]
    assert main(["token", "create", "--name", "Portal", "--ips", "10.0.0.1", "--json"]) == 0
    token = json.loads(capsys.readouterr().out)["token"]
    assert main(["client", "list", "--json"]) == 0
    assert main(["audit", "--json"]) == 0
    shown_later = capsys.readouterr().out
    files = [p for p in Path(tmp_path).iterdir() if p.name.startswith("store.db")]
    assert path in files
    raw = b"".join(p.read_bytes() for p in files)
    for value in (secret, token):
        assert value.encode() not in raw
        assert value.split("_", 2)[-1].encode() not in raw
        assert value not in shown_later
    assert b"$argon2id$" in raw


def test_a_member_of_another_org_never_sees_the_last_four_either(admin, db):
    from turris_api.store.operator import create_organization

    admin.create_client(ClientDraft("Loader"))
    create_organization(db, "Rival", "boss@rival.example")
    assert LocalStore(db, "boss@rival.example").list_clients() == []
