"""The app's stories, driven as a person would with Textual's Pilot, against a real LocalStore."""

from __future__ import annotations

import pytest
from textual.widgets import Button, DataTable, Input

from tests.test_app_common import (
    ADMIN,
    API_LINK,
    DEVELOPER,
    MANAGER,
    NO_PLAN,
    READER,
    app_database,
    make_app,
    open_api,
    reachable_strings,
    screen_text,
    settle,
    store_as,
    type_text,
    until,
)
from turris_api.screens.api_page import ApiPage
from turris_api.screens.main import MainScreen
from turris_api.screens.modals import ClientCreatedModal, ConfirmDelete, LinkModal, TokenCreatedModal
from turris_api.screens.settings import SettingsModal, SettingsNav
from turris_api.store.errors import Unavailable
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.widgets.forms import ClientForm, TokenForm
from turris_api.widgets.tables import ClientTable, TokenTable

SIZE = (160, 40)


@pytest.fixture
def db(sqlite_url):
    yield from app_database(sqlite_url)


@pytest.fixture
def admin(db):
    return store_as(db, ADMIN)


async def test_create_api_client_shows_secret_once_then_only_last_four(admin):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        assert "No credentials yet" in screen_text(app)
        assert not page.query_one("#clients-section").display

        await pilot.press("a")
        await pilot.pause()
        assert isinstance(page.form, ClientForm) and page.slide_over.visible
        await type_text(pilot, "#name", "Policy admin sync")
        await type_text(pilot, "#description", "Nightly export")
        await type_text(pilot, "#allowed_origins", "https://app.example.com, https://admin.example.com:8443")
        await pilot.click("#submit")
        await until(pilot, lambda: isinstance(app.screen, ClientCreatedModal), "the created modal")

        modal = app.screen
        client_id, secret = (modal.query_one(f"#value-{i}").value for i in (0, 1))
        stored = admin.get_client(client_id)
        assert stored.name == "Policy admin sync" and secret.endswith(stored.secret_last4)
        shown = screen_text(app)
        assert "API Client Created" in shown and client_id in shown and secret in shown
        assert "never be shown in Turris again" in shown

        await pilot.press("c")  # copy the Client ID, then the secret
        assert app.clipboard == client_id
        await pilot.press("s")
        assert app.clipboard == secret
        await pilot.click("#ok")
        await settle(pilot)

        assert isinstance(app.screen, SettingsModal)
        table = page.query_one(ClientTable)
        assert page.query_one("#clients-section").display and table.row_count == 1
        shown = screen_text(app)
        assert f"••••{stored.secret_last4}" in shown
        assert "Policy admin sync" in shown and "● active" in shown
        assert secret not in shown
        assert not any(secret in text for text in reachable_strings(app)), "the secret is still held by the app"
        assert not any(secret[:-4] in text for text in reachable_strings(app))


async def test_created_token_is_shown_once(admin):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await pilot.press("t")
        await type_text(pilot, "#name", "Partner portal")
        await type_text(pilot, "#allowed_ips", "203.0.113.10, 198.51.100.0/24")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TokenCreatedModal), "the created modal")
        value = app.screen.query_one("#value-0").value
        assert value in screen_text(app) and "Restricted Access Token Created" in screen_text(app)
        await pilot.press("c", "escape")
        await settle(pilot)
        assert page.query_one(TokenTable).row_count == 1
        shown = screen_text(app)
        assert "Partner portal" in shown and f"••••{value[-4:]}" in shown and "198.51.100.0/24" in shown
        assert not any(value in text for text in reachable_strings(app))


async def test_edit_then_update_notifies_and_changes_the_row(admin):
    created = admin.create_client(ClientDraft("Loader", "old text", "https://a.example.com"))
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        table = page.query_one(ClientTable)
        table.focus()
        await pilot.press("enter")  # the cursor starts on the Name cell: opens the row
        await pilot.pause()
        form = page.form
        assert isinstance(form, ClientForm) and form.record.id == created.client.id
        assert form.query_one("#description", Input).value == "old text"
        assert form.query_one("#submit", Button).label.plain == "Update"
        await type_text(pilot, "#description", "Warehouse loader")
        await pilot.click("#submit")
        await until(pilot, lambda: app._notifications, "a notification")
        messages = [n.message for n in app._notifications]
        assert "API Client “Loader” was updated." in messages
        await settle(pilot)
        assert not page.slide_over.visible
        assert admin.get_client(created.client.id).description == "Warehouse loader"
        assert "Warehouse loader" in screen_text(app)


