"""Fault injection: the database locked by another process, gone, or read-only mid-run.

Assertions are what a caller meets: the error type and its message (retryable, no driver text),
the data that is (or is not) there afterwards, and recovery without restarting anything.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.widgets import Button, Input

from tests.server_support import in_process, live_server
from tests.support.faulty_http import BAD_GATEWAY, DOWN, ERROR_500, GARBAGE, PASS, SLOW, WRONG_SHAPE, faulty_front
from tests.support.pg import set_read_only, throwaway_database, upstream_of, via_port
from tests.support.service import services
from tests.support.tcp_proxy import tcp_proxy
from tests.test_app_common import ADMIN, api_page_of, make_app, make_database, screen_text, type_text
from turris_api.screens.modals import ClientCreatedModal
from turris_api.screens.settings import SettingsModal
from turris_api.server.api import create_app
from turris_api.store import database as store_database
from turris_api.store.database import Database
from turris_api.store.errors import Unavailable
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.operator import bootstrap, issue_member_token
from turris_api.store.remote import RemoteStore
from turris_api.store.schema import api_clients, audit_events
from turris_api.store.verify import Verifier
from turris_api.widgets.tables import ClientTable

DRIVER_TEXT = ("database is locked", "sqlite3", "psycopg", "server closed", "Traceback", "OperationalError", "SELECT", "INSERT")

# Another process (the app, a second service) in the middle of a write transaction on the same file.
LOCK_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE api_clients SET name = 'half-written', description = 'half-written'")
print("holding", flush=True)
time.sleep(60)
"""


def assert_retryable(err: Unavailable) -> None:
    message = str(err)
    assert "try again" in message.lower()
    assert not any(text.lower() in message.lower() for text in DRIVER_TEXT), message
    assert err.retry_after >= 1


@pytest.fixture
def short_busy_timeout(monkeypatch) -> float:
    """Keep "longer than the busy timeout" short: the behaviour, not the number, is under test."""
    monkeypatch.setattr(store_database, "SQLITE_BUSY_TIMEOUT_S", 0.3)
    return 0.3


@pytest.fixture
def lock_holder(sqlite_url) -> Iterator[callable]:
    procs: list[subprocess.Popen] = []

    def hold() -> subprocess.Popen:
        path = sa.engine.make_url(sqlite_url).database
        proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, path], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "holding"
        return proc

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


# --- SQLite: another process holds the write lock past the busy timeout -----------------------


def test_sqlite_write_locked_by_another_process_is_refused_retryably_and_reads_go_on(
    sqlite_url, short_busy_timeout, lock_holder
):
    db = Database(sqlite_url)
    bootstrap(db)
    store = LocalStore(db)
    made = store.create_client(ClientDraft(name="intact", description="as saved"))
    holder = lock_holder()

    with pytest.raises(Unavailable) as err:
        store.create_client(ClientDraft(name="while locked"))
    assert_retryable(err.value)
    with pytest.raises(Unavailable):
        store.update_client(made.client.id, ClientDraft(name="edited while locked"), made.client.version)
    with pytest.raises(Unavailable):
        store.delete_client(made.client.id)

    # WAL: readers see the last committed state, never the other process's uncommitted write.
    [seen] = store.list_clients()
    assert (seen.name, seen.description, seen.version) == ("intact", "as saved", 1)
    verifier = Verifier(db)
    assert verifier.verify_client(made.client.client_id, made.secret) is not None
    assert verifier.verify_client(made.client.client_id, made.secret + "x") is None

    holder.kill()  # dies mid-transaction
    holder.wait(timeout=10)
    [seen] = store.list_clients()
    assert (seen.name, seen.description, seen.version) == ("intact", "as saved", 1)
    store.create_client(ClientDraft(name="after"))
    assert [c.name for c in store.list_clients()] == ["after", "intact"]
    assert [e.action for e in store.audit_events()] == ["create", "create"]
    db.dispose()


