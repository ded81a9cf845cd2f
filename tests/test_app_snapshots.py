"""One visual state per test (pytest-textual-snapshot). Review snapshot_report.html before --snapshot-update."""

from __future__ import annotations

import itertools

import pytest
from textual.widgets import Input

from tests.support.credentials import add_realistic_credentials
from tests.test_app_common import (
    ADMIN,
    AUDIT_LINK,
    DEVELOPER,
    MANAGER,
    READER,
    api_page_of,
    app_database,
    make_app,
    make_database,
    open_api,
    open_audit,
    settle,
    store_as,
    type_text,
    until,
)
from turris_api.store import crypto
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.widgets.tables import ClientTable, TokenTable

WIDE = (130, 36)


@pytest.fixture(autouse=True)
def fixed_credentials(monkeypatch):
    """Same ids and secrets on every run, so the pictures only change when the app does."""
    ids = itertools.count(1)
    secrets = itertools.count(1)
    locators = itertools.count(1)
    monkeypatch.setattr(crypto, "new_client_id", lambda: f"trs_ci_{next(ids):024x}")
    monkeypatch.setattr(crypto, "new_client_secret", lambda: f"trs_cs_{'S' * 36}{next(secrets):04d}3f9a")
    monkeypatch.setattr(crypto, "new_locator", lambda: f"{next(locators):016x}")
    monkeypatch.setattr(crypto, "new_locator_token", lambda prefix, locator: f"{prefix}{locator}_{'T' * 39}7c1e")


@pytest.fixture
def db(sqlite_url):
    yield from app_database(sqlite_url)


@pytest.fixture
def populated(db):
    admin = store_as(db, ADMIN)
    admin.create_client(ClientDraft("Policy admin sync", "Nightly policy export", "https://app.acme.test"))
    admin.create_client(ClientDraft("Data warehouse loader", "", ""))
    admin.create_client(ClientDraft("Partner bridge", "Two origins", "https://a.acme.test, https://b.acme.test:8443"))
    bridge = next(c for c in admin.list_clients() if c.name == "Partner bridge")
    admin.set_client_status(bridge.id, "disabled")
    admin.create_token(TokenDraft("Partner portal", "203.0.113.10, 198.51.100.0/24"))
    admin.create_token(TokenDraft("Kiosk", "192.0.2.7"))
    return db


@pytest.fixture
def realistic(db):
    add_realistic_credentials(store_as(db, ADMIN))
    return db


async def steady(pilot) -> None:
    """Let everything finish and stop the input cursor blinking, so the picture is the same every run."""
    await settle(pilot)
    await pilot.pause(0.3)  # a pressed button stays lit for 0.2 s (Button.ACTIVE_EFFECT_DURATION)
    for screen in pilot.app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
    await pilot.pause()


async def listed(pilot, table_type, rows: int = 1) -> None:
    """Wait for the listing that shows a new credential behind its modal (it comes from a worker of its
    own), then have the screens below lay out again: a screen under a modal does so on its own timer,
    which a loaded machine can leave behind the picture."""
    await until(pilot, lambda: api_page_of(pilot.app).query_one(table_type).row_count == rows, "the new row")
    for screen in pilot.app.screen_stack:
        screen.refresh(layout=True)


async def api_ready(pilot) -> None:
    await open_api(pilot)
    await steady(pilot)


def open_row(table_type, row: int = 0):
    async def run(pilot) -> None:
        page = await open_api(pilot)
        table = page.query_one(table_type)
        table.focus()
        table.move_cursor(row=row, column=0)
        await pilot.press("enter")
        await steady(pilot)

    return run


def test_empty_organization(db, snap_compare):
    assert snap_compare(make_app(store_as(db, ADMIN)), run_before=api_ready, terminal_size=WIDE)


def test_admin_with_both_tables(populated, snap_compare):
    assert snap_compare(make_app(store_as(populated, ADMIN)), run_before=api_ready, terminal_size=WIDE)


def test_read_only_member(populated, snap_compare):
    assert snap_compare(make_app(store_as(populated, READER)), run_before=api_ready, terminal_size=WIDE)


def test_member_without_role_views_api_client_disabled(populated, snap_compare):
    assert snap_compare(make_app(store_as(populated, MANAGER)), run_before=open_row(ClientTable), terminal_size=WIDE)


def test_add_api_client_slide_over(db, snap_compare):
    async def run(pilot) -> None:
        await open_api(pilot)
        await pilot.press("a")
        await steady(pilot)

    assert snap_compare(make_app(store_as(db, ADMIN)), run_before=run, terminal_size=WIDE)


def test_add_restricted_token_slide_over(db, snap_compare):
    async def run(pilot) -> None:
        await open_api(pilot)
        await pilot.press("t")
        await steady(pilot)

    assert snap_compare(make_app(store_as(db, ADMIN)), run_before=run, terminal_size=WIDE)


def test_edit_api_client_slide_over(populated, snap_compare):
    assert snap_compare(make_app(store_as(populated, ADMIN)), run_before=open_row(ClientTable, 2), terminal_size=WIDE)


