"""Start-up: a forked child reads the first screen while the app imports its UI, and the app's own
store opens on first use. What the child hands over is what the store says; a child that fails
hands over nothing and the app reads for itself; the app painted from the child's read then makes
changes through its own store, opened in the background."""

from __future__ import annotations

import threading

import pytest

from tests.test_app_common import API_LINK, screen_text, until
from turris_api.app import first_read
from turris_api.app.cli import build_parser, start_store, store_opener
from turris_api.store.database import Database
from turris_api.store.errors import Invalid, NotFound, Unavailable
from turris_api.store.lazy import LazyStore
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.widgets.tables import ClientTable

can_fork = pytest.mark.skipif(
    not first_read.available(),
    reason="the first read runs on Linux with a second core; elsewhere the app reads for itself",
)


@can_fork
def test_the_child_hands_over_who_we_are_and_the_api_page_as_the_store_has_them(db, admin):
    admin.create_client(ClientDraft(name="Warehouse sync", allowed_origins="https://app.example.com"))
    admin.create_token(TokenDraft(name="Storefront", allowed_ips="203.0.113.10"))
    opener, _ = store_opener(build_parser().parse_args(["--db", db.url]))

    reader = first_read.start(opener, with_listing=True)
    found = reader.result()
    reader.reap()

    description, me, (clients, tokens) = found
    assert description == db.description
    assert me == admin.me()
    assert clients == admin.list_clients() and [c.name for c in clients] == ["Warehouse sync"]
    assert tokens == admin.list_tokens() and [t.name for t in tokens] == ["Storefront"]


@can_fork
def test_without_a_deep_link_the_child_reads_only_who_we_are(db, admin):
    opener, _ = store_opener(build_parser().parse_args(["--db", db.url]))
    reader = first_read.start(opener, with_listing=False)
    description, me, listing = reader.result()
    reader.reap()
    assert me == admin.me() and listing is None


@can_fork
@pytest.mark.parametrize(
    "failure",
    [
        Unavailable("The credential store cannot be reached. Try again in a moment."),
        NotFound('No member "nobody@example.com" in this store.'),
        Invalid("db", "The store URL is not a database URL."),
    ],
    ids=lambda err: type(err).__name__,
)
def test_a_child_whose_store_fails_hands_over_that_error(failure):
    def failing() -> LocalStore:
        raise failure

    reader = first_read.start(failing, with_listing=True)
    handed = reader.result()
    reader.reap()
    assert type(handed) is type(failure) and str(handed) == str(failure)
    assert getattr(handed, "field", None) == getattr(failure, "field", None)


@can_fork
def test_a_listing_that_fails_still_hands_over_who_we_are(db, admin):
    """As the app's own read does: the page then fetches its credentials and says what failed."""

    class ListingDown(LocalStore):
        def list_clients(self):
            raise Unavailable("The credential store is busy. Try again in a moment.")

    # Its own Database, as the app's opener makes: a pooled connection must not cross the fork.
    reader = first_read.start(lambda: ListingDown(Database(db.url)), with_listing=True)
    description, me, listing = reader.result()
    reader.reap()
    assert me == admin.me() and listing is None


@can_fork
def test_a_child_that_fails_otherwise_hands_over_nothing():
    def broken() -> LocalStore:
        raise RuntimeError("not a store error")

    reader = first_read.start(broken, with_listing=True)
    assert reader.result() is None
    reader.reap()


async def test_a_store_down_at_start_says_so_and_r_connects_once_it_is_back(db, admin):
    """The child's error is the app's: no second wait on the store, and `r` retries through the app's own store."""
    from turris_api.app.app import TurrisApp
    from turris_api.screens.main import MainScreen

    down = Unavailable("The credential store cannot be reached. Try again in a moment.")
    opener, description = store_opener(build_parser().parse_args(["--db", db.url]))
    store = LazyStore(opener, description)
    app = TurrisApp(store, first_read=_Answered(down), opener=None, clipboard=None)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: "not connected" in app.status, "the status line saying so")
        assert not store.is_open
        assert [n.message for n in app._notifications] == [str(down)]
        assert "Could not reach the credential store. Press r to try again." in screen_text(app)

        assert isinstance(app.screen, MainScreen)
        await pilot.press("r")
        await until(pilot, lambda: app.me is not None, "signing in")
        assert store.is_open and app.me == admin.me()
        assert f"Signed in as {app.me.member.email}" in screen_text(app)


@can_fork
async def test_the_app_paints_the_childs_read_then_saves_through_its_own_store(db, admin):
    from turris_api.app.app import TurrisApp

    admin.create_client(ClientDraft(name="Warehouse sync"))
    args = build_parser().parse_args(["--db", db.url, "--open", API_LINK])
    store, reader = start_store(args)
    assert reader is not None and not store.is_open
    read = reader.result()
    reader.reap()
    admin.create_client(ClientDraft(name="Made after the child read"))  # so the first paint shows whose read it is

    app = TurrisApp(store, open_link=args.open, first_read=_Answered(read), opener=None, clipboard=None)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: app.screen.query(ClientTable) and app.screen.query_one(ClientTable).row_count,
                    "the API page")
        assert app.screen.query_one(ClientTable).row_count == 1
        assert "Warehouse sync" in screen_text(app) and "Made after the child read" not in screen_text(app)
        assert db.description in app.status
        await until(pilot, lambda: store.is_open, "the store, opened in the background after the first paint")

        created = app.store.create_client(ClientDraft(name="Made after start-up"))
        assert admin.get_client(created.client.client_id).name == "Made after start-up"


class _Answered:
    """A first read already collected: the test waits for the child before the app starts."""

    def __init__(self, read) -> None:
        self._read = read

    def result(self):
        return self._read

    def reap(self) -> None:
        pass


def test_the_app_reads_for_itself_when_there_is_no_child(db, admin):
    """One core, or no fork: the lazy store opens on the app's first call, as the CLI's store did."""
    opener, description = store_opener(build_parser().parse_args(["--db", db.url]))
    store = LazyStore(opener, description)
    assert not store.is_open and description == "local store"
    assert store.me() == admin.me()
    assert store.is_open and store.description == db.description
    store.close()


def test_a_lazy_store_opens_once_for_concurrent_callers_and_retries_a_failed_open(db, admin):
    opened: list[LocalStore] = []
    failures = [Unavailable("The credential store cannot be reached. Try again in a moment.")]

    def opener() -> LocalStore:
        if failures:
            raise failures.pop()
        opened.append(LocalStore(db))
        return opened[-1]

    store = LazyStore(opener, "test store")
    with pytest.raises(Unavailable):
        store.me()
    assert not store.is_open and store.description == "test store"

    start = threading.Barrier(8)
    seen = []

    def call() -> None:
        start.wait(timeout=10)
        seen.append(store.me())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(opened) == 1 and seen == [admin.me()] * 8


def test_a_remote_store_starts_without_a_child(monkeypatch):
    """The child's gain is importing SQLAlchemy beside Textual; the remote client does not need it."""
    monkeypatch.setenv("TURRIS_MEMBER_TOKEN", "trs_mat_0123456789abcdef_unused")
    store, reader = start_store(build_parser().parse_args(["--remote", "http://127.0.0.1:9"]))
    assert reader is None and not store.is_open and store.description == "remote http://127.0.0.1:9"