async def test_delete_after_confirmation_removes_row_and_hides_empty_table(admin):
    admin.create_client(ClientDraft("Retired job", "", ""))
    kept = admin.create_token(TokenDraft("Portal", "203.0.113.10"))
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        page.query_one(ClientTable).focus()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.click("#delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDelete)
        assert "Delete API Client?" in screen_text(app) and "Retired job" in screen_text(app)

        await pilot.press("escape")  # changed their mind: nothing happens
        await settle(pilot)
        assert admin.list_clients() and page.slide_over.visible

        await pilot.click("#delete")
        await pilot.pause()
        await pilot.click("#confirm")
        await until(pilot, lambda: not admin.list_clients() and not page.query_one("#clients-section").display,
                    "the row to go")
        assert page.query_one(ClientTable).row_count == 0
        assert "Retired job" not in screen_text(app)
        assert "API Client “Retired job” was deleted." in [n.message for n in app._notifications]
        assert page.query_one("#tokens-section").display and admin.get_token(kept.token.id)


async def test_validation_error_shows_at_the_field_and_keeps_input(admin):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await pilot.press("a")
        await type_text(pilot, "#name", "Browser app")
        await type_text(pilot, "#allowed_origins", "https://ok.example.com, ftp://files.example.com")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: page.form.query_one("#allowed_origins-error").has_class("-shown"), "the error")
        error = str(page.form.query_one("#allowed_origins-error").render())
        assert "ftp://files.example.com" in error and "not an http(s) origin" in error
        assert page.form.query_one("#name", Input).value == "Browser app"
        assert page.form.query_one("#allowed_origins", Input).value == "https://ok.example.com, ftp://files.example.com"
        assert admin.list_clients() == []


class FailingCreates:
    """The real store, except that creating fails the way an unreachable database does."""

    def __init__(self, store) -> None:
        self._store = store
        self.description = store.description

    def __getattr__(self, name):
        return getattr(self._store, name)

    def create_client(self, draft):
        raise Unavailable("The credential store cannot be reached. Try again in a moment.")


async def test_store_failure_during_add_keeps_the_form_and_says_so(admin):
    app = make_app(FailingCreates(admin))
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await pilot.press("a")
        await type_text(pilot, "#name", "Nightly job")
        await type_text(pilot, "#description", "keeps this")
        await pilot.click("#submit")
        await until(pilot, lambda: app._notifications, "the error notification")
        note = list(app._notifications)[-1]
        assert note.severity == "error" and note.title == "Store unavailable"
        assert "cannot be reached" in note.message
        form = page.form
        assert page.slide_over.visible and isinstance(form, ClientForm)
        assert form.query_one("#name", Input).value == "Nightly job"
        assert form.query_one("#description", Input).value == "keeps this"
        assert not form.busy
        assert admin.list_clients() == []


@pytest.mark.parametrize(
    ("email", "controls", "clients_editable", "tokens_editable"),
    [
        (ADMIN, True, True, True),
        (DEVELOPER, True, True, True),
        (MANAGER, True, False, True),
        (READER, False, False, False),
    ],
)
async def test_role_matrix_on_screen(db, email, controls, clients_editable, tokens_editable):
    admin = store_as(db, ADMIN)
    admin.create_client(ClientDraft("Existing client", "", "https://a.example.com"))
    admin.create_token(TokenDraft("Existing token", "10.0.0.1"))
    app = make_app(store_as(db, email))
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        shown = screen_text(app)
        assert "Configure your API" in shown and "Existing client" in shown and "Existing token" in shown
        for label in ("View Docs", "Run in Postman", "Add New"):
            assert (label in shown) is controls, label
        assert page.query_one("#api-toolbar").display is controls

        for table_type, editable in ((ClientTable, clients_editable), (TokenTable, tokens_editable)):
            page.query_one(table_type).focus()
            await pilot.press("enter")
            await pilot.pause()
            form = page.form
            assert form is not None and form.record is not None
            inputs = list(form.query(Input))
            assert inputs and all(i.is_disabled is (not editable) for i in inputs)
            assert form.query_one("#submit", Button).disabled is (not editable)
            assert form.query_one("#delete", Button).disabled is (not editable)
            if not editable:
                assert "Read only" in screen_text(app)
                assert form.query_one("#submit", Button).tooltip
            await pilot.press("escape")
            await pilot.pause()
            assert not page.slide_over.visible

        if controls:
            await pilot.press("a")
            await pilot.pause()
            assert isinstance(page.form, ClientForm)
            assert page.form.query_one("#submit", Button).disabled is (not clients_editable)
        else:
            await pilot.press("a")  # hidden from the Footer and inert
            await pilot.pause()
            assert not page.slide_over.visible
            assert "Add API Client" not in screen_text(app)


async def test_no_api_entry_without_the_plan(db):
    app = make_app(store_as(db, NO_PLAN))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SettingsModal), "the settings modal")
        await settle(pilot)
        nav = app.screen.query_one(SettingsNav)
        labels = [str(nav.get_option_at_index(i).prompt) for i in range(nav.option_count)]
        assert not any("API" in label for label in labels) and not any("DEVELOPER" in label for label in labels)
        assert not app.screen.query(ApiPage)
        assert any("does not include API access" in n.message for n in app._notifications)