def test_edit_restricted_token_slide_over(populated, snap_compare):
    assert snap_compare(make_app(store_as(populated, ADMIN)), run_before=open_row(TokenTable, 1), terminal_size=WIDE)


def test_add_new_dropdown(db, snap_compare):
    async def run(pilot) -> None:
        await open_api(pilot)
        await pilot.click("#add-new")
        await steady(pilot)

    assert snap_compare(make_app(store_as(db, ADMIN)), run_before=run, terminal_size=WIDE)


def test_api_client_created_modal(db, snap_compare):
    async def run(pilot) -> None:
        from turris_api.screens.modals import ClientCreatedModal

        await open_api(pilot)
        await pilot.press("a")
        await type_text(pilot, "#name", "Policy admin sync")
        await type_text(pilot, "#allowed_origins", "https://app.acme.test")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, ClientCreatedModal), "the created modal")
        await listed(pilot, ClientTable)
        await steady(pilot)

    assert snap_compare(make_app(store_as(db, ADMIN)), run_before=run, terminal_size=WIDE)


def test_token_created_modal(db, snap_compare):
    async def run(pilot) -> None:
        from turris_api.screens.modals import TokenCreatedModal

        await open_api(pilot)
        await pilot.press("t")
        await type_text(pilot, "#name", "Partner portal")
        await type_text(pilot, "#allowed_ips", "203.0.113.10")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, TokenCreatedModal), "the created modal")
        await listed(pilot, TokenTable)
        await steady(pilot)

    assert snap_compare(make_app(store_as(db, ADMIN)), run_before=run, terminal_size=WIDE)


def test_delete_confirmation(populated, snap_compare):
    async def run(pilot) -> None:
        await open_row(ClientTable, 0)(pilot)
        delete = pilot.app.screen.query_one("#delete")
        delete.active_effect_duration = 0  # the lit-up press can be caught or not under the modal: keep it still
        delete.focus()
        await pilot.press("enter")
        await steady(pilot)

    assert snap_compare(make_app(store_as(populated, ADMIN)), run_before=run, terminal_size=WIDE)


def test_validation_error(db, snap_compare):
    async def run(pilot) -> None:
        await open_api(pilot)
        await pilot.press("t")
        await type_text(pilot, "#name", "Kiosk")
        await type_text(pilot, "#allowed_ips", "10.0.0.1/8")
        await pilot.press("enter")
        await until(pilot, lambda: pilot.app.screen.query_one("#allowed_ips-error").has_class("-shown"), "the error")
        await steady(pilot)

    assert snap_compare(make_app(store_as(db, ADMIN)), run_before=run, terminal_size=WIDE)


def test_admin_at_80x24(populated, snap_compare):
    assert snap_compare(make_app(store_as(populated, ADMIN)), run_before=api_ready, terminal_size=(80, 24))


def test_add_api_client_at_80x24(db, snap_compare):
    async def run(pilot) -> None:
        await open_api(pilot)
        await pilot.press("a")
        await steady(pilot)

    assert snap_compare(make_app(store_as(db, ADMIN)), run_before=run, terminal_size=(80, 24))


def show_section(section: str):
    """The API page scrolled so that `section` (a table and its title) starts at the top."""

    async def run(pilot) -> None:
        page = await open_api(pilot)
        await steady(pilot)
        body, target = page.query_one("#api-body"), page.query_one(section)
        body.scroll_to(y=target.virtual_region.y, animate=False)
        await steady(pilot)

    return run


