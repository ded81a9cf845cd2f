"""Rolling a secret from the slide-over: the new value shown once, both last fours until the old one ends."""

from __future__ import annotations

import pytest

from tests.test_app_common import (
    ADMIN,
    MANAGER,
    app_database,
    make_app,
    open_api,
    reachable_strings,
    screen_text,
    settle,
    store_as,
    until,
)
from turris_api.screens.modals import ClientCreatedModal, TokenCreatedModal
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.widgets.forms import ClientForm
from turris_api.widgets.tables import ClientTable, TokenTable

SIZE = (160, 60)


@pytest.fixture
def db(sqlite_url):
    yield from app_database(sqlite_url)


@pytest.fixture
def admin(db):
    return store_as(db, ADMIN)


async def open_first(pilot, page, table_type):
    table = page.query_one(table_type)
    table.focus()
    await pilot.press("enter")
    await settle(pilot)
    return page.form


async def test_roll_shows_the_new_secret_once_and_the_panel_both_last_fours(admin):
    created = admin.create_client(ClientDraft("Loader", allowed_origins="https://a.example.com"))
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        form = await open_first(pilot, page, ClientTable)
        assert isinstance(form, ClientForm) and "Never used" in screen_text(app)
        form.query_one("#roll").press()
        await until(pilot, lambda: isinstance(app.screen, ClientCreatedModal), "the rolled modal")

        modal = app.screen
        client_id, secret = (modal.query_one(f"#value-{i}").value for i in (0, 1))
        shown = screen_text(app)
        assert client_id == created.client.client_id and "Client Secret Rolled" in shown and secret in shown
        assert f"••••{created.client.secret_last4} keeps working until" in shown
        await pilot.press("c", "s")
        await pilot.click("#ok")
        await settle(pilot)

        new_last4, old_last4 = secret[-4:], created.client.secret_last4
        shown = screen_text(app)
        assert f"••••{new_last4} ••••{old_last4}" in shown  # the table: both last fours
        assert secret not in shown
        assert not any(secret in text for text in reachable_strings(app)), "the secret is still held by the app"

        await open_first(pilot, page, ClientTable)
        shown = screen_text(app)
        assert f"Old secret ••••{old_last4} works until" in shown and f"••••{new_last4}" in shown
        page.form.query_one("#end-old").press()
        await until(pilot, lambda: admin.get_client(created.client.id).old_secret_last4 is None, "the old one ended")
        await settle(pilot)
        assert f"••••{old_last4}" not in screen_text(app)


async def test_a_bad_keep_old_for_is_shown_at_its_field_and_rolls_nothing(admin):
    created = admin.create_client(ClientDraft("Loader"))
    app = make_app(admin)
    async with app.run_test(size=(80, 24)) as pilot:
        page = await open_api(pilot)
        form = await open_first(pilot, page, ClientTable)
        keep = form.query_one("#keep_old_for")
        keep.focus()
        keep.value = ""
        await pilot.press(*"forever", "enter")
        await settle(pilot)
        error = form.query_one("#keep_old_for-error")
        assert '"forever"' in str(error.render()) and error.has_class("-shown")
        assert app.focused is keep and keep.value == "forever" and keep.has_class("-invalid-value")
        assert not app._notifications, "the error belongs at the field, not in a toast over the form"
        assert not isinstance(app.screen, ClientCreatedModal)
        assert admin.get_client(created.client.id).secret_last4 == created.client.secret_last4

        keep.value = "1h"  # fixed, the next roll clears the error and goes through
        form.query_one("#roll").press()
        await until(pilot, lambda: isinstance(app.screen, ClientCreatedModal), "the rolled modal")
        assert not error.has_class("-shown") and not keep.has_class("-invalid-value")


async def test_a_token_rolls_for_a_member_with_the_permission_only(db, admin):
    admin.create_token(TokenDraft("Portal", "10.0.0.1"))
    app = make_app(store_as(db, MANAGER))
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        form = await open_first(pilot, page, TokenTable)
        form.query_one("#keep_old_for").value = "0"
        form.query_one("#roll").press()
        await until(pilot, lambda: isinstance(app.screen, TokenCreatedModal), "the rolled modal")
        assert "stopped working at once" in screen_text(app)


async def test_roll_is_locked_for_a_member_without_the_role(db, admin):
    admin.create_client(ClientDraft("Loader"))
    app = make_app(store_as(db, MANAGER))
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        form = await open_first(pilot, page, ClientTable)
        assert form.query_one("#roll").is_disabled  # the form's locked fields hold it