async def test_shell_sidebar_settings_is_last_and_opens_the_modal(admin):
    app = make_app(admin, open_link=None)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.me is not None, "who we are")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        sidebar = app.screen.query_one("#sidebar")
        assert sidebar.get_option_at_index(sidebar.option_count - 1).id == "settings"
        assert "local file store.db · ada@acme.test (admin" in screen_text(app)
        await pilot.press("end", "enter")
        await settle(pilot)
        assert isinstance(app.screen, SettingsModal)
        nav = app.screen.query_one(SettingsNav)
        await pilot.click(SettingsNav)  # then choose Developer → API by keyboard
        nav.focus()
        nav.highlighted = nav.get_option_index("api")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.api_page.loaded, "the API page")
        assert "Configure your API" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_full_url_deep_link(admin):
    app = make_app(admin, open_link="https://app.turrisfi.com/agencies?tab=x&settings-modal=open&path=api")
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        assert "Configure your API" in screen_text(app)


async def test_client_id_cell_copies_and_docs_link_is_shown_and_copyable(admin):
    created = admin.create_client(ClientDraft("Copy me", "", "https://a.example.com"))
    opened: list[str] = []
    app = make_app(admin, opened=opened)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        table = page.query_one(ClientTable)
        table.focus()
        await pilot.press("enter")  # Enter opens the row, on any cell
        await pilot.pause()
        assert page.form is not None and page.form.record.id == created.client.id
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("right", "right", "c")  # c copies the Client ID
        await pilot.pause()
        assert app.clipboard == created.client.client_id
        assert not page.slide_over.visible
        assert any("Sent Client ID to the terminal's clipboard" in n.message for n in app._notifications)

        await pilot.press("d")
        await pilot.pause()
        assert opened == ["https://docs.turrisfi.com"]
        assert isinstance(app.screen, LinkModal)
        assert "https://docs.turrisfi.com" in screen_text(app) and "No browser can be opened" in screen_text(app)
        await pilot.press("c")
        assert app.clipboard == "https://docs.turrisfi.com"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        assert opened[-1] == "https://postman.example/turris"


async def test_hostile_names_render_inert(admin, db):
    admin.create_client(ClientDraft("[red]evil[/]", "[link=x]y[/link]", ""))
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        shown = screen_text(app)
        assert "[red]evil[/]" in shown and "[link=x]y[/link]" in shown
        page.query_one(ClientTable).focus()
        await pilot.press("enter", "d")  # open it; then ask to delete: the modal names it literally
        await pilot.pause()
        await pilot.click("#delete")
        await pilot.pause()
        assert "[red]evil[/]" in screen_text(app)


async def test_add_new_dropdown_offers_both_types(admin):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await pilot.click("#add-new")
        await pilot.pause()
        shown = screen_text(app)
        assert "Create a secure API client" in shown and "Create a restricted access token" in shown
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(page.form, TokenForm) and page.form.record is None


async def test_no_origins_warning_follows_the_field(admin):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await pilot.press("a")
        await settle(pilot)
        warning = page.form.query_one("#origins-warning")
        assert warning.display and "No Allowed Origins" in screen_text(app)
        await type_text(pilot, "#allowed_origins", "https://a.example.com")
        await pilot.pause()
        assert not warning.display


async def test_usable_at_80x24(admin):
    admin.create_client(ClientDraft("Small screen", "", "https://a.example.com"))
    app = make_app(admin)
    async with app.run_test(size=(80, 24)) as pilot:
        page = await open_api(pilot)
        await pilot.press("a")
        await pilot.pause()
        submit = page.form.query_one("#submit", Button)
        assert submit.region.bottom <= 24 and submit.region.right <= 80 and submit.region.height > 0
        assert isinstance(page.query_one(ClientTable), DataTable)


def test_deep_link_parsing():
    from turris_api.app.app import settings_page_from_link

    assert settings_page_from_link(API_LINK) == "api"
    assert settings_page_from_link("https://x.example/a?settings-modal=open&path=api#f") == "api"
    assert settings_page_from_link("?settings-modal=open") == "profile"
    assert settings_page_from_link("?path=api") is None
    assert settings_page_from_link("") is None


async def test_command_palette_opens_the_add_form_from_the_home_screen(admin):
    app = make_app(admin, open_link=None)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.me is not None, "who we are")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Add Restricted")
        await until(pilot, lambda: "Create a restricted access token" in screen_text(app), "the palette entry")
        await pilot.press("enter")
        await until(pilot, lambda: (page := app.screen.query(ApiPage)) and page.first().slide_over.visible,
                    "the token slide-over")
        assert isinstance(app.screen.query_one(ApiPage).form, TokenForm)


def test_text_from_outside_is_shown_inert():
    from turris_api.widgets.text import inert

    assert inert("\x1b[31mred\x07").plain == "\\x1b[31mred\\x07"  # no escape sequence reaches the terminal
    assert inert("abc\u202edcba").plain == "abc\\u202edcba"  # a bidi override cannot reorder what follows
    assert inert("[bold]x[/bold]").plain == "[bold]x[/bold]" and not inert("[bold]x[/bold]").spans
    assert inert("Ünïcode · ok").plain == "Ünïcode · ok"