SIZES = [(80, 24), (100, 30), (120, 40), (200, 50)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("section", ["#clients-section", "#tokens-section"], ids=["clients", "tokens"])
def test_tables_fit(realistic, snap_compare, section, size):
    """Long names alike, three origins and IPs, a disabled client: all readable, nothing off screen."""
    app = make_app(store_as(realistic, ADMIN))
    assert snap_compare(app, run_before=show_section(section), terminal_size=size)


def test_add_restricted_token_at_80x24(db, snap_compare):
    async def run(pilot) -> None:
        await open_api(pilot)
        await pilot.press("t")
        await steady(pilot)

    assert snap_compare(make_app(store_as(db, ADMIN)), run_before=run, terminal_size=(80, 24))


def test_shell(db, snap_compare):
    async def run(pilot) -> None:
        await until(pilot, lambda: pilot.app.me is not None, "who we are")
        await steady(pilot)

    assert snap_compare(make_app(store_as(db, ADMIN), open_link=None), run_before=run, terminal_size=(100, 30))


def test_help_screen(populated, snap_compare):
    async def run(pilot) -> None:
        await api_ready(pilot)
        await pilot.press("question_mark")
        await steady(pilot)

    assert snap_compare(make_app(store_as(populated, ADMIN)), run_before=run, terminal_size=WIDE)


def test_created_modal_close_confirmation(db, snap_compare):
    async def run(pilot) -> None:
        from turris_api.screens.modals import ClientCreatedModal, Confirm

        await open_api(pilot)
        await pilot.press("a")
        await type_text(pilot, "#name", "Policy admin sync")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, ClientCreatedModal), "the created modal")
        await pilot.press("c", "escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, Confirm), "the close confirmation")
        await listed(pilot, ClientTable)
        await steady(pilot)

    assert snap_compare(make_app(store_as(db, ADMIN)), run_before=run, terminal_size=WIDE)


@pytest.fixture
def clock(monkeypatch):
    """One fixed clock for the store and the app: 2026-03-02 09:30 UTC until a test moves it."""
    from datetime import UTC, datetime

    from tests.support.clock import install_clock
    from turris_api.widgets import moments

    fixed = install_clock(monkeypatch)
    fixed.now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    monkeypatch.setattr(moments, "now", fixed)
    return fixed


@pytest.fixture
def rolled(populated, clock):
    """One client rolled with a day's overlap and used once."""
    admin = store_as(populated, ADMIN)
    policy = next(c for c in admin.list_clients() if c.name == "Policy admin sync")
    admin.roll_client(policy.id, "24h")
    clock.advance(minutes=3)
    return populated


def test_rolled_client_panel_shows_both_last_fours_and_the_end(rolled, snap_compare):
    async def run(pilot) -> None:
        page = await open_api(pilot)
        table = page.query_one(ClientTable)
        table.focus()
        table.move_cursor(row=2, column=0)  # by name: Data warehouse loader, Partner bridge, Policy admin sync
        await pilot.press("enter")
        await steady(pilot)
        page.form.query_one("#roll").scroll_visible(animate=False)
        await steady(pilot)

    assert snap_compare(make_app(store_as(rolled, ADMIN)), run_before=run, terminal_size=WIDE)


def test_rolled_secret_modal(rolled, snap_compare):
    async def run(pilot) -> None:
        from turris_api.screens.modals import ClientCreatedModal

        page = await open_api(pilot)
        table = page.query_one(ClientTable)
        table.focus()
        table.move_cursor(row=0, column=0)
        await pilot.press("enter")
        await steady(pilot)
        page.form.query_one("#roll").press()
        await until(pilot, lambda: isinstance(pilot.app.screen, ClientCreatedModal), "the rolled modal")
        await steady(pilot)

    assert snap_compare(make_app(store_as(rolled, ADMIN)), run_before=run, terminal_size=WIDE)


@pytest.fixture
def history(sqlite_url, clock):
    """A morning's changes at fixed times: members, the realistic credentials, a roll, a rename, a delete."""
    from datetime import UTC, datetime

    clock.now = datetime(2026, 3, 2, 8, 55, tzinfo=UTC)
    db = make_database(sqlite_url)
    admin, dev = store_as(db, ADMIN), store_as(db, DEVELOPER)
    clock.advance(minutes=12)
    add_realistic_credentials(admin)
    clock.advance(hours=1, minutes=3)
    policy = next(c for c in dev.list_clients() if c.name.startswith("Policy"))
    dev.roll_client(policy.id, "24h")
    clock.advance(minutes=26)
    portal = next(t for t in dev.list_tokens() if t.name.endswith("production 2"))
    dev.update_token(portal.id, TokenDraft("Partner portal — staging", "203.0.113.10"), portal.version)
    clock.advance(minutes=4)
    kiosk = next(t for t in admin.list_tokens() if t.name.startswith("Kiosk"))
    admin.delete_token(kiosk.id)
    clock.advance(minutes=9)
    yield db
    db.dispose()


async def audit_ready(pilot) -> None:
    await open_audit(pilot)
    await steady(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_audit_log(history, snap_compare, size):
    """Newest first; at 80 columns the nav folds away and the chosen event's detail shows under the table."""
    app = make_app(store_as(history, READER), open_link=AUDIT_LINK)
    assert snap_compare(app, run_before=audit_ready, terminal_size=size)


def test_audit_log_history_of_one_client(history, snap_compare):
    async def run(pilot) -> None:
        page = await open_api(pilot)
        table = page.query_one(ClientTable)
        table.focus()
        table.move_cursor(row=0, column=0)  # by name: Policy administration sync 01
        await pilot.press("enter")
        await steady(pilot)
        page.form.query_one("#view-history").press()
        await open_audit(pilot)
        await steady(pilot)

    assert snap_compare(make_app(store_as(history, ADMIN)), run_before=run, terminal_size=(80, 24))


@pytest.fixture
def expiring(db, clock):
    """One client expired a few minutes ago, one expiring within three days, one without an end."""
    admin = store_as(db, ADMIN)
    admin.create_client(ClientDraft("Quarterly export", "Ended yesterday", "", expires="1d"))
    admin.create_client(ClientDraft("Billing sync", "Ends this week", "", expires="4d"))
    admin.create_client(ClientDraft("Data warehouse loader", "", ""))
    clock.advance(days=1, minutes=5)
    return db


def test_an_expired_client_stays_listed_in_red_and_one_expiring_soon_in_yellow(expiring, snap_compare):
    async def run(pilot) -> None:
        await open_api(pilot)
        await settle(pilot)

    assert snap_compare(make_app(store_as(expiring, ADMIN)), run_before=run, terminal_size=WIDE)
