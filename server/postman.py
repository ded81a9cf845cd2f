"""This service's API as a Postman collection (format v2.1) and a Postman environment to go with it.

The collection is made from the service's own OpenAPI document, so it lists what the service
really answers. Neither file ever holds a secret: the environment leaves the Client Secret and
the member access token empty for the user to paste in Postman.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from turris_api.server.routes.forward import PREFIX as FORWARD_PATH
from turris_api.store.crypto import CLIENT_ID_PREFIX, CLIENT_SECRET_PREFIX, MEMBER_TOKEN_PREFIX, RESTRICTED_TOKEN_PREFIX
from turris_api.store.errors import Invalid
from turris_api.store.validation import shown

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
COLLECTION_FILE = "turris-api.postman_collection.json"
ENVIRONMENT_FILE = "turris-api.postman_environment.json"
COLLECTION_PATH = "/postman/collection.json"  # where the service serves it
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path)
TOKEN_NAME = "Get a token"  # noqa: S105 (a request's name)
ACCESS_TOKEN = "access_token"  # noqa: S105 (the collection variable the token request's test script fills)
METHODS = ("get", "post", "put", "patch", "delete")  # Postman's order; HEAD and OPTIONS add nothing to try
CLIENT_ID_RE = re.compile(re.escape(CLIENT_ID_PREFIX) + r"[A-Za-z0-9_-]{1,64}")
SECRET_PREFIXES = (CLIENT_SECRET_PREFIX, RESTRICTED_TOKEN_PREFIX, MEMBER_TOKEN_PREFIX)

# Form fields whose value is one of the collection's variables.
FORM_VARIABLES = {"client_id": "{{client_id}}", "client_secret": "{{client_secret}}", "token": "{{access_token}}"}
# Revoke's token is left for the user to paste: access_token there would end the JWT the Protected
# requests send, and the Collection Runner runs Token before Protected.
REVOKE_PATH = "/oauth/revoke"
# The proxy sets these on a forward-auth check (so the OpenAPI document leaves them out); here they
# ask about a protected call.
FORWARD_HEADERS = [
    {"key": "X-Original-Method", "value": "GET", "description": "Set by your proxy: the method of the request it asks about."},
    {"key": "X-Original-URI", "value": "/v1/whoami", "description": "Set by your proxy: the path of the request it asks about."},
]


def _attributes(**values: str) -> list[dict[str, str]]:
    return [{"key": key, "value": value, "type": "string"} for key, value in values.items()]


# Postman's OAuth 2.0 helper, set up for the client-credentials grant. Its current token is the one the
# Token folder's "Get a token" stores, so the Protected requests work in the Collection Runner and Newman
# too; "Get New Access Token" on the collection's Authorization tab gets one the helper's way.
OAUTH2_HELPER = {
    "type": "oauth2",
    "oauth2": _attributes(
        grant_type="client_credentials",
        accessTokenUrl="{{issuer}}" + TOKEN_PATH,
        clientId="{{client_id}}",
        clientSecret="{{client_secret}}",
        client_authentication="header",
        tokenName="Turris API Client JWT",
        accessToken="{{" + ACCESS_TOKEN + "}}",
        tokenType="Bearer",
        headerPrefix="Bearer",
        addTokenTo="header",
    ),
}

# One folder per way of authenticating, as each operation's OpenAPI `security` names it; None: no credential.
FOLDERS: dict[str | None, tuple[str, str, dict[str, Any] | None]] = {
    "clientSecretBasic": (
        "Token",
        "The token endpoint and its companions, with the Client ID and Client Secret (HTTP Basic). "
        "Run Get a token first: it stores the JWT for the Protected requests.",
        {"type": "basic", "basic": _attributes(username="{{client_id}}", password="{{client_secret}}")},  # noqa: S106 (a variable)
    ),
    "accessToken": (
        "Protected",
        "The protected API and the forward-auth check, with the JWT from the Token folder (the collection's "
        "OAuth 2.0 helper sends it), or a Restricted Access Token pasted in as access_token.",
        None,  # the collection's OAuth 2.0 helper
    ),
    "memberToken": (
        "Management",
        "The management API behind turris-api --remote, acting as the member whose access token is in the "
        "environment's member_token (turris-api member token EMAIL issues one).",
        {"type": "bearer", "bearer": _attributes(token="{{member_token}}")},  # noqa: S106 (a variable)
    ),
    None: (
        "Discovery",
        "Public keys, server metadata, health probes and this collection: no credential needed.",
        {"type": "noauth"},
    ),
}

TOKEN_SCRIPT = [
    "// Keep the JWT for the Protected requests (the collection's OAuth 2.0 helper sends it).",
    "const body = pm.response.json();",
    'pm.test("a token was issued", function () {',
    "    pm.expect(body.access_token, body.error_description || body.error).to.be.a(\"string\");",
    "});",
    "if (body.access_token) {",
    f'    pm.collectionVariables.set("{ACCESS_TOKEN}", body.access_token);',
    "}",
]


# --- checking what the user gives ----------------------------------------------


def issuer_url(value: str, field: str = "issuer") -> str:
    """An http(s) base URL such as https://api.example.com, without a trailing slash."""
    text = value.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment
            or "@" in parts.netloc or not text.isprintable() or " " in text):
        raise Invalid(field, f"{field} {shown(value)} is not an http(s) base URL such as https://api.example.com.", value)
    return text


