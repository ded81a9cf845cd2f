"""The app's stories against a RemoteStore talking to the real service under uvicorn on loopback."""

from __future__ import annotations

import pytest

from tests.server_support import live_server
from tests.test_app_common import (
    ADMIN,
    READER,
    app_database,
    make_app,
    open_api,
    screen_text,
    settle,
    type_text,
    until,
)
from turris_api.screens.modals import ClientCreatedModal, TokenCreatedModal
from turris_api.screens.settings import SettingsModal
from turris_api.server.api import create_app
from turris_api.store.local import LocalStore
from turris_api.store.models import TokenDraft
from turris_api.store.operator import issue_member_token
from turris_api.store.remote import RemoteStore
from turris_api.widgets.forms import ClientForm, TokenForm
from turris_api.widgets.tables import ClientTable, TokenTable

SIZE = (160, 40)


@pytest.fixture
def db(database_url):
    yield from app_database(database_url)


@pytest.fixture
def service_url(db):
    with live_server(lambda url: create_app(db)) as url:
        yield url


def remote_as(db, url: str, email: str) -> RemoteStore:
    return RemoteStore(url, issue_member_token(db, email), timeout=5)


async def test_create_client_over_the_service_then_created_modal_then_table(db, service_url):
    store = remote_as(db, service_url, ADMIN)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        assert f"remote {service_url}" in screen_text(app)
        assert "Add New" in screen_text(app)  # what the read-only member below must not see

        await pilot.click("#add-new")  # Add New -> API Client, as a person would
        await pilot.pause()
        await pilot.press("enter")
        await until(
            pilot,
            lambda: isinstance(page.form, ClientForm) and page.slide_over.visible,
            f"the add form (focus on {app.focused!r})",
        )
        await type_text(pilot, "#name", "Remote loader")
        await type_text(pilot, "#allowed_origins", "https://app.example.com")
        await pilot.click("#submit")
        await until(pilot, lambda: isinstance(app.screen, ClientCreatedModal), "the created modal")

        client_id, secret = (app.screen.query_one(f"#value-{i}").value for i in (0, 1))
        stored = LocalStore(db, ADMIN).get_client(client_id)  # it really is in the service's database
        assert stored.name == "Remote loader" and secret.endswith(stored.secret_last4)
        assert stored.allowed_origins == ("https://app.example.com",)
        assert secret in screen_text(app)

        await pilot.press("c", "s")  # copy both, as the modal asks, so Ok closes it at once
        await pilot.click("#ok")
        await settle(pilot)
        assert isinstance(app.screen, SettingsModal)
        assert page.query_one(ClientTable).row_count == 1
        shown = screen_text(app)
        assert "Remote loader" in shown and f"••••{stored.secret_last4}" in shown
        assert secret not in shown
    store.close()


async def test_create_token_over_the_service(db, service_url):
    store = remote_as(db, service_url, ADMIN)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await pilot.click("#add-new")  # Add New -> Restricted Access Token
        await pilot.pause()
        await pilot.press("down", "enter")
        await until(
            pilot,
            lambda: isinstance(page.form, TokenForm) and page.slide_over.visible,
            f"the add form (focus on {app.focused!r})",
        )
        await type_text(pilot, "#name", "Partner portal")
        await type_text(pilot, "#allowed_ips", "203.0.113.10")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TokenCreatedModal), "the created modal")
        await pilot.press("c")  # copied, so Esc closes it without asking
        value = app.screen.query_one("#value-0").value
        assert value.startswith("trs_rat_")
        await pilot.press("escape")
        await settle(pilot)
        assert page.query_one(TokenTable).row_count == 1
        assert LocalStore(db, ADMIN).list_tokens()[0].token_last4 == value[-4:]
    store.close()


async def test_read_only_member_sees_no_add_controls_over_the_service(db, service_url):
    LocalStore(db, ADMIN).create_token(TokenDraft("T", "10.0.0.1"))
    store = remote_as(db, service_url, READER)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        assert page.query_one(TokenTable).row_count == 1
        shown = screen_text(app)
        assert "Add New" not in shown and "Run in Postman" not in shown
    store.close()