def test_sqlite_file_read_only_refuses_writes_retryably_and_still_reads(sqlite_url, tmp_path, monkeypatch):
    db = Database(sqlite_url)
    bootstrap(db)
    LocalStore(db).create_client(ClientDraft(name="kept"))
    db.dispose()
    monkeypatch.chdir(tmp_path)

    path = sa.engine.make_url(sqlite_url).database
    read_only = Database(f"sqlite:///file:{path}?mode=ro&uri=true", migrate=False)
    store = LocalStore(read_only)
    with pytest.raises(Unavailable) as err:
        store.create_client(ClientDraft(name="refused"))
    assert_retryable(err.value)
    assert "read-only" in str(err.value)
    assert [c.name for c in store.list_clients()] == ["kept"]
    read_only.dispose()
    assert not (tmp_path / "file:").exists(), "a URI-form URL must not create a directory named after it"


# --- PostgreSQL: the connection goes away (server stopped, network cut) and comes back --------


@pytest.mark.postgres
def test_postgres_gone_then_back_refuses_cleanly_and_recovers_by_itself(postgres_url):
    setup = Database(postgres_url)
    bootstrap(setup)
    made = LocalStore(setup).create_client(ClientDraft(name="before"))
    token = LocalStore(setup).create_token(TokenDraft(name="before", allowed_ips="127.0.0.1"))

    with tcp_proxy(upstream_of(postgres_url)) as proxy:
        db = Database(via_port(postgres_url, proxy.port))
        store, verifier = LocalStore(db), Verifier(db)
        assert verifier.verify_restricted_token(token.value) is not None  # now in the verified cache

        proxy.cut()
        with pytest.raises(Unavailable) as err:
            store.list_clients()
        assert_retryable(err.value)
        with pytest.raises(Unavailable) as err:
            store.create_client(ClientDraft(name="during"))
        assert_retryable(err.value)
        # Authentication fails closed: no answer from the cache, no success without the database.
        with pytest.raises(Unavailable):
            verifier.verify_restricted_token(token.value)
        with pytest.raises(Unavailable):
            verifier.verify_client(made.client.client_id, made.secret)
        with pytest.raises(Unavailable):
            verifier.active_client(made.client.client_id)

        proxy.restore()  # the same objects recover; nobody restarts anything
        assert [c.name for c in store.list_clients()] == ["before"]
        store.create_client(ClientDraft(name="after"))
        assert verifier.verify_restricted_token(token.value) is not None
        assert verifier.verify_client(made.client.client_id, made.secret) is not None
        db.dispose()
    assert sorted(c.name for c in LocalStore(setup).list_clients()) == ["after", "before"]
    setup.dispose()


@pytest.mark.postgres
def test_postgres_cut_just_before_commit_leaves_nothing_half_written(postgres_url):
    setup = Database(postgres_url)
    bootstrap(setup)
    with tcp_proxy(upstream_of(postgres_url)) as proxy:
        db = Database(via_port(postgres_url, proxy.port))
        store = LocalStore(db)
        sa.event.listen(db.engine, "commit", lambda conn: proxy.cut(), once=True)
        with pytest.raises(Unavailable) as err:
            store.create_client(ClientDraft(name="never committed"))
        assert_retryable(err.value)
        proxy.restore()
        store.create_client(ClientDraft(name="committed"))
        db.dispose()
    with setup.read() as conn:
        assert conn.execute(sa.select(api_clients.c.name)).scalars().all() == ["committed"]
        assert conn.execute(sa.select(audit_events.c.credential_name)).scalars().all() == ["committed"]
    setup.dispose()


@pytest.mark.postgres
def test_postgres_turning_read_only_refuses_writes_cleanly_and_recovers(postgres_url):
    with throwaway_database(postgres_url) as url:
        db = Database(url)
        bootstrap(db)
        store, verifier = LocalStore(db), Verifier(db)
        made = store.create_client(ClientDraft(name="before"))
        token = store.create_token(TokenDraft(name="before", allowed_ips="127.0.0.1"))

        set_read_only(url, True)
        try:
            for change in (
                lambda: store.create_client(ClientDraft(name="during")),
                lambda: store.update_client(made.client.id, ClientDraft(name="during"), made.client.version),
                lambda: store.delete_client(made.client.id),
                lambda: store.delete_token(token.token.id),
            ):
                with pytest.raises(Unavailable) as err:
                    change()
                assert_retryable(err.value)
                assert "read-only" in str(err.value)
            assert [c.name for c in store.list_clients()] == ["before"]
            # Checking credentials only reads: it goes on working, and still refuses a wrong secret.
            assert verifier.verify_client(made.client.client_id, made.secret) is not None
            assert verifier.verify_client(made.client.client_id, "trs_cs_wrong") is None
        finally:
            set_read_only(url, False)

        store.create_client(ClientDraft(name="after"))
        assert [c.name for c in store.list_clients()] == ["after", "before"]
        assert [e.action for e in store.audit_events()] == ["create", "create", "create"]
        db.dispose()


