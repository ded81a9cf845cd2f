"""A store created by the first migration, with data in it, upgrades to head and loses nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from turris_api.store import crypto
from turris_api.store.database import SCHEMA_HEAD, Database
from turris_api.store.local import LocalStore
from turris_api.store.schema import metadata
from turris_api.store.verify import Verifier


def test_upgrading_a_first_migration_database_keeps_every_credential(database_url):
    old = Database(database_url, migrate=False)
    old.migrate("0001")
    secret = crypto.new_client_secret()
    token = crypto.new_locator_token(crypto.RESTRICTED_TOKEN_PREFIX, "0123456789abcdef")
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with old.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO organizations (id, name, api_access, created_at) VALUES (1, 'Acme', :t, :now)"),
                     {"t": True, "now": now})
        conn.execute(sa.text("INSERT INTO members (id, organization_id, email, display_name, role, can_manage_credentials,"
                             " created_at) VALUES (1, 1, 'ada@acme.example', 'Ada', 'admin', :t, :now)"),
                     {"t": True, "now": now})
        conn.execute(sa.text("INSERT INTO api_clients (id, organization_id, name, description, client_id, secret_hash,"
                             " secret_last4, allowed_origins, status, created_at, created_by, updated_at, version)"
                             " VALUES (1, 1, 'Legacy loader', 'from v1', 'trs_ci_legacy', :h, :l4, :o, 'active', :now,"
                             " 'ada@acme.example', :now, 3)"),
                     {"h": crypto.hash_secret(secret), "l4": secret[-4:], "o": '["https://acme.example"]', "now": now})
        conn.execute(sa.text("INSERT INTO restricted_tokens (id, organization_id, name, locator, token_hash, token_last4,"
                             " allowed_ips, created_at, created_by, updated_at, version) VALUES (1, 1, 'Portal',"
                             " '0123456789abcdef', :h, :l4, '[\"10.0.0.0/8\"]', :now, 'ada@acme.example', :now, 1)"),
                     {"h": crypto.hash_secret(token), "l4": token[-4:], "now": now})
        conn.execute(sa.text("INSERT INTO audit_events (organization_id, at, actor, action, credential_type,"
                             " credential_id, credential_name) VALUES (1, :now, 'ada@acme.example', 'create',"
                             " 'api_client', 1, 'Legacy loader')"), {"now": now})
    old.dispose()

    upgraded = Database(database_url)  # opening a store applies the pending migrations
    store = LocalStore(upgraded, "ada@acme.example")
    [client] = store.list_clients()
    assert (client.name, client.description, client.client_id, client.version) == ("Legacy loader", "from v1",
                                                                                    "trs_ci_legacy", 3)
    assert client.allowed_origins == ("https://acme.example",) and client.created_at == now
    assert store.list_tokens()[0].allowed_ips == ("10.0.0.0/8",)
    assert [e.credential_name for e in store.audit_events()] == ["Legacy loader"]
    verifier = Verifier(upgraded)
    assert verifier.verify_client("trs_ci_legacy", secret) is not None
    assert verifier.verify_restricted_token(token) is not None
    with upgraded.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_HEAD
    upgraded.dispose()


def test_the_migrations_build_exactly_the_schema_the_code_uses(database_url):
    db = Database(database_url)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    db.dispose()
    assert diff == []


def test_opening_twice_is_harmless(database_url):
    Database(database_url).dispose()
    Database(database_url).dispose()


def test_the_known_head_is_alembics_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from turris_api.store.database import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_store_and_server_never_import_the_ui():
    import subprocess
    import sys

    code = "import sys, store, store.local, store.verify, store.operator, store.remote, server.api, server.run; " \
           "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'screens', 'widgets')]; " \
           "print(bad); sys.exit(1 if bad else 0)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_upgrading_from_0004_keeps_members_and_their_tokens_which_now_expire(database_url):
    old = Database(database_url, migrate=False)
    old.migrate("0004")
    token = crypto.new_locator_token(crypto.MEMBER_TOKEN_PREFIX, "fedcba9876543210")
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with old.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO organizations (id, name, api_access, created_at) VALUES (1, 'Acme', :t, :now)"),
                     {"t": True, "now": now})
        conn.execute(sa.text("INSERT INTO members (id, organization_id, email, display_name, role, can_manage_credentials,"
                             " created_at) VALUES (1, 1, 'ada@acme.example', 'Ada', 'admin', :t, :now)"),
                     {"t": True, "now": now})
        conn.execute(sa.text("INSERT INTO member_tokens (id, member_id, locator, token_hash, token_last4, created_at)"
                             " VALUES (1, 1, 'fedcba9876543210', :h, :l4, :now)"),
                     {"h": crypto.hash_secret(token), "l4": token[-4:], "now": now})
    old.dispose()

    upgraded = Database(database_url)
    with upgraded.engine.connect() as conn:
        expires = conn.execute(sa.text("SELECT expires_at FROM member_tokens")).scalar()
    assert expires is not None
    member = Verifier(upgraded).verify_member_token(token)  # the token already out survived the rebuild
    assert member is not None and member.email == "ada@acme.example"
    with upgraded.engine.begin() as conn:  # one address may now be a member of two organizations
        conn.execute(sa.text("INSERT INTO organizations (id, name, api_access, created_at) VALUES (2, 'Rival', :t, :now)"),
                     {"t": True, "now": now})
        conn.execute(sa.text("INSERT INTO members (id, organization_id, email, display_name, role, can_manage_credentials,"
                             " created_at) VALUES (2, 2, 'ada@acme.example', 'Ada', 'member', :f, :now)"),
                     {"f": False, "now": now})
    assert {m.email for m in LocalStore(upgraded, 1).list_members()} == {"ada@acme.example"}
    upgraded.dispose()
