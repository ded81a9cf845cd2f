"""The Postman collection and environment of this service: valid against Postman's own schema of
the collection format v2.1, their requests working against a live `turris-api serve` when sent as
Postman sends them, the same collection from the CLI and the service, and never a secret in either.

tests/data/postman-collection-v2.1.json is Postman's published JSON Schema of the format
(https://schema.getpostman.com/json/collection/v2.1.0/collection.json, draft-07), compiled from
postmanlabs/schemas (schemas/draft-07/v2.1.0 at e462f6b, Apache-2.0) with that repository's bin/compile.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jwt
import pytest

from tests.support import postman as pm
from tests.support.service import ISSUER, services
from turris_api.server import postman
from turris_api.server.api import openapi_document
from turris_api.store.database import Database
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft
from turris_api.store.operator import bootstrap, issue_member_token

AUDIENCE = "turris-api"
FOLDERS = ("Token", "Protected", "Management", "Discovery")


def export(cli, out: Path, *extra: str) -> tuple[dict, dict]:
    code, printed, err = cli("postman", "export", "--out", str(out), *extra)
    assert code == 0, err
    assert str(out / postman.COLLECTION_FILE) in printed and str(out / postman.ENVIRONMENT_FILE) in printed
    return (json.loads((out / postman.COLLECTION_FILE).read_text(encoding="utf-8")),
            json.loads((out / postman.ENVIRONMENT_FILE).read_text(encoding="utf-8")))


def names(collection: dict) -> dict[str, list[tuple[str, str]]]:
    return {f["name"]: [(i["request"]["method"], "/" + "/".join(i["request"]["url"]["path"])) for i in f["item"]]
            for f in collection["item"]}


def verified(token: str, base_url: str) -> dict:
    keys = jwt.PyJWKSet.from_dict(httpx.get(f"{base_url}/.well-known/jwks.json").json())
    header = jwt.get_unverified_header(token)
    return jwt.decode(token, keys[header["kid"]].key, algorithms=[header["alg"]], audience=AUDIENCE, issuer=ISSUER)


# --- the format --------------------------------------------------------------------------------


def test_the_exported_collection_is_valid_against_postmans_v2_1_schema(cli, tmp_path):
    collection, environment = export(cli, tmp_path, "--issuer", ISSUER, "--client-id", "trs_ci_0123456789abcdef01234567")
    validator = pm.collection_validator()
    assert [e.message for e in validator.iter_errors(collection)] == []
    assert collection["info"]["schema"] == postman.SCHEMA

    broken = json.loads(json.dumps(collection))  # the schema has teeth: an auth type Postman lacks fails
    broken["item"][0]["auth"]["type"] = "password"
    assert not validator.is_valid(broken)

    assert environment["_postman_variable_scope"] == "environment"
    assert {v["key"]: (v["value"], v["type"]) for v in environment["values"]} == {
        "issuer": (ISSUER, "default"),
        "client_id": ("trs_ci_0123456789abcdef01234567", "default"),
        "client_secret": ("", "secret"),
        "member_token": ("", "secret"),
    }


def test_every_operation_of_the_service_is_in_its_folder():
    document = openapi_document(ISSUER)
    folders = names(postman.collection(document, ISSUER))
    assert tuple(folders) == FOLDERS
    listed = {request for requests in folders.values() for request in requests}
    for path, operations in document["paths"].items():
        for method in operations:
            if method in ("head", "options") or path == "/auth/forward":
                continue
            assert (method.upper(), path.replace("{ref}", ":ref")) in listed, (method, path)
    assert folders["Token"][0] == ("POST", "/oauth/token")  # first, since the Protected requests need its JWT
    assert ("GET", "/auth/forward") in folders["Protected"] and ("GET", "/v1/whoami") in folders["Protected"]
    assert ("PUT", "/v1/api-clients/:ref") in folders["Management"]
    assert ("GET", "/.well-known/jwks.json") in folders["Discovery"]


def test_the_token_helper_is_postmans_oauth2_client_credentials():
    collection = postman.collection(openapi_document(ISSUER), ISSUER)
    helper = {a["key"]: a["value"] for a in collection["auth"]["oauth2"]}
    assert collection["auth"]["type"] == "oauth2"
    assert helper["grant_type"] == "client_credentials"
    assert helper["accessTokenUrl"] == "{{issuer}}/oauth/token"
    assert (helper["clientId"], helper["clientSecret"]) == ("{{client_id}}", "{{client_secret}}")
    assert helper["client_authentication"] == "header"


# --- against a live service ----------------------------------------------------------------------


@pytest.fixture
def live(sqlite_url):
    db = Database(sqlite_url)
    bootstrap(db)
    with services(sqlite_url) as (service,):
        yield db, LocalStore(db), service
    db.dispose()


def test_its_requests_work_against_a_live_service_as_postman_sends_them(live, cli, tmp_path):
    db, admin, service = live
    created = admin.create_client(ClientDraft(name="Postman trial"))
    collection, environment = export(cli, tmp_path, "--issuer", ISSUER, "--client-id", created.client.client_id)
    # What the user does in Postman: the environment as exported, the secret pasted in; this test
    # reaches the service on loopback rather than at its published name.
    values = pm.variables(collection, environment, issuer=service.url, client_secret=created.secret,
                          member_token=issue_member_token(db, admin.me().member.email))

    with httpx.Client(timeout=10) as http:
        token_item, _ = pm.item(collection, "Token", postman.TOKEN_NAME)
        answer = http.send(pm.build(collection, "Token", postman.TOKEN_NAME, values))
        assert answer.status_code == 200, answer.text
        jwt_value = answer.json()["access_token"]
        assert verified(jwt_value, service.url)["client_id"] == created.client.client_id
        # Its test script keeps the JWT in the collection variable the Protected requests send.
        assert 'pm.collectionVariables.set("access_token", body.access_token)' in pm.script_of(token_item)
        values["access_token"] = jwt_value

        whoami = http.send(pm.build(collection, "Protected", "Who the presented credential is (API Client JWT or "
                                                             "Restricted Access Token)", values))
        assert whoami.status_code == 200, whoami.text
        assert whoami.json()["client_id"] == created.client.client_id
        forward = http.send(pm.build(collection, "Protected", "Forward-auth decision for a reverse proxy", values))
        assert forward.status_code == 200 and forward.headers["X-Turris-Client-Id"] == created.client.client_id

        # Postman's own OAuth 2.0 helper ("Get New Access Token") gets one too.
        helper = http.send(pm.oauth2_helper_token_request(collection, values))
        assert helper.status_code == 200, helper.text
        values["access_token"] = helper.json()["access_token"]
        organization = http.send(pm.build(collection, "Protected", "The caller's organization (API Client JWTs only)",
                                          values))
        assert organization.status_code == 200 and organization.json()["name"] == admin.me().organization.name

        one = http.send(pm.build(collection, "Management", "One API Client", values, ref=created.client.client_id))
        assert one.status_code == 200 and one.json()["name"] == "Postman trial"
        for _, name in [(f, i["name"]) for f in collection["item"] if f["name"] == "Discovery" for i in f["item"]]:
            assert http.send(pm.build(collection, "Discovery", name, values)).status_code == 200, name

        values["client_secret"] = "trs_cs_not-the-secret"  # and a wrong secret pasted in is refused
        refused = http.send(pm.build(collection, "Token", postman.TOKEN_NAME, values))
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_in_the_collection_runners_order_token_then_protected_every_protected_request_passes(live, cli, tmp_path):
    db, admin, service = live
    created = admin.create_client(ClientDraft(name="Runner"))
    collection, environment = export(cli, tmp_path, "--issuer", ISSUER, "--client-id", created.client.client_id)
    values = pm.variables(collection, environment, issuer=service.url, client_secret=created.secret)
    with httpx.Client(timeout=10) as http:
        for folder in ("Token", "Protected"):  # as the Runner goes: in order, each test script run after its request
            for entry in next(f for f in collection["item"] if f["name"] == folder)["item"]:
                answer = http.send(pm.build(collection, folder, entry["name"], values))
                assert answer.status_code < 500, (entry["name"], answer.text)
                if 'pm.collectionVariables.set("access_token"' in pm.script_of(entry):
                    values["access_token"] = answer.json()["access_token"]
                if folder == "Protected":  # nothing in Token (revoke, say) ended the JWT they send
                    assert answer.status_code == 200, (entry["name"], answer.text)


def test_the_service_serves_what_the_cli_exports_and_names_its_issuer_in_openapi(live, cli, tmp_path):
    _, _, service = live
    served = httpx.get(f"{service.url}{postman.COLLECTION_PATH}", timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    exported, _ = export(cli, tmp_path, "--issuer", ISSUER)
    assert served.json() == exported
    assert {"key": "issuer", "value": ISSUER} in [{k: v[k] for k in ("key", "value")} for v in exported["variable"]]
    assert httpx.get(f"{service.url}/openapi.json", timeout=10).json()["servers"][0]["url"] == ISSUER


def test_neither_file_holds_the_secret(admin, cli, tmp_path):
    created = admin.create_client(ClientDraft(name="Never written"))
    export(cli, tmp_path, "--client-id", created.client.client_id)
    for name in (postman.COLLECTION_FILE, postman.ENVIRONMENT_FILE):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert created.secret not in text, name
    assert created.client.client_id in (tmp_path / postman.ENVIRONMENT_FILE).read_text(encoding="utf-8")

    # The secret given where the Client ID goes is refused, neither written nor repeated.
    other = tmp_path / "other"
    other.mkdir()
    code, out, err = cli("postman", "export", "--out", str(other), "--client-id", created.secret)
    assert code == 2 and "is a secret, not a Client ID" in err
    assert created.secret not in out + err and list(other.iterdir()) == []


# --- the command's choices and errors ----------------------------------------------------------------


def test_the_issuer_comes_from_the_flag_the_remote_or_serves_configuration(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TURRIS_ISSUER", "https://configured.example/")
    assert pm.variables(*export(cli, tmp_path))["issuer"] == "https://configured.example"
    assert pm.variables(*export(cli, tmp_path, "--issuer", "https://flag.example"))["issuer"] == "https://flag.example"
    code, out, err = cli("--remote", "https://remote.example", "postman", "export", "--out", str(tmp_path), "--json")
    assert code == 0, err
    assert json.loads(out)["issuer"] == "https://remote.example"  # no member token needed: nothing is asked of it


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--out", "{tmp}/missing"], 2, "--out {tmp}/missing does not exist"),
        (["--out", "{tmp}/a-file"], 2, "--out {tmp}/a-file is not a folder"),
        (["--out", "{tmp}/blocked"], 1, "Cannot write {tmp}/blocked/turris-api.postman_collection.json"),
        (["--issuer", "ftp://files.example"], 2, '--issuer "ftp://files.example" is not an http(s) base URL'),
        (["--client-id", "my app"], 2, '--client-id "my app" is not a Client ID'),
    ],
)
def test_bad_input_gets_one_line_naming_it_and_no_traceback(cli, tmp_path, args, code, says):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "blocked" / postman.COLLECTION_FILE).mkdir(parents=True)  # in the way of the file, even for root
    argv = [a.format(tmp=tmp_path) for a in (args if "--out" in args else ["--out", "{tmp}", *args])]
    got, out, err = cli("postman", "export", *argv)
    assert got == code and out == ""
    assert err.startswith("turris-api: ") and says.format(tmp=tmp_path) in err and len(err.splitlines()) == 1
    assert "Traceback" not in err

    got, _, err = cli("postman", "export", *argv, "--json")
    assert got == code and says.format(tmp=tmp_path) in json.loads(err)["error"]["message"]
