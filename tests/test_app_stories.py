"""The app's stories, driven as a person would with Textual's Pilot, against a real LocalStore."""

from __future__ import annotations

import asyncio

import pytest
from textual import events
from textual.widgets import Button, DataTable, Input

from tests.test_app_common import (
    ADMIN,
    API_LINK,
    DEVELOPER,
    MANAGER,
    NO_PLAN,
    READER,
    add_client,
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


async def test_keyboard_only_delete_at_80x24_is_two_shift_tabs_away(admin):
    """At 80x24 the buttons sit under the fields; Shift+Tab from the first field wraps to them."""
    admin.create_client(ClientDraft("Retired job", "", ""))
    app = make_app(admin)
    async with app.run_test(size=(80, 24)) as pilot:
        page = await open_api(pilot)
        await pilot.press("enter")  # the first table has focus: open its row
        await until(pilot, lambda: page.slide_over.visible and page.form is not None, "the panel")
        await until(pilot, lambda: app.focused is not None and app.focused.id == "name", "the first field")
        await pilot.press("shift+tab", "shift+tab")  # Cancel, then Delete: no invisible box between
        assert app.focused.id == "delete"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDelete), "the confirmation")
        await pilot.press("tab", "enter")  # from Cancel (the safe answer has focus) to Delete
        await until(pilot, lambda: not admin.list_clients(), "the deletion")


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


# --- never crash, never leak ---------------------------------------------------------------


def unexpected(app) -> list[str]:
    return [n.message for n in app._notifications if n.title == "Unexpected error"]


async def test_racing_and_repeated_opens_leave_the_app_running(admin):
    admin.create_client(ClientDraft("Loader", "", "https://a.example.com"))
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await pilot.press("a", "escape", "enter", "enter")  # no pause: the second Enter races the first open
        await settle(pilot)
        assert isinstance(page.form, ClientForm) and page.form.record is not None
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("a", "tab", "tab", "tab", "tab", "a")
        await settle(pilot)
        assert isinstance(page.form, ClientForm) and page.form.record is None
        await pilot.press("escape")
        await settle(pilot)
        table = page.query_one(ClientTable)
        await pilot.click(ClientTable, offset=(3, 1))
        await pilot.click(ClientTable, offset=(3, 1), times=2)
        await settle(pilot)
        assert page.form is not None and page.form.record is not None
        assert app.is_running and not unexpected(app) and table.row_count == 1


async def test_palette_add_token_while_the_token_form_is_open_keeps_the_draft(admin):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await pilot.press("t")
        await type_text(pilot, "#name", "Half typed")
        app.api_action("add_token")  # what choosing it in ctrl+p does
        await settle(pilot)
        assert page.form.query_one("#name", Input).value == "Half typed"
        assert app.is_running and not unexpected(app)


async def test_double_submit_creates_one_client(admin):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        await pilot.press("a")
        await type_text(pilot, "#name", "Once")
        await pilot.press("enter", "enter")
        await until(pilot, lambda: isinstance(app.screen, ClientCreatedModal), "the created modal")
        await settle(pilot)
        assert [c.name for c in admin.list_clients()] == ["Once"]


async def test_a_failing_handler_is_a_notification_and_the_app_goes_on(admin, monkeypatch):
    # Pins Guarded's wrap of MessagePump._dispatch_message (textual==8.2.8): this fails if it stops working.
    def broken(self) -> None:
        raise RuntimeError("trs_cs_not_for_the_screen")

    monkeypatch.setattr(ApiPage, "action_reload", broken)
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert app.is_running and unexpected(app)
        assert "trs_cs_not_for_the_screen" not in screen_text(app)


async def test_a_fatal_error_stops_with_one_line_and_a_non_zero_status(admin, monkeypatch, capsys):
    # Pins the override of App._handle_exception (textual==8.2.8): no traceback, no locals, status 1.
    from turris_api.screens.help import HelpScreen

    def broken(self):
        secret = "trs_cs_not_for_the_terminal"  # noqa: F841 (a local Textual's traceback would print)
        raise RuntimeError("boom")

    monkeypatch.setattr(HelpScreen, "compose", broken)
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        app.call_later(app.action_help)  # not pilot.press: it would wait for the screen that never finishes
        for _ in range(100):
            if not app.is_running:
                break
            await asyncio.sleep(0.05)
    assert app.return_code == 1
    assert not app.is_running
    printed = capsys.readouterr().err.strip().splitlines()
    assert printed == ["turris-api: unexpected error (RuntimeError); set TURRIS_DEBUG=1 for details"]


