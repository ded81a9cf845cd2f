"""Shared fixtures: hermetic environment, a store database on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from turris_api.store.database import Database
from turris_api.store.local import LocalStore
from turris_api.store.operator import bootstrap

PG_URL_ENV = "TURRIS_TEST_DATABASE_URL"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch) -> None:
    """Never touch the developer's home, store or tokens."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for name in ("TURRIS_DB_URL", "TURRIS_MEMBER_TOKEN", "TURRIS_REMOTE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str | None]:
    """A database of this pytest process's own on the server at $TURRIS_TEST_DATABASE_URL.

    Its own, so that two test runs on one server never reset each other's tables.
    """
    url = os.environ.get(PG_URL_ENV)
    if not url:
        yield None
        return
    base = make_url(url)
    own = base.set(database=f"{base.database}_{os.getpid()}")
    admin_engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{own.database}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{own.database}"'))
    except sa.exc.OperationalError:
        admin_engine.dispose()
        yield None
        return
    yield own.render_as_string(hide_password=False)
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{own.database}" WITH (FORCE)'))
    admin_engine.dispose()


@pytest.fixture
def postgres_url(postgres_server_url) -> str:
    """The PostgreSQL test database, reset to an empty schema; skips where there is none."""
    if postgres_server_url is None:
        pytest.skip(f"PostgreSQL tests need {PG_URL_ENV} (a reachable database URL); .ci/run sets it")
    engine = sa.create_engine(postgres_server_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return postgres_server_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def db(database_url) -> Iterator[Database]:
    """A migrated, bootstrapped store database (one organization, its admin)."""
    database = Database(database_url)
    bootstrap(database)
    yield database
    database.dispose()


@pytest.fixture
def admin(db) -> LocalStore:
    return LocalStore(db)


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """`turris-api` in-process on a fresh SQLite store: run(*argv) -> (exit code, stdout, stderr)."""
    from turris_api.app.cli import main

    monkeypatch.setenv("TURRIS_DB_URL", f"sqlite:///{tmp_path / 'cli.db'}")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI nothing may skip: a skip there means a missing install step."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run everything: {report.longrepr}"
