"""A real headless Chromium calls /v1/whoami from two loopback origins: one allowed, one not."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.server_support import fetch_jwt, live_server, new_client, new_token
from turris_api.server.api import create_app
from turris_api.server.settings import ServiceSettings
from turris_api.store.database import Database
from turris_api.store.operator import bootstrap

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium); .ci/run installs it"
)



@pytest.fixture
def db(sqlite_url):
    """One store on SQLite: the browser's behaviour does not depend on the database, and Chromium is slow."""
    database = Database(sqlite_url)
    bootstrap(database)
    yield database
    database.dispose()


PAGE = """<!doctype html>
<html><body><pre id="out">pending</pre>
<script>
fetch({url!r}, {{headers: {{Authorization: 'Bearer ' + {token!r}}}}})
  .then(async (r) => {{ document.getElementById('out').textContent = 'STATUS ' + r.status + ' ' + await r.text(); }})
  .catch((e) => {{ document.getElementById('out').textContent = 'ERROR ' + e.name + ': ' + e.message; }});
</script></body></html>
"""


def browse(url: str, profile) -> str:
    """What the page says once its script ran, as Chromium renders it."""
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    match = re.search(r'<pre id="out">(.*?)</pre>', result.stdout, re.S)
    assert match, f"Chromium printed no page (exit {result.returncode}): {result.stderr[-2000:]}"
    return html.unescape(match.group(1))


def test_allowed_origin_reads_whoami_and_another_origin_gets_a_cors_failure(db, admin, tmp_path):
    with page_server_pair() as (allowed_origin, other_origin, set_pages):
        created = new_client(admin, name="Browser test", origins=allowed_origin)
        with live_server(lambda url: create_app(db, ServiceSettings(issuer=url))) as api:
            with httpx.Client(base_url=api) as backend:  # the backend fetches; the page only carries the JWT
                token = fetch_jwt(backend, created)
            set_pages(PAGE.format(url=f"{api}/v1/whoami", token=token))
            allowed = browse(f"{allowed_origin}/", tmp_path / "profile-allowed")
            other = browse(f"{other_origin}/", tmp_path / "profile-other")
    assert allowed.startswith("STATUS 200 "), allowed
    assert '"name": "Browser test"' in allowed
    assert other == "ERROR TypeError: Failed to fetch", other


def test_restricted_token_from_an_allowed_address_is_readable_by_any_page(db, admin, tmp_path):
    value = new_token(admin, ips="127.0.0.1").value
    with page_server_pair() as (origin, _other, set_pages):
        with live_server(lambda url: create_app(db, ServiceSettings(issuer=url))) as api:
            set_pages(PAGE.format(url=f"{api}/v1/whoami", token=value))
            seen = browse(f"{origin}/", tmp_path / "profile")
            set_pages(PAGE.format(url=f"{api}/v1/organization", token=value))
            scoped = browse(f"{origin}/", tmp_path / "profile-2")
    assert seen.startswith("STATUS 200 ") and '"type": "restricted_token"' in seen, seen
    assert scoped.startswith("STATUS 403 ") and "insufficient_scope" in scoped, scoped


@contextmanager
def page_server_pair():
    """Two origins (two loopback ports) whose page can be swapped between browser runs."""
    current = {"body": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = current["body"]
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def set_pages(body: str) -> None:
        current["body"] = body.encode()

    try:
        yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers) + (set_pages,)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
