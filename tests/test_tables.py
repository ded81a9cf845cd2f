"""The credential tables fit their width: the layout, the shortened cells, and the one pinned internal."""

from __future__ import annotations

import inspect

import pytest
from rich.text import Text
from textual.widgets import DataTable

from tests.support.credentials import add_realistic_credentials
from tests.test_app_common import ADMIN, app_database, make_app, open_api, screen_text, settle, store_as
from turris_api.widgets.tables import ClientTable, LazyCell, Palette, TokenTable, fit, middle, pills, shorten_name

PALETTE = Palette("green", "red", "yellow", "blue", "grey", "white")


def test_names_keep_their_end_so_alike_names_differ():
    assert shorten_name("Warehouse loader — nightly EU", 17) == "Warehouse …tly EU"
    assert shorten_name("Warehouse loader — nightly EU", 29) == "Warehouse loader — nightly EU"
    assert shorten_name("A name that is much longer than thirty-one", 31).index("…") == 24


def test_client_id_is_cut_in_the_middle():
    assert middle("trs_ci_0123456789abcdef01234567", 11) == "trs_c…34567"


def test_pills_show_what_fits_then_how_many_more():
    origins = ["https://app.example.com", "https://admin.example.com", "https://staging.example.com"]
    assert pills(origins, PALETTE, Text("any"), 28).plain == " https://app.example.com  +2"
    assert pills(origins, PALETTE, Text("any"), 16).plain == " https://ap…  +2"
    assert pills(origins, PALETTE, Text("any"), 200).plain.count("example") == 3


@pytest.mark.parametrize("room", [60, 72, 92, 98, 133, 134, 158, 400])
def test_columns_fit_the_room(room):
    widths = fit(ClientTable.COLUMNS, ClientTable.PLAN, room, padding=1)
    assert sum(w + 2 for w in widths.values()) <= max(room, 69)
    assert ("description" in widths) == (room >= 134)


def test_the_pinned_datatable_internal_is_still_there():
    # CredentialTable overrides DataTable._update_dimensions (called from its idle handler with the
    # new rows) so that adding rows measures nothing. If Textual renames or reshapes it, rows would be
    # measured again (slow, not wrong): this fails so that whoever upgrades Textual looks.
    assert list(inspect.signature(DataTable._update_dimensions).parameters) == ["self", "new_rows"]
    assert "self._update_dimensions(new_rows)" in inspect.getsource(DataTable._on_idle)


@pytest.fixture
def db(sqlite_url):
    yield from app_database(sqlite_url)


async def test_at_80x24_statuses_are_whole_and_nothing_scrolls_sideways(db):
    add_realistic_credentials(store_as(db, ADMIN))
    app = make_app(store_as(db, ADMIN))
    async with app.run_test(size=(80, 24)) as pilot:
        page = await open_api(pilot)
        await settle(pilot)
        clients = page.query_one(ClientTable)
        for table in (clients, page.query_one(TokenTable)):
            assert table.row_count
            assert table.virtual_size.width <= table.scrollable_content_region.width
            assert table.max_scroll_x == 0
        statuses = [clients.get_cell(str(c.id), "status") for c in clients.records]
        width = clients.widths["status"]
        shown = [clients.cell_text(cell[1], "status", width).plain for cell in statuses if isinstance(cell, LazyCell)]
        assert sorted(shown) == ["● active"] * 3 + ["● disabled"]
        assert all(len(text) <= width for text in shown)
        on_screen = screen_text(app)
        assert on_screen.count("● active ") == 3 and "● disabled " in on_screen


async def test_copying_a_shortened_client_id_copies_all_of_it(db):
    add_realistic_credentials(store_as(db, ADMIN))
    app = make_app(store_as(db, ADMIN))
    seen = []
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        page = await open_api(pilot)
        await settle(pilot)
        clients = page.query_one(ClientTable)
        clients.focus()
        await pilot.press("c")  # the copy key (Enter opens the row)
        await settle(pilot)
        copied = [m for m in seen if isinstance(m, ClientTable.CopyRequested)]
        assert [m.value for m in copied] == [clients.records[0].client_id]
        assert len(clients.records[0].client_id) > clients.widths["client_id"]
