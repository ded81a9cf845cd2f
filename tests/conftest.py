"""Shared fixtures: hermetic environment, a store database on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from store.database import Database
from store.local import LocalStore
from store.operator import bootstrap

PG_URL_ENV = "TURRIS_TEST_DATABASE_URL"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch) -> None:
    """Never touch the developer's home, store or tokens."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for name in ("TURRIS_DB_URL", "TURRIS_MEMBER_TOKEN", "TURRIS_REMOTE_URL"):
        monkeypatch.delenv(name, raising=False)


def postgres_url() -> str:
    """The PostgreSQL test database, reset to an empty schema; skips where there is none."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_URL_ENV} (a database URL); .ci/run sets it")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    except sa.exc.OperationalError as err:
        pytest.skip(f"PostgreSQL at {PG_URL_ENV} is not reachable: {err.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return postgres_url()


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI nothing may skip: a skip there means a missing install step."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run everything: {report.longrepr}"