# --- forms behave like forms ---------------------------------------------------------------


async def test_tab_cycles_inside_the_form_and_page_keys_wait(admin):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await pilot.press("a")
        await type_text(pilot, "#name", "Draft")
        for key in ["tab"] * 8 + ["shift+tab"] * 8:
            await pilot.press(key)
            assert app.focused in page.slide_over.query("*"), f"{key} left the form for {app.focused!r}"
        app.screen.query_one("#cancel", Button).focus()
        await pilot.press("t", "a", "d", "p", "r")  # the page's keys are off while the form is open
        await settle(pilot)
        assert isinstance(page.form, ClientForm) and page.form.query_one("#name", Input).value == "Draft"
        assert not isinstance(app.screen, LinkModal)


async def test_escape_on_a_changed_form_asks_before_discarding(admin):
    from turris_api.screens.modals import Confirm

    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await pilot.press("a", "escape")  # unchanged: closes at once
        await settle(pilot)
        assert not page.slide_over.visible
        await pilot.press("a")
        await type_text(pilot, "#name", "Draft")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, Confirm) and "Discard your changes?" in screen_text(app)
        await pilot.press("escape")  # back to the form, draft kept
        await settle(pilot)
        assert page.slide_over.visible and page.form.query_one("#name", Input).value == "Draft"
        await pilot.press("escape")
        await settle(pilot)
        await pilot.click("#confirm")
        await settle(pilot)
        assert not page.slide_over.visible and admin.list_clients() == []


async def test_saving_an_unchanged_form_changes_nothing(admin):
    created = admin.create_client(ClientDraft("Loader", "text", "https://a.example.com")).client
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        page.query_one(ClientTable).focus()
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app._notifications, "a notification")
        assert "No changes to save." in [n.message for n in app._notifications]
        assert admin.get_client(created.id).version == created.version
        assert not [e for e in admin.audit_events() if e.action == "update"]
        assert page.slide_over.visible and not page.form.busy


# --- the Created modal guards the secret ---------------------------------------------------


async def test_closing_the_created_modal_before_copying_asks(admin):
    from turris_api.screens.modals import Confirm

    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await add_client(pilot, "Guarded")
        shown = screen_text(app)
        notes = " ".join(str(note.render()) for note in app.screen.query(".dialog-note"))
        for advice in ("browser code", "public repository", "mobile app bundle", "secrets manager",
                       "60 minutes", "Cache it in your backend", "Backend-for-Frontend"):
            assert advice in notes, advice
        assert "Copy Client Secret" in shown and "Close" in shown  # the footer says how
        secret = app.screen.query_one("#value-1").value
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, Confirm) and "The Client Secret will never be shown again" in screen_text(app)
        await pilot.press("escape")  # back: the secret is still there to copy
        await settle(pilot)
        assert isinstance(app.screen, ClientCreatedModal)
        await pilot.press("c")
        await pilot.click("#ok")  # the secret is still not copied
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        await pilot.click("#confirm")
        await settle(pilot)
        assert isinstance(app.screen, SettingsModal)
        assert secret not in screen_text(app) and not any(secret in t for t in reachable_strings(app))
        table = page.query_one(ClientTable)
        assert table.has_focus and table.cursor_row == 0


async def test_quitting_before_the_secret_is_copied_asks_about_quitting_not_closing(admin):
    from turris_api.screens.modals import Confirm

    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        await add_client(pilot, "Leaving")
        await pilot.press("ctrl+q")
        await settle(pilot)
        shown = screen_text(app)
        assert isinstance(app.screen, Confirm) and "Quit anyway?" in shown
        assert "The Client Secret will never be shown again" in shown and "Close anyway" not in shown
        await pilot.press("escape")  # back to the secret
        await settle(pilot)
        assert isinstance(app.screen, ClientCreatedModal)


async def test_after_a_create_the_cursor_is_on_the_new_row(admin):
    for name in ("Alpha", "Kilo", "Zulu"):
        admin.create_client(ClientDraft(name))
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await add_client(pilot, "Mike")
        await pilot.press("c", "s", "escape")
        await settle(pilot)
        table = page.query_one(ClientTable)
        assert table.has_focus and table.records[table.cursor_row].name == "Mike"