# --- Property: while the store is in trouble, authentication never succeeds wrongly ----------


@pytest.fixture
def troubled(request, database_url, monkeypatch, tmp_path):
    """A verifier whose database is in trouble: PostgreSQL unreachable, or SQLite write-locked by
    another process. Yields (verifier, valid client (id, secret), valid token)."""
    monkeypatch.setattr(store_database, "SQLITE_BUSY_TIMEOUT_S", 0.05)
    setup = Database(database_url)
    bootstrap(setup)
    made = LocalStore(setup).create_client(ClientDraft(name="real"))
    token = LocalStore(setup).create_token(TokenDraft(name="real", allowed_ips="127.0.0.1"))
    if setup.is_sqlite:
        path = sa.engine.make_url(database_url).database
        holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, path], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "holding"
        try:
            yield Verifier(setup), (made.client.client_id, made.secret), token.value
        finally:
            holder.kill()
            holder.wait(timeout=10)
    else:
        with tcp_proxy(upstream_of(database_url)) as proxy:
            db = Database(via_port(database_url, proxy.port))
            verifier = Verifier(db)
            assert verifier.verify_restricted_token(token.value) is not None
            proxy.cut()
            yield verifier, (made.client.client_id, made.secret), token.value
            db.dispose()
    setup.dispose()


def test_authentication_fails_closed_while_the_store_is_in_trouble(troubled):
    verifier, (client_id, secret), token = troubled
    database_down = not verifier.db.is_sqlite

    presented_ids = st.one_of(st.just(client_id), st.text(max_size=80))
    presented_secrets = st.one_of(st.just(secret), st.just(secret[:-1]), st.text(max_size=80))
    presented_tokens = st.one_of(st.just(token), st.just(token[:-1] + "A"), st.text(max_size=120))

    def outcome(check, *args):
        try:
            return check(*args)
        except Unavailable:
            return "unavailable"

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(presented_ids, presented_secrets, presented_tokens)
    def check(cid, sec, tok):
        client = outcome(verifier.verify_client, cid, sec)
        if database_down:
            assert client == "unavailable"
        elif (cid, sec) == (client_id, secret):
            assert client not in (None, "unavailable") and client.client_id == client_id
        else:
            assert client is None
        bearer = outcome(verifier.verify_restricted_token, tok)
        if database_down:
            assert bearer == "unavailable"
        elif tok == token:
            assert bearer not in (None, "unavailable")
        else:
            assert bearer is None
        assert outcome(verifier.verify_member_token, tok) in (None, "unavailable")

    check()


def test_every_pooled_connection_busy_is_a_retryable_refusal(database_url):
    """Under a burst, all pooled connections can be checked out at once: the next caller gets a
    retryable refusal, not a crash, and is served once they come back."""
    db = Database(database_url)
    bootstrap(db)
    store = LocalStore(db)
    pool = db.engine.pool
    pool._timeout = 0.2  # the wait for a free connection; its length is not what is under test
    held = [db.engine.connect() for _ in range(pool.size() + pool._max_overflow)]
    try:
        with pytest.raises(Unavailable) as err:
            store.list_clients()
        assert_retryable(err.value)
    finally:
        for conn in held:
            conn.close()
    assert store.list_clients() == []
    db.dispose()


# --- The service while its database is in trouble ---------------------------------------------


def assert_503_retryable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] in ("unavailable", "temporarily_unavailable")
    text = response.text
    assert not any(t.lower() in text.lower() for t in DRIVER_TEXT), text


