"""Start-up has one path: the app paints at once, a worker opens the store and asks who we are,
the API page fetches its own listing, and who we are is one value on the app that views follow."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading

import pytest

from tests.test_app_common import ADMIN, API_LINK, DEVELOPER, app_database, make_app, open_api, settle, store_as, until
from turris_api.screens.settings import ProfilePage
from turris_api.store.lazy import LazyStore
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft


@pytest.fixture
def app_db(sqlite_url):
    yield from app_database(sqlite_url)


async def test_the_app_paints_before_the_store_is_open_then_shows_the_page(app_db):
    LocalStore(app_db, ADMIN).create_client(ClientDraft(name="Warehouse sync"))
    may_open = threading.Event()

    def slow_open():
        may_open.wait(10)
        return store_as(app_db, ADMIN)

    app = make_app(LazyStore(slow_open, "local store"), open_link=API_LINK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert app.status == "Connecting…" and app.me is None  # painted, still waiting for the store
        may_open.set()
        page = await open_api(pilot)
        assert page.query_one("#clients").row_count == 1


async def test_the_api_page_is_the_only_place_its_listing_is_fetched(app_db, monkeypatch):
    store = store_as(app_db, ADMIN)
    calls = []
    listing = store.list_clients
    monkeypatch.setattr(store, "list_clients", lambda: calls.append(1) or listing())
    app = make_app(store, open_link=API_LINK)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_api(pilot)
        await settle(pilot)
        assert calls == [1]


async def test_who_we_are_is_held_once_and_every_view_follows_it(app_db):
    """The admin removes a developer's credential permission while the developer has the page open:
    the next reload changes the page's controls and the Profile page alike."""
    app = make_app(store_as(app_db, DEVELOPER), open_link=API_LINK)
    async with app.run_test(size=(120, 40)) as pilot:
        page = await open_api(pilot)
        assert page.query_one("#api-toolbar").display
        with app_db.write() as conn:
            from turris_api.store.schema import members

            conn.execute(members.update().where(members.c.email == DEVELOPER).values(can_manage_credentials=False))
        await pilot.press("r")
        await until(pilot, lambda: not app.me.member.can_manage_credentials, "the reload")
        assert page.me is app.me and app.screen.me is app.me
        assert not page.query_one("#api-toolbar").display
        profile = app.screen.query_one(ProfilePage)
        await settle(pilot)
        assert any("Manage API credentials: no" in str(s.render()) for s in profile.query(".profile-row"))
        assert "read only" in app.status


def test_a_listing_leaves_the_collector_as_it_found_it(app_db):
    store = LocalStore(app_db, ADMIN)
    store.create_client(ClientDraft(name="Warehouse sync"))
    assert gc.isenabled()
    assert [c.name for c in store.list_clients()] == ["Warehouse sync"]
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(store.list_clients()) == 1
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_cli_and_the_domain_modules_do_not_load_sqlalchemy():
    """The command line and the app's store wrapper import no database library: the store opens in a worker."""
    code = (
        "import sys, turris_api.app.cli, turris_api.store.lazy, turris_api.store.listing, turris_api.store.shapes, "
        "turris_api.store.models, turris_api.store.errors, turris_api.store.validation, turris_api.store.interface; "
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'textual') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