# --- keyboard-complete ---------------------------------------------------------------------


async def test_first_focus_is_the_first_table_and_tables_take_vim_keys(admin):
    for name in ("A", "B", "C"):
        admin.create_client(ClientDraft(name))
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await settle(pilot)
        table = page.query_one(ClientTable)
        assert table.has_focus
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 2
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("y")
        assert app.clipboard == table.records[0].client_id


async def test_first_focus_is_add_new_without_credentials(admin):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        await settle(pilot)
        assert app.focused.id == "add-new"


async def test_question_mark_lists_the_keys_of_the_screen(admin):
    from turris_api.screens.help import HelpScreen

    admin.create_client(ClientDraft("Loader"))
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        shown = screen_text(app)
        for entry in ("Add API Client", "Add Token", "Reload", "Quit", "Keys"):  # the screen's keys come first
            assert entry in shown, entry
        listed = {what: keys for keys, what, _ in app.screen.rows}
        assert listed["Copy Client ID"] == "c / y" and listed["First row"] == "g" and listed["Last row"] == "G"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SettingsModal)


async def test_q_quits_from_the_shell(admin):
    app = make_app(admin, open_link=None)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.me is not None, "who we are")
        await pilot.press("q")
        await settle(pilot)
        assert not app.is_running and not app.return_code


async def test_q_with_unsaved_input_asks(admin):
    from turris_api.screens.modals import Confirm

    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        await pilot.press("a")
        await type_text(pilot, "#name", "Draft")
        app.screen.query_one("#cancel", Button).focus()
        await pilot.press("q")
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, Confirm)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.api_page.form.query_one("#name", Input).value == "Draft"


async def test_s_reopens_settings_on_the_page_left(admin):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SettingsModal), "settings")
        assert app.screen.current_page == "api"


async def test_at_80_columns_settings_opens_with_its_nav_in_hand_and_reaches_the_api_page(admin):
    """The nav is folded away at 80 columns: opening Settings must focus it (so it shows), not a control
    of the hidden API page, and Down, Enter reach API by keyboard alone."""
    admin.create_client(ClientDraft("Warehouse loader"))
    app = make_app(admin, open_link=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.me is not None, "who we are")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SettingsModal) and app.screen.api_page.loaded, "settings")
        nav = app.screen.query_one(SettingsNav)
        assert nav.has_focus and nav.size.width > 0  # unfolded, because it holds focus
        await pilot.press("down", "enter")  # Profile -> API (the group headings are skipped)
        await settle(pilot)
        assert app.screen.current_page == "api"
        assert "Warehouse loader" in screen_text(app)


# --- smaller -------------------------------------------------------------------------------


async def test_a_disabled_client_says_what_to_do_and_a_long_name_is_shown_whole(admin):
    long_name = "N" * 90 + "TAIL-12345"
    created = admin.create_client(ClientDraft(long_name)).client
    admin.set_client_status(created.id, "disabled")
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        page.query_one(ClientTable).focus()
        await pilot.press("enter")
        await settle(pilot)
        note = str(page.form.query_one("#status-note").render())
        assert "cannot get new tokens" in note and "support@turris.com" in note and "re-enabled" in note
        await pilot.click("#delete")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDelete)
        assert "TAIL-12345" in screen_text(app).replace("\n", "").replace(" ", "").replace("┃", "")