def _manage(member_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {member_token}"}


@pytest.mark.postgres
@pytest.mark.slow
def test_service_with_its_database_gone_answers_503_fails_closed_and_recovers_by_itself(postgres_url):
    setup = Database(postgres_url)
    bootstrap(setup)
    admin = LocalStore(setup)
    made = admin.create_client(ClientDraft(name="Warehouse"))
    token = admin.create_token(TokenDraft(name="Portal", allowed_ips="127.0.0.1"))
    member = issue_member_token(setup, admin.me().member.email)
    secrets_seen = [made.secret, token.value, member]

    with tcp_proxy(upstream_of(postgres_url)) as proxy, services(via_port(postgres_url, proxy.port)) as [service]:
        http = httpx.Client(base_url=service.url, timeout=30)
        grant = {"grant_type": "client_credentials"}
        auth = (made.client.client_id, made.secret)
        access = http.post("/oauth/token", data=grant, auth=auth).json()["access_token"]
        secrets_seen.append(access)
        assert http.get("/v1/whoami", headers={"Authorization": f"Bearer {token.value}"}).status_code == 200

        proxy.cut()
        assert_503_retryable(http.post("/oauth/token", data=grant, auth=auth))
        # A JWT with a valid signature is still refused: whether its client exists needs the database.
        assert_503_retryable(http.get("/v1/whoami", headers={"Authorization": f"Bearer {access}"}))
        assert_503_retryable(http.get("/v1/whoami", headers={"Authorization": f"Bearer {token.value}"}))
        assert_503_retryable(http.get("/v1/api-clients", headers=_manage(member)))
        assert_503_retryable(http.post("/v1/api-clients", json={"name": "during"}, headers=_manage(member)))
        assert_503_retryable(http.get("/.well-known/jwks.json"))  # the balancer's health check sees it too

        proxy.restore()
        for _ in range(50):  # bounded: the pool reconnects on its own
            if http.get("/v1/api-clients", headers=_manage(member)).status_code == 200:
                break
            time.sleep(0.1)
        assert [c["name"] for c in http.get("/v1/api-clients", headers=_manage(member)).json()] == ["Warehouse"]
        assert http.post("/oauth/token", data=grant, auth=auth).status_code == 200
        assert http.get("/v1/whoami", headers={"Authorization": f"Bearer {access}"}).status_code == 200
        assert http.get("/.well-known/jwks.json").status_code == 200
        http.close()
        service.stop()
        log = service.output()
    assert "Traceback" not in log
    for value in secrets_seen:
        assert value not in log
    assert [c.name for c in admin.list_clients()] == ["Warehouse"]
    setup.dispose()


@pytest.mark.postgres
def test_service_on_a_database_turned_read_only_refuses_changes_with_503_and_keeps_serving_reads(postgres_server_url):
    if postgres_server_url is None:
        pytest.skip("needs PostgreSQL ($TURRIS_TEST_DATABASE_URL)")
    with throwaway_database(postgres_server_url) as url:
        db = Database(url)
        bootstrap(db)
        admin = LocalStore(db)
        made = admin.create_client(ClientDraft(name="Warehouse"))
        member = issue_member_token(db, admin.me().member.email)
        http = in_process(db)
        set_read_only(url, True)
        try:
            refused = http.post("/v1/api-clients", json={"name": "during"}, headers=_manage(member))
            assert_503_retryable(refused)
            assert "read-only" in refused.json()["message"]
            listed = http.get("/v1/api-clients", headers=_manage(member))
            assert [c["name"] for c in listed.json()] == ["Warehouse"]
            auth = (made.client.client_id, made.secret)
            assert http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth).status_code == 200
            wrong = (made.client.client_id, made.secret + "x")
            assert http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=wrong).status_code == 401
        finally:
            set_read_only(url, False)
        assert http.post("/v1/api-clients", json={"name": "after"}, headers=_manage(member)).status_code == 201
        http.close()
        db.dispose()


