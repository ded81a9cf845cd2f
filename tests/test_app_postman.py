"""Run in Postman: the Turris workspace link, and beside it where this service's own collection is
and how to import it, driven with Pilot; what the modal offers works when the user follows it."""

from __future__ import annotations

import json
import shlex

import httpx
import pytest

from tests.server_support import live_server, settings_for
from tests.support import postman as pm
from tests.test_app_common import ADMIN, LINKS, app_database, make_app, open_api, screen_text, settle, store_as
from turris_api.screens.modals import LinkModal
from turris_api.server import postman
from turris_api.server.api import create_app
from turris_api.store.operator import issue_member_token
from turris_api.store.remote import RemoteStore

SIZE = (100, 30)


@pytest.fixture
def db(sqlite_url):
    yield from app_database(sqlite_url)


async def test_run_in_postman_opens_the_workspace_and_gives_the_export_command(db, cli, tmp_path):
    opened: list[str] = []
    app = make_app(store_as(db, ADMIN), opened=opened)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, LinkModal)
        assert opened == [LINKS.postman]
        shown = screen_text(app)
        assert LINKS.postman in shown and "Import" in shown and "Client Secret" in shown
        assert "Or import by link" not in shown  # a local store has no service to download from

        await pilot.click("#more-0")  # the export command, copied as the user would
        await pilot.pause()
        command = app.clipboard
        assert command == "turris-api postman export" and command in shown
        await pilot.press("c")  # c still copies the workspace URL
        assert app.clipboard == LINKS.postman

    # The command the modal gives writes what it says.
    words = shlex.split(command)
    code, _, err = cli(*words[1:], "--out", str(tmp_path))
    assert code == 0, err
    collection = json.loads((tmp_path / postman.COLLECTION_FILE).read_text(encoding="utf-8"))
    assert pm.collection_validator().is_valid(collection)
    assert (tmp_path / postman.ENVIRONMENT_FILE).is_file()


async def test_over_a_remote_service_it_gives_the_collections_url_which_serves_it(db):
    with live_server(lambda url: create_app(db, settings_for(url))) as url:
        store = RemoteStore(url, issue_member_token(db, ADMIN), timeout=5)
        app = make_app(store, service_url=url)
        async with app.run_test(size=SIZE) as pilot:
            await open_api(pilot)
            await pilot.press("p")
            await settle(pilot)
            assert isinstance(app.screen, LinkModal)
            shown = screen_text(app)
            assert f"turris-api --remote {url} postman export" in shown
            app.screen.query_one("#more-1").focus()
            await pilot.press("enter")
            link = app.clipboard
            assert link == f"{url}{postman.COLLECTION_PATH}" and link in shown
            await pilot.press("escape")
            await settle(pilot)
            assert not isinstance(app.screen, LinkModal)
        store.close()

        served = httpx.get(link, timeout=5)
        assert served.status_code == 200
        collection = served.json()
        assert pm.collection_validator().is_valid(collection)
        assert pm.variables(collection, {"values": []})["issuer"] == url