def client_id(value: str, field: str = "client_id") -> str:
    """A Client ID (trs_ci_…), or "" for none. A secret given by mistake is refused without being repeated."""
    text = value.strip()
    if not text:
        return ""
    if text.startswith(SECRET_PREFIXES):
        raise Invalid(field, f"{field} is a secret, not a Client ID: give the Client ID ({CLIENT_ID_PREFIX}…); "
                             "the Client Secret is pasted in Postman, never written to a file.")
    if not CLIENT_ID_RE.fullmatch(text):
        raise Invalid(field, f"{field} {shown(value)} is not a Client ID (they look like {CLIENT_ID_PREFIX}…).", value)
    return text


# --- the collection ----------------------------------------------------------


def collection(openapi: dict[str, Any], issuer: str) -> dict[str, Any]:
    """The Postman collection of the service described by `openapi`, reached at `issuer`."""
    folders: dict[str | None, list[dict[str, Any]]] = {key: [] for key in FOLDERS}
    seen: set[tuple[str, str]] = set()
    for path, operations in openapi.get("paths", {}).items():
        for method in METHODS:
            operation = operations.get(method)
            if operation is None or (path, operation.get("summary", "")) in seen:
                continue  # forward-auth has one operation per method: one is enough to try
            seen.add((path, operation.get("summary", "")))
            folders[_scheme(operation)].append(_item(openapi, path, method, operation))
    title = openapi.get("info", {}).get("title", "Turris credential service")
    return {
        "info": {
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, issuer + COLLECTION_PATH)),
            "name": title,
            "description": _collection_description(openapi),
            "schema": SCHEMA,
        },
        "item": [
            {"name": name, "description": description, "item": items, **({"auth": auth} if auth else {})}
            for key, (name, description, auth) in FOLDERS.items()
            if (items := folders[key])
        ],
        "auth": OAUTH2_HELPER,
        "variable": [
            {"key": "issuer", "value": issuer, "type": "string",
             "description": "The service's address; the environment's issuer overrides it."},
            {"key": ACCESS_TOKEN, "value": "", "type": "string",
             "description": "Filled by Token → Get a token; or paste a Restricted Access Token."},
        ],
    }


def environment(issuer: str, client: str = "") -> dict[str, Any]:
    """The Postman environment for the service at `issuer`: its address and the Client ID; the
    secrets stay empty for the user to paste (type secret, so Postman masks them)."""
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, issuer + "#postman-environment")),
        "name": f"Turris API ({issuer})",
        "values": [
            {"key": "issuer", "value": issuer, "type": "default", "enabled": True},
            {"key": "client_id", "value": client, "type": "default", "enabled": True},
            {"key": "client_secret", "value": "", "type": "secret", "enabled": True},
            {"key": "member_token", "value": "", "type": "secret", "enabled": True},
        ],
        "_postman_variable_scope": "environment",
    }


