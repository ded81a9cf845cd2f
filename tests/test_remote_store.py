"""RemoteStore when the other end is not a healthy credential service: clear, retryable, token-free."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.server_support import TestClient, in_process, live_server
from turris_api.server.api import create_app
from turris_api.store.database import Database
from turris_api.store.errors import Invalid, PermissionDenied, StoreError, Unavailable
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.operator import bootstrap, issue_member_token
from turris_api.store.remote import RemoteStore

TOKEN = "trs_mat_0123456789abcdef_" + "s" * 43  # shaped like a member token, never valid


@contextmanager
def canned(status: int, body: bytes, content_type: str = "application/json", **headers: str) -> Iterator[str]:
    """A loopback HTTP server that always gives the same answer, whatever it is asked."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_listener() -> Iterator[tuple[str, socket.socket]]:
    """Accepts connections (the kernel does) but never says a word: a hung service."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", sock
    finally:
        sock.close()


def refused(store: RemoteStore, call=None) -> StoreError:
    with pytest.raises(StoreError) as err:
        (call or store.list_clients)()
    assert TOKEN not in str(err.value)
    assert TOKEN not in repr(store)
    return err.value


def test_constructing_does_no_network_io():
    with silent_listener() as (url, sock):
        store = RemoteStore(url, TOKEN)
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.accept()
    assert store.description == f"remote {url}"


def test_unreachable_service_is_unavailable_naming_the_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: connection refused
        err = refused(RemoteStore(url, TOKEN))
    assert isinstance(err, Unavailable)
    assert url in str(err) and "cannot be reached" in str(err)


def test_a_hung_service_times_out_as_unavailable():
    with silent_listener() as (url, _sock):
        err = refused(RemoteStore(url, TOKEN, timeout=0.3))
    assert isinstance(err, Unavailable)
    assert url in str(err) and "0.3 s" in str(err)


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (500, b"<html>Internal Server Error</html>", "text/html"),
        (502, b"Bad Gateway", "text/plain"),
        (500, b'{"error": "internal_error", "message": "boom"}', "application/json"),
        (200, b"<html>Welcome to nginx</html>", "text/html"),
        (200, b"not json at all", "application/json"),
        (200, b'{"unexpected": "shape"}', "application/json"),
        (200, b'[{"id": "one"}]', "application/json"),
        (404, b"<html>Not Found</html>", "text/html"),
    ],
    ids=["500-html", "502-text", "500-json", "200-html", "200-garbage", "200-wrong-shape", "200-wrong-items",
         "404-html"],
)
def test_5xx_and_garbage_are_unavailable(status, body, content_type):
    with canned(status, body, content_type) as url:
        err = refused(RemoteStore(url, TOKEN))
    assert isinstance(err, Unavailable), err
    assert url in str(err)


def test_503_from_the_service_keeps_its_message_and_retry_after():
    body = b'{"error": "unavailable", "message": "The credential store is busy. Try again in a moment."}'
    with canned(503, body, Retry_After="7") as url:
        err = refused(RemoteStore(url, TOKEN))
    assert isinstance(err, Unavailable)
    assert err.retry_after == 7
    assert "busy" in str(err)


def test_a_refused_member_token_says_how_to_get_a_new_one(db):
    with in_process(db) as service:
        err = refused(RemoteStore("http://testserver", TOKEN, client=service))
    assert isinstance(err, PermissionDenied)
    assert "member token" in str(err)


def test_validation_errors_come_back_with_their_field(db, admin):
    with in_process(db) as service:
        store = RemoteStore("http://testserver", issue_member_token(db, admin.me().member.email), client=service)
        with pytest.raises(Invalid) as err:
            store.create_client(ClientDraft(name=None))  # type: ignore[arg-type]
        assert err.value.field == "name"
        with pytest.raises(Invalid) as err:
            store.update_client("1", ClientDraft("x"), version="seven")  # type: ignore[arg-type]
        assert err.value.field == "version"


def test_service_whose_database_went_away_is_503_with_retry_after(tmp_path):
    path = tmp_path / "store.db"
    db = Database(f"sqlite:///{path}")
    bootstrap(db)
    token = issue_member_token(db, _admin_email(db))
    with TestClient(create_app(db), raise_server_exceptions=False) as service:
        store = RemoteStore("http://testserver", token, client=service)
        assert store.list_clients() == []
        db.dispose()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                os.remove(f"{path}{suffix}")
        os.mkdir(path)  # the file is gone and cannot be recreated
        try:
            raw = service.get("/v1/api-clients", headers={"Authorization": f"Bearer {token}"})
            err = refused(store)
        finally:
            shutil.rmtree(path)
    assert raw.status_code == 503
    assert raw.headers["retry-after"].isdigit()
    assert raw.json()["error"] == "unavailable"
    assert "Traceback" not in raw.text
    assert isinstance(err, Unavailable)


def test_against_a_real_server_over_loopback(db, admin):
    with live_server(lambda url: create_app(db)) as url:
        store = RemoteStore(url, issue_member_token(db, admin.me().member.email), timeout=5)
        created = store.create_client(ClientDraft("Over the wire", "", "https://a.example"))
        assert store.get_client(created.client.client_id) == created.client
        store.delete_client(created.client.id)
        assert store.list_clients() == []
        store.close()


def test_the_audit_log_pages_back_and_filters_over_loopback(db, admin):
    loader = admin.create_client(ClientDraft("Loader")).client
    for n in range(5):
        loader = admin.update_client(loader.id, ClientDraft(f"Loader {n}"), loader.version)
        admin.create_token(TokenDraft(f"Kiosk {n}", "10.0.0.1"))
    with live_server(lambda url: create_app(db)) as url:
        store = RemoteStore(url, issue_member_token(db, admin.me().member.email), timeout=5)
        paged, before = [], None
        while page := store.audit_events(limit=4, before=before):
            paged, before = paged + page, page[-1].id
        assert paged == admin.audit_events(limit=1000)
        history = store.audit_events(limit=4, credential_type="api_client", credential_id=loader.id)
        older = store.audit_events(limit=4, before=history[-1].id, credential_type="api_client",
                                   credential_id=loader.id)
        assert [e.credential_name for e in history + older] == ["Loader 4", "Loader 3", "Loader 2", "Loader 1",
                                                                "Loader 0", "Loader"]
        with pytest.raises(Invalid) as err:
            store.audit_events(credential_type="client")
        assert err.value.field == "credential_type" and '"client"' in str(err.value)
        store.close()


def _admin_email(db: Database) -> str:
    from turris_api.store.local import LocalStore

    return LocalStore(db).me().member.email