def test_service_on_an_sqlite_file_locked_by_the_app_answers_503_and_never_fails_open(
    sqlite_url, short_busy_timeout, lock_holder
):
    db = Database(sqlite_url)
    bootstrap(db)
    admin = LocalStore(db)
    made = admin.create_client(ClientDraft(name="Warehouse"))
    member = issue_member_token(db, admin.me().member.email)
    http = in_process(db)
    lock_holder()

    refused = http.post("/v1/api-clients", json={"name": "during"}, headers=_manage(member))
    assert_503_retryable(refused)
    assert "locked" not in refused.text
    assert [c["name"] for c in http.get("/v1/api-clients", headers=_manage(member)).json()] == ["Warehouse"]
    grant = {"grant_type": "client_credentials"}
    assert http.post("/oauth/token", data=grant, auth=(made.client.client_id, made.secret)).status_code == 200
    assert http.post("/oauth/token", data=grant, auth=(made.client.client_id, "trs_cs_guess")).status_code == 401
    http.close()
    db.dispose()


# --- The app against a remote store in trouble ------------------------------------------------

APP_SIZE = (160, 40)
# The app's patience under test: short so "slow" is quick to show, long enough that the first listing
# through the real service (in this process, under a loaded CI machine) never runs out of it.
REMOTE_TIMEOUT_S = 3.0


@pytest.fixture
def remote_service(sqlite_url):
    """The real service under uvicorn, behind a front whose behaviour the test switches."""
    db = make_database(sqlite_url)
    member = issue_member_token(db, ADMIN)
    with live_server(lambda url: create_app(db)) as url, faulty_front(url, echo_secret=member) as front:
        yield db, member, front
    db.dispose()


