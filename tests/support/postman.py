"""Send a Postman collection's requests with httpx the way Postman does: its variables, the auth a
request inherits from its folder or the collection, its body; and what Postman's OAuth 2.0 helper
sends when asked for a new client-credentials token."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import httpx
import jsonschema

SCHEMA_FILE = Path(__file__).parent.parent / "data" / "postman-collection-v2.1.json"
VARIABLE = re.compile(r"\{\{([^{}]+)\}\}")


def collection_validator() -> jsonschema.protocols.Validator:
    """Postman's own JSON Schema of the collection format v2.1.0 (a draft-07 schema)."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def variables(collection: dict, environment: dict, **given: str) -> dict[str, str]:
    """Postman's scopes, narrowest last: the collection's variables, the environment's, then `given`."""
    found = {v["key"]: v["value"] for v in collection.get("variable", ())}
    found |= {v["key"]: v["value"] for v in environment["values"] if v.get("enabled", True)}
    return found | given


def substitute(text: str, values: dict[str, str]) -> str:
    """{{name}} replaced; a name with no value fails the test rather than reaching the service as is."""
    def value(match: re.Match) -> str:
        name = match.group(1)
        assert name in values, f"the collection uses {{{{{name}}}}}, which neither it nor the environment defines"
        return values[name]

    return VARIABLE.sub(value, text)


def item(collection: dict, folder: str, name: str) -> tuple[dict, list[dict]]:
    """The request called `name` in `folder`, and the auth settings it may inherit, nearest first."""
    for group in collection["item"]:
        if group["name"] == folder:
            for entry in group["item"]:
                if entry["name"] == name:
                    return entry, [a for a in (group.get("auth"), collection.get("auth")) if a]
    raise AssertionError(f"no request {name!r} in folder {folder!r}")


def auth_header(auth: dict, values: dict[str, str]) -> str | None:
    """The Authorization header Postman's runtime adds for one auth setting (None: it adds none)."""
    attributes = {a["key"]: substitute(str(a["value"]), values) for a in auth.get(auth["type"], ())}
    if auth["type"] == "basic":
        pair = f"{attributes['username']}:{attributes['password']}".encode()
        return "Basic " + base64.b64encode(pair).decode()
    if auth["type"] == "bearer":
        return f"Bearer {attributes['token']}"
    if auth["type"] == "oauth2":  # the helper's current token
        assert attributes.get("addTokenTo", "header") == "header"
        assert attributes.get("tokenType", "bearer").lower() == "bearer"
        return f"Bearer {attributes['accessToken']}" if attributes.get("accessToken") else None
    assert auth["type"] == "noauth", auth["type"]
    return None


def build(collection: dict, folder: str, name: str, values: dict[str, str], **path: str) -> httpx.Request:
    """The request as Postman would send it; `path` gives the values of its :path variables."""
    entry, inherited = item(collection, folder, name)
    request = entry["request"]
    url = request["url"]
    segments = [path[part[1:]] if part.startswith(":") else part for part in url["path"]]
    target = substitute("/".join(url["host"] + segments), values)
    query = [(q["key"], substitute(q["value"], values)) for q in url.get("query", ()) if not q.get("disabled")]
    headers = {h["key"]: substitute(h["value"], values) for h in request.get("header", ()) if not h.get("disabled")}
    auth = request.get("auth") or (inherited[0] if inherited else None)
    if auth is not None and (header := auth_header(auth, values)) is not None:
        headers["Authorization"] = header
    body = request.get("body")
    if body is None:
        return httpx.Request(request["method"], target, params=query, headers=headers)
    if body["mode"] == "urlencoded":
        form = {f["key"]: substitute(f["value"], values) for f in body["urlencoded"] if not f.get("disabled")}
        return httpx.Request(request["method"], target, params=query, headers=headers, data=form)
    assert body["mode"] == "raw"
    return httpx.Request(request["method"], target, params=query, headers=headers,
                         content=substitute(body["raw"], values).encode())


def oauth2_helper_token_request(collection: dict, values: dict[str, str]) -> httpx.Request:
    """What Postman's OAuth 2.0 helper sends for "Get New Access Token" with the client-credentials grant
    and client authentication "Send as Basic Auth header"."""
    auth = collection["auth"]
    assert auth["type"] == "oauth2"
    helper = {a["key"]: substitute(str(a["value"]), values) for a in auth["oauth2"]}
    assert helper["grant_type"] == "client_credentials" and helper["client_authentication"] == "header"
    pair = f"{helper['clientId']}:{helper['clientSecret']}".encode()
    form = {"grant_type": "client_credentials"} | ({"scope": helper["scope"]} if helper.get("scope") else {})
    return httpx.Request("POST", helper["accessTokenUrl"], data=form,
                         headers={"Authorization": "Basic " + base64.b64encode(pair).decode()})


def script_of(entry: dict) -> str:
    """The text of its test script (the one Postman runs after the response)."""
    return "\n".join(line for event in entry.get("event", ()) if event["listen"] == "test"
                     for line in event["script"]["exec"])
