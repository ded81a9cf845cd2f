"""Settings → Developer → Audit log, driven as a person would: newest first, older on scroll, one
credential's history from its panel, and only ever the member's own organization."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input

from tests.test_app_common import (
    ADMIN,
    AUDIT_LINK,
    NO_PLAN,
    READER,
    app_database,
    make_app,
    open_api,
    open_audit,
    screen_text,
    settle,
    store_as,
    type_text,
    until,
)
from turris_api.screens.audit_page import PAGE_SIZE, AuditPage
from turris_api.screens.main import MainScreen
from turris_api.screens.settings import SettingsModal, SettingsNav
from turris_api.store.errors import Unavailable
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.operator import create_organization
from turris_api.widgets.forms import ClientForm
from turris_api.widgets.tables import AuditTable, ClientTable

SIZE = (160, 40)


@pytest.fixture
def db(sqlite_url):
    yield from app_database(sqlite_url)


@pytest.fixture
def admin(db):
    return store_as(db, ADMIN)


@pytest.fixture
def billing(admin):
    """Billing sync (renamed twice), another client, and a token with Billing sync's internal id."""
    client = admin.create_client(ClientDraft("Billing sync", "", "https://billing.acme.test")).client
    admin.create_client(ClientDraft("Warehouse loader"))
    token = admin.create_token(TokenDraft("Kiosk", "192.0.2.7")).token
    assert token.id == client.id  # ids are counted per type: the filter must tell them apart
    for name in ("Billing sync v2", "Billing sync v3"):
        client = admin.update_client(client.id, ClientDraft(name, "", "https://billing.acme.test"), client.version)
    return client


async def open_history_from_the_panel(pilot, row: int = 0) -> AuditPage:
    page = await open_api(pilot)
    table = page.query_one(ClientTable)
    table.focus()
    table.move_cursor(row=row, column=0)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(page.form, ClientForm), "the panel")
    await pilot.click("#view-history")
    audit = await open_audit(pilot)
    assert not page.slide_over.visible  # the panel made way for the page
    return audit


async def test_view_history_shows_only_that_clients_events_until_escape_shows_all(admin, billing):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        audit = await open_history_from_the_panel(pilot)  # by name, Billing sync v3 comes first
        shown = screen_text(app)
        assert "History of API Client “Billing sync v3” · Esc shows all events" in shown
        rows = audit.table.records
        assert [(e.action, e.credential_name) for e in rows] == [
            ("update", "Billing sync v3"), ("update", "Billing sync v2"), ("create", "Billing sync")]
        assert "Warehouse loader" not in shown and "Kiosk" not in shown
        assert "All 3 events shown." in shown
        assert audit.table.has_focus

        await pilot.press("escape")  # clears the filter; Settings stays open
        await settle(pilot)
        assert isinstance(app.screen, SettingsModal) and audit.subject is None
        shown = screen_text(app)
        assert "History of" not in shown
        assert "Warehouse loader" in shown and "Kiosk" in shown and "Billing sync v3" in shown
        assert len(audit.table.records) == len(admin.audit_events(limit=1000))

        await pilot.press("escape")  # nothing left to clear: Escape closes Settings, as everywhere
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


async def test_show_all_clears_the_history_and_the_nav_opens_every_event(admin, billing):
    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        audit = await open_history_from_the_panel(pilot)
        await pilot.click("#audit-show-all")
        await until(pilot, lambda: audit.subject is None and audit.loaded and "Kiosk" in screen_text(app), "all")

        nav = app.screen.query_one(SettingsNav)
        nav.focus()
        nav.highlighted = nav.get_option_index("api")
        await pilot.press("enter")
        await settle(pilot)
        await open_history_from_the_panel(pilot, row=1)  # Kiosk has its own history: by type, not only id
        assert "History of API Client “Warehouse loader”" in screen_text(app)
        nav.focus()
        nav.highlighted = nav.get_option_index("audit")
        await pilot.press("enter")
        await until(pilot, lambda: audit.subject is None and "Kiosk" in screen_text(app), "every event")


async def test_a_read_only_member_sees_the_log_and_opens_history_from_a_locked_panel(db, admin, billing):
    app = make_app(store_as(db, READER))
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        nav = app.screen.query_one(SettingsNav)
        labels = [str(nav.get_option_at_index(i).prompt).strip() for i in range(nav.option_count)]
        assert labels[labels.index("DEVELOPER"):] == ["DEVELOPER", "API", "Audit log"]
        page.query_one(ClientTable).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(page.form, ClientForm), "the panel")
        assert all(field.is_disabled for field in page.form.query(Input))  # read only...
        assert not page.form.query_one("#view-history", Button).is_disabled  # ...but its history is open to them
        await pilot.click("#view-history")
        audit = await open_audit(pilot)
        assert [e.credential_name for e in audit.table.records][0] == "Billing sync v3"
        assert "History of API Client “Billing sync v3”" in screen_text(app)


