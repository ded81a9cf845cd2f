"""Hostile input against the service: names that try to drive a terminal or an SQL parser, and
HTTP requests that are malformed on purpose. Each is refused with a 4xx that says what is wrong
(or, for text that is merely odd, stored verbatim); none gets a 5xx or a stack trace."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.server_support import bearer, fetch_jwt, in_process
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft
from turris_api.store.operator import issue_member_token

GRANT = {"grant_type": "client_credentials"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# Text a terminal or a database must never act on.
REFUSED_NAMES = {
    "nul": "before\x00after",
    "bell": "ding\x07",
    "clear screen": "\x1b[2Jgotcha",
    "title escape": "\x1b]0;owned\x07",
    "bidi override": "invoice\u202egpj.exe",
    "bidi isolate": "a\u2066b",
    "newline": "two\nlines",
    "carriage return": "over\rwrite",
    "ten thousand characters": "x" * 10_000,
    "lone surrogate": "half \ud800 a pair",
}
# Text that is merely odd: stored and returned exactly as given.
VERBATIM_NAMES = [
    "Robert'); DROP TABLE api_clients;--",
    "' OR 1=1--",
    '"; DELETE FROM audit_events WHERE ""="',
    "%s %(name)s {0} ${jndi:ldap://x}",
    "名前 ☃ émoji 🚀",
    "<script>alert(1)</script>",
]


def credential_events(admin, limit: int = 50) -> list:
    """The audit trail of credentials (the fixture's member token has its own record)."""
    return [e for e in admin.audit_events(limit) if e.credential_type in ("api_client", "restricted_token")]


@pytest.fixture
def service(db, admin):
    http = in_process(db)
    http.headers["Authorization"] = f"Bearer {issue_member_token(db, admin.me().member.email)}"
    yield http
    http.close()


def assert_clean_4xx(response, *statuses: int) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()
    body = response.json()
    assert body["error"]
    return body


def json_body(payload: dict) -> bytes:
    """JSON that keeps lone surrogates as escapes (what a hostile client can send)."""
    return json.dumps(payload).encode("ascii")


# --- names --------------------------------------------------------------------------------------


def test_names_that_could_drive_a_terminal_are_refused_naming_the_field(service, admin):
    headers = {"Content-Type": "application/json"}
    existing = admin.create_client(ClientDraft(name="Existing")).client
    for label, bad in REFUSED_NAMES.items():
        attempts = [
            ("POST", "/v1/api-clients", {"name": bad}, "name"),
            ("POST", "/v1/api-clients", {"name": "ok", "description": bad}, "description"),
            ("POST", "/v1/restricted-tokens", {"name": bad, "allowed_ips": "127.0.0.1"}, "name"),
            ("PUT", f"/v1/api-clients/{existing.id}", {"name": bad, "version": existing.version}, "name"),
        ]
        for method, path, payload, field in attempts:
            response = service.request(method, path, content=json_body(payload), headers=headers)
            body = assert_clean_4xx(response, 422)
            assert body["field"] == field, (label, body)
            # The message quotes the value escaped: printing it cannot drive a terminal.
            assert not any(ch in body["message"] for ch in "\x00\x07\x1b\n\r\u202e\u2066"), label
    assert [c.name for c in admin.list_clients()] == ["Existing"]
    assert admin.list_tokens() == []
    assert admin.get_client(existing.id).version == existing.version
    assert [e.action for e in credential_events(admin)] == ["create"]


def test_odd_but_harmless_names_are_stored_verbatim(service, admin):
    for name in VERBATIM_NAMES:
        made = service.post("/v1/api-clients", json={"name": name, "description": name})
        assert made.status_code == 201, made.text
        token = service.post("/v1/restricted-tokens", json={"name": name, "allowed_ips": "127.0.0.1"})
        assert token.status_code == 201, token.text
        shown = service.get(f"/v1/api-clients/{made.json()['id']}").json()
        assert (shown["name"], shown["description"]) == (name, name)
        assert service.get(f"/v1/restricted-tokens/{token.json()['id']}").json()["name"] == name
    assert sorted(c.name for c in admin.list_clients()) == sorted(VERBATIM_NAMES)
    assert sorted(e.credential_name for e in credential_events(admin, 100)) == sorted(VERBATIM_NAMES * 2)


# --- the token endpoint ----------------------------------------------------------------------


@pytest.fixture
def client(admin):
    return admin.create_client(ClientDraft(name="Target"))


def basic(raw: bytes) -> dict[str, bytes]:
    return {"Authorization": b"Basic " + base64.b64encode(raw)}


MALFORMED_BASIC = {
    "no credentials": {"Authorization": "Basic"},
    "not base64": {"Authorization": "Basic !!!not-base64!!!"},
    "no colon": basic(b"just-an-id"),
    "not UTF-8": basic(b"\xff\xfe:\xfd"),
    "NUL in id": basic(b"trs_ci_\x00:secret"),
    "bad percent escape": basic(b"%zz:%"),
    "huge": basic(b"a" * 3000 + b":" + b"b" * 3000),
    "raw bytes in header": {"Authorization": b"Basic \xff\xfe\xfd"},
    "two schemes": {"Authorization": "Basic Og== Bearer x"},
}


def test_malformed_basic_headers_get_400_or_401(db, client):
    http = in_process(db)
    for label, header in MALFORMED_BASIC.items():
        response = http.post("/oauth/token", content=b"grant_type=client_credentials", headers={**FORM, **header})
        body = assert_clean_4xx(response, 400, 401)
        assert body["error"] in ("invalid_request", "invalid_client"), label
        assert "access_token" not in body


TOKEN_BODIES = {
    "not UTF-8": b"grant_type=client_credentials&client_id=\xff\xfe&client_secret=\xfd",
    "percent-encoded non-UTF-8": b"grant_type=client_credentials&client_id=%FF%FE&client_secret=%FD",
    "repeated grant_type": b"grant_type=client_credentials&grant_type=password",
    "repeated client_id": b"grant_type=client_credentials&client_id=a&client_id=b&client_secret=x",
    "NUL": b"grant_type=client_credentials%00&client_id=a&client_secret=b",
    "NUL in client_id": b"grant_type=client_credentials&client_id=trs_ci_%00&client_secret=b",
    "control characters in secret": b"grant_type=client_credentials&client_id=trs_ci_x&client_secret=%1B%5B2J",
    "JSON instead of a form": b'{"grant_type": "client_credentials"}',
    "empty": b"",
    "no equals signs": b"&&&&",
}


def test_hostile_token_request_bodies_get_4xx(db, client):
    http = in_process(db)
    for label, content in TOKEN_BODIES.items():
        body = assert_clean_4xx(http.post("/oauth/token", content=content, headers=FORM), 400, 401)
        assert "access_token" not in body, label


def test_repeated_parameters_with_a_valid_secret_still_get_no_token(db, client):
    """An attacker cannot smuggle a second client_id past the one whose secret was checked."""
    http = in_process(db)
    other = LocalStore(db).create_client(ClientDraft(name="Other"))
    content = (
        f"grant_type=client_credentials&client_id={client.client.client_id}&client_secret={client.secret}"
        f"&client_id={other.client.client_id}"
    ).encode()
    assert_clean_4xx(http.post("/oauth/token", content=content, headers=FORM), 400)


def test_oversized_bodies_get_413_before_anything_else(db, client):
    http = in_process(db)
    big = b"grant_type=client_credentials&pad=" + b"x" * 100_000
    assert_clean_4xx(http.post("/oauth/token", content=big, headers=FORM), 413)

    def chunks():  # no Content-Length: the limit must hold while streaming too
        for _ in range(50):
            yield b"x" * 4096

    assert_clean_4xx(http.post("/oauth/token", content=chunks(), headers=FORM), 413)
    http.headers["Authorization"] = f"Bearer {issue_member_token(db, LocalStore(db).me().member.email)}"
    huge = json_body({"name": "big", "description": "x" * 1_000_000})
    assert_clean_4xx(http.post("/v1/api-clients", content=huge, headers={"Content-Type": "application/json"}), 413)
    assert [c.name for c in LocalStore(db).list_clients()] == ["Target"]


def test_credentials_in_the_query_string_are_never_accepted(db, client):
    http = in_process(db)
    query = {"grant_type": "client_credentials", "client_id": client.client.client_id, "client_secret": client.secret}
    response = http.post("/oauth/token", params=query)
    assert_clean_4xx(response, 400, 401)
    access = fetch_jwt(http, client)
    assert_clean_4xx(http.get("/v1/whoami", params={"access_token": access}), 401)
    member = issue_member_token(db, LocalStore(db).me().member.email)
    assert_clean_4xx(http.get("/v1/api-clients", params={"access_token": member}), 401)


# --- bearer tokens -----------------------------------------------------------------------------


def forged_jwt(header: dict) -> str:
    """A JWT-shaped token with any header at all (PyJWT refuses to write some of these)."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'EdDSA', **header})}.{part({'sub': 'x', 'client_id': 'x'})}"
    signature = Ed25519PrivateKey.generate().sign(signing_input.encode())
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


HOSTILE_BEARERS = {
    "16 KB": "A" * 16_384,
    "16 KB JWT-shaped": "eyJ" + "A" * 8_000 + "." + "B" * 8_000 + ".C",
    "kid SQL": forged_jwt({"kid": "' OR 1=1--", "typ": "at+jwt"}),
    "kid path": forged_jwt({"kid": "../../etc/passwd", "typ": "at+jwt"}),
    "kid number": forged_jwt({"kid": 1, "typ": "at+jwt"}),
    "kid object": forged_jwt({"kid": {"$ne": None}, "typ": "at+jwt"}),
    "kid huge": forged_jwt({"kid": "k" * 5000, "typ": "at+jwt"}),
    "alg none": jwt.encode({"sub": "x"}, None, algorithm="none", headers={"kid": "x", "typ": "at+jwt"}),
    "restricted prefix, garbage": "trs_rat_" + "z" * 60,
    "restricted prefix, NUL": "trs_rat_0123456789abcdef_\x00",
    "member prefix, garbage": "trs_mat_0123456789abcdef_" + "q" * 40,
    "not base64 segments": "a.b.c",
    "non-ASCII": "jeton-\u00e9\u00e8",
}


def test_hostile_bearer_tokens_get_401(db):
    http = in_process(db)
    for label, value in HOSTILE_BEARERS.items():
        headers = {"Authorization": b"Bearer " + value.encode("utf-8", "surrogatepass")}
        for path in ("/v1/whoami", "/v1/organization", "/v1/api-clients", "/v1/restricted-tokens/1"):
            body = assert_clean_4xx(http.get(path, headers=headers), 401)
            assert body["error"] in ("invalid_token", "unauthorized"), (label, path, body)


def test_a_valid_jwt_with_a_hostile_origin_or_forwarded_header_gets_4xx(db, client):
    http = in_process(db)
    access = fetch_jwt(http, client)
    for extra in (
        {"Origin": "null"},
        {"Origin": "https://evil.example\r\nX-Injected: 1"[:30]},
        {"Origin": "x" * 5000},
        {"X-Forwarded-For": "' OR 1=1--, 999.1.1.1, ::ffff:zz"},
    ):
        response = http.get("/v1/whoami", headers=bearer(access, **extra))
        assert response.status_code in (200, 403), (extra, response.status_code, response.text)
        assert "Traceback" not in response.text


def test_hostile_management_requests_get_4xx_and_change_nothing(service, admin):
    existing = admin.create_client(ClientDraft(name="Existing")).client
    json_type = {"Content-Type": "application/json"}
    attempts = [
        ("POST", "/v1/api-clients", b'{"name": "\xff\xfe"}', json_type),
        ("POST", "/v1/api-clients", b'{"name": "a", "name": "\\u0000"}', json_type),
        ("POST", "/v1/api-clients", b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}", json_type),
        ("POST", "/v1/api-clients", b"name=form-encoded", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("POST", "/v1/api-clients", b'{"name": "no type"}', {"Content-Type": "text/plain"}),
        ("PUT", f"/v1/api-clients/{existing.id}", b'{"name": "x", "version": 99999999999999999999}', json_type),
        ("PUT", f"/v1/api-clients/{existing.id}", b'{"name": "x", "version": "1; DROP TABLE api_clients"}', json_type),
        ("GET", "/v1/audit-events?limit=1&limit=1001", b"", {}),
        ("GET", "/v1/audit-events?limit=1%00", b"", {}),
        ("GET", "/v1/api-clients/1%00", b"", {}),
        ("GET", "/v1/api-clients/' OR 1=1--", b"", {}),
        ("DELETE", "/v1/api-clients/99999999999999999999999", b"", {}),
        ("POST", "/v1/api-clients", b"", {"Content-Type": "application/json", "Content-Length": "abc"}),
    ]
    for method, path, content, headers in attempts:
        response = service.request(method, path, content=content, headers=headers)
        assert_clean_4xx(response)
    assert [c.name for c in admin.list_clients()] == ["Existing"]
    assert admin.get_client(existing.id).version == existing.version
    assert len(credential_events(admin)) == 1


# --- rendered inert in the app -------------------------------------------------------------------

MARKUP_NAMES = [
    "[bold red]ALERT[/] pay now",
    "[@click=app.quit]Click me[/]",
    "[link=https://evil.example]docs[/link]",
    "Robert'); DROP TABLE api_clients;--",
]


async def test_names_that_look_like_markup_show_literally_in_the_app_and_the_created_modal(sqlite_url):
    from tests.test_app_common import ADMIN, make_app, make_database, open_api, screen_text, settle, type_text
    from turris_api.screens.modals import ClientCreatedModal

    db = make_database(sqlite_url)
    store = LocalStore(db, ADMIN)
    for name in MARKUP_NAMES[1:]:
        store.create_client(ClientDraft(name=name, description=name))
    app = make_app(store)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_api(pilot)
        shown = screen_text(app)
        for name in MARKUP_NAMES[1:]:
            assert name[:24] in shown, name  # literally, brackets and all (the column may cut the end)
        await pilot.press("a")
        await settle(pilot)
        await type_text(pilot, "#name", MARKUP_NAMES[0])
        await pilot.click("#submit")
        for _ in range(100):
            if isinstance(app.screen, ClientCreatedModal):
                break
            await settle(pilot)
        assert isinstance(app.screen, ClientCreatedModal)
        assert MARKUP_NAMES[0] in screen_text(app)
        assert app.is_running  # the [@click=app.quit] name did not become an action
    assert sorted(c.name for c in store.list_clients()) == sorted(MARKUP_NAMES)
    db.dispose()