async def wait_for(pilot, predicate, what: str, seconds: float = 60.0) -> None:
    """Poll without awaiting workers (one may be failing on purpose); bounded in time, generous under load."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.05)
    app = pilot.app
    raise AssertionError(f"timed out waiting for {what}: status {app.status!r}, screen {app.screen!r}, "
                         f"notifications {[n.message for n in app._notifications]}, workers {list(app.workers)}, "
                         f"on screen {screen_text(app)[-600:]!r}")


async def press_when_ready(pilot, selector: str) -> None:
    """Click a button as a person would: not during the 200 ms of its pressed look, when Textual drops
    clicks (a fast failure ends sooner; clicking at once made this module's retries flaky)."""
    button = pilot.app.screen.query_one(selector, Button)
    await wait_for(pilot, lambda: not button.has_class("-active"), f"{selector} to be ready")
    assert await pilot.click(selector)


async def open_api_page(pilot):
    app = pilot.app
    await wait_for(pilot, lambda: (p := api_page_of(app)) is not None and p.loaded and isinstance(app.screen, SettingsModal),
                   "the API page")
    await pilot.pause()
    return api_page_of(app)


def shown_to_user(app) -> str:
    """The screen plus every notification raised, as the user saw them."""
    return screen_text(app) + "\n".join(n.message for n in app._notifications)


def assert_nothing_secret(app, member_token: str) -> None:
    seen = shown_to_user(app)
    assert member_token not in seen
    assert member_token[-12:] not in seen
    assert "Traceback" not in seen


async def test_app_starting_against_an_unreachable_service_says_so_and_connects_on_retry(remote_service, tmp_path):
    db, member, front = remote_service
    front.set(DOWN)
    store = RemoteStore(front.url, member, timeout=REMOTE_TIMEOUT_S)
    app = make_app(store)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_for(pilot, lambda: "not connected" in app.status, "the failed connection")
        seen = shown_to_user(app)
        assert "Could not reach the credential store. Press r to try again." in seen
        assert f"{front.url} cannot be reached" in seen
        assert_nothing_secret(app, member)
        # Nothing falls back to a local store: no store file appeared, the app still talks to the URL.
        assert app.store is store
        assert not (tmp_path / "xdg-data" / "turris-api").exists()

        front.set(PASS)
        await pilot.press("r")
        page = await open_api_page(pilot)  # the deep link goes through once connected
        assert page.query_one(ClientTable).row_count == 0
        assert f"remote {front.url}" in app.status
    store.close()


FAILURES = [  # how the service fails, and what the user is told
    (DOWN, "cannot be reached"),
    (SLOW, f"did not answer within {REMOTE_TIMEOUT_S:g} s"),
    (ERROR_500, "failed (HTTP 500)"),
    (BAD_GATEWAY, "failed (HTTP 502)"),
    (GARBAGE, "not the credential service's JSON"),
    (WRONG_SHAPE, "sent an answer this version does not understand"),
]


async def test_saves_that_meet_a_failing_service_keep_the_form_and_the_retry_saves_once(remote_service):
    db, member, front = remote_service
    store = RemoteStore(front.url, member, timeout=REMOTE_TIMEOUT_S)
    app = make_app(store)
    async with app.run_test(size=APP_SIZE) as pilot:
        page = await open_api_page(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: page.form is not None and bool(app.screen.query("#name")), "the form")
        await type_text(pilot, "#name", "Resilient loader")
        await type_text(pilot, "#allowed_origins", "https://app.example.com")
        form = page.form

        for mode, message in FAILURES:
            front.set(mode)
            app.clear_notifications()
            await press_when_ready(pilot, "#submit")
            await pilot.pause()
            if mode == SLOW:
                # While the call hangs the form shows progress and the app keeps answering keys.
                assert form.busy
                before = app.focused
                await pilot.press("shift+tab")
                assert app.focused is not before
            await wait_for(pilot, lambda: not form.busy and any(True for _ in app._notifications), "the failed save")
            await pilot.pause()

            seen = shown_to_user(app)
            assert message in seen, (mode, seen[-2000:])
            assert page.form is form and form.display, mode  # still open, as typed, its Add button ready
            assert not app.screen.query_one("#submit", Button).disabled
            assert app.screen.query_one("#name", Input).value == "Resilient loader"
            assert app.screen.query_one("#allowed_origins", Input).value == "https://app.example.com"
            assert_nothing_secret(app, member)
            assert app.store is store
            assert LocalStore(db, ADMIN).list_clients() == []

        front.set(PASS)  # the retry action: the same button, the same input
        await press_when_ready(pilot, "#submit")
        await wait_for(pilot, lambda: isinstance(app.screen, ClientCreatedModal), "the created modal")
        [created] = LocalStore(db, ADMIN).list_clients()
        assert (created.name, created.allowed_origins) == ("Resilient loader", ("https://app.example.com",))
    assert {mode for mode, _, _ in front.requests} >= {mode for mode, _ in FAILURES}  # each fault was met
    store.close()


async def test_app_on_an_sqlite_file_locked_by_another_process_says_try_again_and_keeps_the_form(
    sqlite_url, short_busy_timeout, lock_holder
):
    db = make_database(sqlite_url)
    app = make_app(LocalStore(db, ADMIN))
    async with app.run_test(size=APP_SIZE) as pilot:
        page = await open_api_page(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: page.form is not None and bool(app.screen.query("#name")), "the form")
        await type_text(pilot, "#name", "Written later")
        form = page.form

        holder = lock_holder()  # the service (or a second app) is mid-write on the same file
        await pilot.click("#submit")
        await pilot.pause()
        await wait_for(pilot, lambda: not form.busy and any(True for _ in app._notifications), "the refused save")
        seen = shown_to_user(app)
        assert "Try again in a moment" in seen
        assert "database is locked" not in seen
        assert app.screen.query_one("#name", Input).value == "Written later"

        holder.kill()
        holder.wait(timeout=10)
        await press_when_ready(pilot, "#submit")
        await wait_for(pilot, lambda: isinstance(app.screen, ClientCreatedModal), "the created modal")
    assert [c.name for c in LocalStore(db, ADMIN).list_clients()] == ["Written later"]
    db.dispose()


# --- SQLite: a moment read-only, the file deleted or replaced under a running service -------


def test_sqlite_writes_recover_by_themselves_after_the_file_was_read_only_for_a_moment(sqlite_url):
    """SQLite quietly opens a file it cannot write read-only; such connections must not stay in the
    pool. The read-only moment is simulated at connect (tests may run as root, where chmod is moot)."""
    import sqlite3

    from sqlalchemy import event

    db = Database(sqlite_url)
    bootstrap(db)
    store = LocalStore(db)
    path = sa.engine.make_url(sqlite_url).database
    read_only = {"on": True}

    @event.listens_for(db.engine, "do_connect")
    def _connect(dialect, conn_rec, cargs, cparams):
        if read_only["on"]:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        return None

    db.engine.dispose()  # every connection from now on is opened during the read-only moment
    for _ in range(3):
        with pytest.raises(Unavailable, match="read-only"):
            store.create_client(ClientDraft(name="during"))
    read_only["on"] = False
    store.create_client(ClientDraft(name="after"))  # no restart, no waiting
    assert [c.name for c in store.list_clients()] == ["after"]
    db.dispose()


@pytest.fixture
def sqlite_service(tmp_path):
    from tests.support.service import ServiceProcess

    url = f"sqlite:///{tmp_path / 'store.db'}"
    db = Database(url)
    bootstrap(db)
    admin = LocalStore(db)
    made = admin.create_client(ClientDraft(name="Warehouse"))
    token = admin.create_token(TokenDraft(name="Portal", allowed_ips="127.0.0.1"))
    db.dispose()
    process = ServiceProcess(url).wait_ready()
    try:
        yield process, tmp_path / "store.db", made, token
    finally:
        process.stop()


def _sqlite_files(path) -> list:
    return [path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm")]


def test_a_store_file_deleted_under_the_service_fails_closed_and_a_restored_one_is_picked_up(sqlite_service):
    service, path, made, token = sqlite_service
    grant = {"grant_type": "client_credentials"}
    with httpx.Client(base_url=service.url, timeout=30) as http:
        auth = (made.client.client_id, made.secret)
        access = http.post("/oauth/token", data=grant, auth=auth).json()["access_token"]
        jwt_auth = {"Authorization": f"Bearer {access}"}
        rat_auth = {"Authorization": f"Bearer {token.value}"}
        assert http.get("/v1/whoami", headers=jwt_auth).status_code == 200
        assert http.get("/v1/whoami", headers=rat_auth).status_code == 200

        kept = path.with_name("kept.db")
        with sqlite3_backup(path, kept):
            pass
        for file in _sqlite_files(path):
            file.unlink(missing_ok=True)
        assert_503_retryable(http.post("/oauth/token", data=grant, auth=auth))
        assert_503_retryable(http.get("/v1/whoami", headers=jwt_auth))  # never fail open on a vanished file
        assert_503_retryable(http.get("/v1/whoami", headers=rat_auth))
        assert http.get("/health/ready").status_code == 503
        assert not path.exists(), "the service must not create an empty store in its place"

        kept.rename(path)  # the operator restores the file: a new inode
        assert http.get("/v1/whoami", headers=jwt_auth).status_code == 200
        assert http.get("/v1/whoami", headers=rat_auth).status_code == 200
        assert http.post("/oauth/token", data=grant, auth=auth).status_code == 200
        assert http.get("/health/ready").status_code == 200


def test_a_store_file_replaced_under_the_service_is_read_from_then_on(sqlite_service):
    service, path, made, token = sqlite_service
    grant = {"grant_type": "client_credentials"}
    with httpx.Client(base_url=service.url, timeout=30) as http:
        rat_auth = {"Authorization": f"Bearer {token.value}"}
        assert http.get("/v1/whoami", headers=rat_auth).status_code == 200
        other = path.with_name("other.db")
        with sqlite3_backup(path, other) as conn:  # the same store without the token
            conn.execute("DELETE FROM restricted_tokens")
            conn.commit()
        other.replace(path)
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        assert http.get("/v1/whoami", headers=rat_auth).status_code == 401
        auth = (made.client.client_id, made.secret)
        assert http.post("/oauth/token", data=grant, auth=auth).status_code == 200


class sqlite3_backup:
    """A consistent copy of an SQLite file (the source may be in use), open for a last change."""

    def __init__(self, source, target) -> None:
        import sqlite3

        self.source = sqlite3.connect(source)
        self.target = sqlite3.connect(target)

    def __enter__(self):
        self.source.backup(self.target)
        self.target.execute("PRAGMA journal_mode=DELETE")
        return self.target

    def __exit__(self, *exc) -> None:
        self.target.close()
        self.source.close()