async def test_scrolling_to_the_end_loads_the_older_events(admin):
    client = admin.create_client(ClientDraft("Nightly job 0")).client
    for n in range(1, 120):
        client = admin.update_client(client.id, ClientDraft(f"Nightly job {n}"), client.version)
    everything = admin.audit_events(limit=1000)
    app = make_app(admin, open_link=AUDIT_LINK)
    async with app.run_test(size=SIZE) as pilot:
        audit = await open_audit(pilot)
        table = audit.query_one(AuditTable)
        assert table.row_count == PAGE_SIZE and table.cursor_record.credential_name == "Nightly job 119"
        assert f"The newest {PAGE_SIZE} events · older ones load as you scroll to the end." in screen_text(app)
        assert "Nightly job 0" not in screen_text(app)

        await pilot.press("G")  # to the last row by keyboard: the next page comes
        await until(pilot, lambda: table.row_count == 2 * PAGE_SIZE, "the second page")
        table.scroll_end(animate=False)  # as the mouse wheel would
        await until(pilot, lambda: table.row_count == len(everything), "the rest")
        assert table.records == everything  # each event once, newest first, across the pages
        await pilot.press("G")
        await settle(pilot)
        shown = screen_text(app)
        assert f"All {len(everything)} events shown." in shown
        assert "Nightly job 0" in shown and table.cursor_record == everything[-1]


async def test_loading_older_events_shows_progress(admin, monkeypatch):
    import threading

    for n in range(PAGE_SIZE + 5):
        admin.create_token(TokenDraft(f"Kiosk {n}", "192.0.2.7"))
    release = threading.Event()
    real = admin.audit_events

    def slow_when_paging(limit=50, before=None, credential_type=None, credential_id=None):
        if before is not None:
            release.wait(10)
        return real(limit, before, credential_type, credential_id)

    monkeypatch.setattr(admin, "audit_events", slow_when_paging)
    app = make_app(admin, open_link=AUDIT_LINK)
    async with app.run_test(size=SIZE) as pilot:
        audit = await open_audit(pilot)
        await pilot.press("G")
        await pilot.pause()
        assert "Loading older events…" in screen_text(app)
        release.set()
        await until(pilot, lambda: "events shown." in screen_text(app), "the older events")
        assert audit.table.row_count > PAGE_SIZE


class FailingAuditOnce:
    """A store whose first audit read fails as a dropped connection would."""

    def __init__(self, store) -> None:
        self._store = store
        self.description = store.description
        self.failures = 1

    def __getattr__(self, name):
        return getattr(self._store, name)

    def audit_events(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise Unavailable("The credential store cannot be reached. Try again in a moment.")
        return self._store.audit_events(*args, **kwargs)


async def test_a_failed_load_says_so_and_r_tries_again(admin, billing):
    app = make_app(FailingAuditOnce(admin), open_link=AUDIT_LINK)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "Could not load the audit log" in screen_text(app), "the failure")
        shown = screen_text(app)
        assert "cannot be reached" in shown and "Press r to try again." in shown
        assert "Traceback" not in shown
        await pilot.press("r")
        await until(pilot, lambda: "Billing sync v3" in screen_text(app), "the events")
        assert "Could not load" not in screen_text(app)


async def test_another_organizations_member_never_sees_these_events(db, admin, billing):
    create_organization(db, "Rival Inc", "boss@rival.example")
    rival = store_as(db, "boss@rival.example")
    rival.create_client(ClientDraft("Rival loader"))
    app = make_app(rival, open_link=AUDIT_LINK)
    async with app.run_test(size=SIZE) as pilot:
        audit = await open_audit(pilot)
        shown = screen_text(app)
        assert "Rival loader" in shown
        assert not [n for n in ("Billing sync", "Warehouse loader", "Kiosk", ADMIN) if n in shown]
        assert {e.actor for e in audit.table.records} == {"boss@rival.example"}


async def test_no_audit_log_without_the_plan(db):
    app = make_app(store_as(db, NO_PLAN), open_link=AUDIT_LINK)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SettingsModal), "the settings modal")
        await settle(pilot)
        nav = app.screen.query_one(SettingsNav)
        labels = [str(nav.get_option_at_index(i).prompt) for i in range(nav.option_count)]
        assert not any("Audit" in label for label in labels)
        assert app.screen.current_page == "profile" and not app.screen.query(AuditPage)


async def test_at_80_columns_the_log_shows_who_did_what_and_the_chosen_events_detail(admin, billing):
    admin.roll_client(billing.id, "24h")
    app = make_app(admin, open_link=AUDIT_LINK)
    async with app.run_test(size=(80, 24)) as pilot:
        audit = await open_audit(pilot)
        assert audit.table.has_focus  # the nav folded away
        shown = screen_text(app)
        for heading in ("Time (UTC)", "Who", "Action", "Type", "Name"):
            assert heading in shown, heading
        assert "Rolled" in shown and "Billing sync v3" in shown
        chosen = " ".join(line.strip(" │") for line in shown.splitlines())  # the sentence may wrap
        assert f"Rolled API Client “Billing sync v3” by {ADMIN}: old secret ••••" in chosen


async def test_view_history_with_unsaved_input_asks_before_discarding_it(admin, billing):
    from turris_api.screens.modals import Confirm

    app = make_app(admin)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_api(pilot)
        page.query_one(ClientTable).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(page.form, ClientForm), "the panel")
        await type_text(pilot, "#description", "half typed")
        await pilot.click("#view-history")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the question")
        await pilot.press("escape")  # keep the input
        await settle(pilot)
        assert app.screen.current_page == "api" and page.form.query_one("#description", Input).value == "half typed"
        await pilot.click("#view-history")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the question")
        await pilot.click("#confirm")
        audit = await open_audit(pilot)
        assert audit.subject is not None and audit.subject.name == "Billing sync v3"
        assert not page.slide_over.visible


async def test_the_command_palette_opens_the_audit_log(admin, billing):
    app = make_app(admin, open_link=None)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.me is not None, "who we are")
        commands = {command.title: command for command in app.get_system_commands(app.screen)}
        commands["Audit log"].callback()
        audit = await open_audit(pilot)
        assert "Billing sync v3" in screen_text(app) and audit.subject is None