async def test_settings_closed_before_it_finished_opening_leaves_the_app_running(admin):
    """Esc right after the key that opened Settings: the modal is gone before its mount handler runs."""
    app = make_app(admin, open_link=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.action_open_settings()
        assert isinstance(app.screen, SettingsModal)
        app.screen.dismiss(None)
        await settle(pilot)
        assert app.is_running and not isinstance(app.screen, SettingsModal)


async def test_a_copy_that_arrives_as_the_created_modal_closes_does_nothing(admin):
    """Enter on a value, then Esc before the modal handled the copy: it finds the values forgotten."""
    from turris_api.widgets.copyable import CopyableValue

    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        modal = await add_client(pilot, "Closing")
        await pilot.press("c", "s")  # both copied: Ok closes without asking
        value = modal.query_one("#value-1", CopyableValue)
        value.action_copy()  # queued for the modal
        modal.action_ok()  # an Esc binding runs at once
        await settle(pilot)
        assert app.is_running and not unexpected(app) and not isinstance(app.screen, ClientCreatedModal)


async def test_a_form_closed_while_it_mounts_leaves_the_app_running(admin):
    """A row opened and closed faster than the slide-over can build it (Enter, Esc in one burst): its
    mount handler finds its fields gone, and that is no failure of the app's."""
    admin.create_client(ClientDraft("Loader", "", ""))
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        for turns in range(6):  # removed after 0, 1, ... turns of the event loop: one lands mid-mount
            form = ClientForm(admin.list_clients()[0], editable=True, reason="", id=f"edit-client-{turns}")
            page.mount(form)
            for _ in range(turns):
                await asyncio.sleep(0)
            form.remove()
            await settle(pilot)
        assert app.is_running and not unexpected(app)


async def test_a_palette_search_outliving_its_palette_is_dropped(admin):
    """ctrl+p, Esc, ctrl+p faster than the first palette's search: that search finds its list gone
    (Textual 8.2.8) while another palette is open. Nothing is lost, so the app goes on."""
    from textual.command import CommandList

    from turris_api.screens.palette import SafeCommandPalette

    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        first, second = SafeCommandPalette(), SafeCommandPalette()
        await app.push_screen(first)
        await app.push_screen(second)
        released = asyncio.Event()

        async def search() -> None:
            await released.wait()
            await first.query_one(CommandList).remove()
            first.query_one(CommandList)  # as its search worker does

        first.run_worker(search())
        released.set()
        await settle(pilot)
        assert app.is_running and not unexpected(app)


async def test_enter_twice_in_the_theme_palette_closes_only_it(admin):
    """The palette's Theme command opens a second palette; two quick Enters there must not also pop
    the screens beneath it (Textual 8.2.8's own themes palette dismisses twice)."""
    from textual.command import CommandList

    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        await open_api(pilot)
        beneath = list(app.screen_stack)
        app.search_themes()
        await until(pilot, lambda: app.screen.query(CommandList) and app.screen.query_one(CommandList).option_count,
                    "the themes")
        await pilot.press("down")
        for _ in range(2):  # as a terminal delivers them: both queued before the first is handled
            app.post_message(events.Key("enter", "\r"))
        await settle(pilot)
        assert app.is_running and app.screen_stack == beneath


async def test_delete_pressed_then_the_form_closed_at_once_deletes_nothing(admin):
    """Delete, then Esc before the page handled it: no confirmation for a form that is gone."""
    admin.create_token(TokenDraft("Partner portal", "203.0.113.10"))
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        await pilot.click(TokenTable, offset=(3, 1))
        await until(pilot, lambda: isinstance(page.form, TokenForm), "the token's form")
        form = page.form
        form.post_message(TokenForm.DeleteRequested(form))  # queued for the page
        page.close_form()  # an Esc binding runs at once
        await settle(pilot)
        assert app.is_running and not unexpected(app)
        assert not isinstance(app.screen, ConfirmDelete) and [t.name for t in admin.list_tokens()] == ["Partner portal"]


async def test_at_80x24_the_created_modal_opens_at_its_title_and_scrolls_to_ok(admin):
    app = make_app(admin)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_api(pilot)
        await add_client(pilot, "Short terminal")
        await settle(pilot)
        assert "API Client Created" in screen_text(app) and "Short terminal" in screen_text(app)
        await pilot.press("tab", "tab")  # past both values to Ok, below the advice
        await settle(pilot)
        shown = screen_text(app)
        assert app.focused.id == "ok" and "which attaches the JWT" in shown and " Ok " in shown


@pytest.mark.parametrize("page", ["api", "audit"])
async def test_a_page_closed_while_it_mounts_leaves_the_app_running(admin, page):
    """Settings opened on a page and closed in the same instant: the page's mount handler finds its
    children already gone. Nothing was shown, so nothing is lost, and nothing is said."""
    admin.create_client(ClientDraft("Loader", "", ""))
    app = make_app(admin, open_link=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        for turns in range(12):  # closed after 0, 1, ... turns of the event loop: one of them lands mid-mount
            app.action_open_settings(page)
            modal = app.screen
            for _ in range(turns):
                await asyncio.sleep(0)
            modal.dismiss(None)
            await settle(pilot)
        assert app.is_running and not unexpected(app) and not isinstance(app.screen, SettingsModal)