def _collection_description(openapi: dict[str, Any]) -> str:
    return (
        f"{openapi.get('info', {}).get('description', '')}\n\n"
        "Choose the environment turris-api postman export wrote (or set issuer and client_id yourself), paste "
        "your Client Secret into client_secret, then run Token → Get a token: the Protected requests send the "
        "JWT it stores. Postman's own OAuth 2.0 helper (the collection's Authorization tab, Get New Access "
        "Token) works too. The Management requests need a member access token in member_token."
    ).strip()


def _scheme(operation: dict[str, Any]) -> str | None:
    for requirement in operation.get("security") or ():
        for name in requirement:
            return name
    return None


def _item(openapi: dict[str, Any], path: str, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    summary = operation.get("summary") or f"{method.upper()} {path}"
    name = TOKEN_NAME if path == TOKEN_PATH else summary  # the name the collection's instructions use
    request: dict[str, Any] = {"method": method.upper(), "header": [], "url": _url(path, operation)}
    if description := operation.get("description") or (summary if name != summary else ""):
        request["description"] = description
    if path == FORWARD_PATH:
        request["header"].extend(FORWARD_HEADERS)
    content = operation.get("requestBody", {}).get("content", {})
    if form := content.get("application/x-www-form-urlencoded"):
        schema = _resolved(openapi, form.get("schema", {}))
        required = set(schema.get("required", ()))
        request["body"] = {"mode": "urlencoded", "urlencoded": [
            _described({"key": name, "value": _form_value(path, name, prop), "disabled": name not in required}, prop)
            for name, prop in schema.get("properties", {}).items()
        ]}
    elif body := content.get("application/json"):
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {"mode": "raw", "raw": json.dumps(_example(openapi, body.get("schema", {}), True), indent=2),
                           "options": {"raw": {"language": "json"}}}
    item: dict[str, Any] = {"name": name, "request": request}
    if path == TOKEN_PATH:
        item["event"] = [{"listen": "test", "script": {"type": "text/javascript", "exec": TOKEN_SCRIPT}}]
    return item


def _url(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    parameters = operation.get("parameters", [])
    segments = [re.sub(r"^\{(.+)\}$", r":\1", part) for part in path.strip("/").split("/")]
    query = [
        _described({"key": p["name"], "value": _text(p.get("schema", {}).get("default", "")),
                    "disabled": not p.get("required", False)}, p)
        for p in parameters if p.get("in") == "query"
    ]
    url: dict[str, Any] = {"raw": "{{issuer}}/" + "/".join(segments), "host": ["{{issuer}}"], "path": segments}
    if query:
        url["query"] = query
    if variables := [_described({"key": p["name"], "value": ""}, p) for p in parameters if p.get("in") == "path"]:
        url["variable"] = variables
    return url


def _described(entry: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    if description := source.get("description"):
        entry["description"] = description
    return entry


def _form_value(path: str, name: str, prop: dict[str, Any]) -> str:
    if path == REVOKE_PATH and name == "token":
        return ""
    if name in FORM_VARIABLES:
        return FORM_VARIABLES[name]
    if prop.get("enum"):
        return _text(prop["enum"][0])
    return _text(prop.get("default", ""))


def _resolved(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema behind a $ref, or the one non-null choice of an optional body."""
    while True:
        if ref := schema.get("$ref"):
            schema = openapi["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        elif choices := [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]:
            schema = choices[0]
        else:
            return schema


def _example(openapi: dict[str, Any], schema: dict[str, Any], required: bool) -> Any:
    """A body to start from: defaults where the schema has them, blanks to fill in where it has none."""
    if "default" in schema:
        return schema["default"]
    nullable = any(s.get("type") == "null" for s in schema.get("anyOf", ()))
    if nullable and not required:
        return None
    schema = _resolved(openapi, schema)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        needed = set(schema.get("required", ()))
        return {name: _example(openapi, prop, name in needed) for name, prop in schema.get("properties", {}).items()}
    return {"integer": 0, "number": 0, "boolean": False, "array": []}.get(kind, "")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
