"""Start-up: the collector waits while the app starts, and light modules stay light."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from tests.test_app_common import ADMIN, app_database, make_app, settle, store_as
from turris_api.app import startup
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft


@pytest.fixture
def app_db(sqlite_url):
    yield from app_database(sqlite_url)


@pytest.fixture
def collector_restored():
    """Whatever a test does to the collector, the rest of the session gets it back as it was."""
    yield
    startup._paused = False
    gc.unfreeze()
    gc.enable()


async def test_the_collector_resumes_once_the_api_page_is_painted(app_db, collector_restored):
    startup.pause_gc()  # as `turris-api` does before importing the app
    assert not gc.isenabled()
    app = make_app(store_as(app_db, ADMIN))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert app.screen.query("ApiPage")  # the deep link's page is up
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0  # what start-up built is out of later collections


async def test_the_collector_resumes_even_when_the_store_cannot_answer(app_db, collector_restored, monkeypatch):
    monkeypatch.setattr("turris_api.app.app.START_UP_GC_PAUSE_MAX_S", 0.2)
    store = store_as(app_db, ADMIN)

    def unreachable():
        raise OSError("no route to the store")

    monkeypatch.setattr(store, "me", unreachable)
    startup.pause_gc()
    app = make_app(store)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.pause(0.4)
        assert gc.isenabled()


def test_resume_does_nothing_unless_start_up_paused_it(collector_restored):
    gc.disable()  # someone else's pause (a test harness, an embedding program)
    startup.resume_gc()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_listing_leaves_the_collector_as_it_found_it(app_db, collector_restored):
    store = LocalStore(app_db, ADMIN)
    store.create_client(ClientDraft(name="Warehouse sync"))
    assert gc.isenabled()
    assert [c.name for c in store.list_clients()] == ["Warehouse sync"]
    assert gc.isenabled()
    gc.disable()
    assert len(store.list_clients()) == 1
    assert not gc.isenabled()


def test_the_cli_and_the_domain_modules_do_not_load_sqlalchemy():
    """The app's start-up imports these before the UI and the first-read fork; SQLAlchemy comes with
    the store, in the child or later, not with them."""
    code = (
        "import sys, turris_api.app.cli, turris_api.app.first_read, turris_api.store.lazy, turris_api.store.listing, "
        "turris_api.store.models, turris_api.store.errors, turris_api.store.validation, turris_api.store.interface; "
        "print(sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
