"""schemathesis against the service's own OpenAPI schema, with valid credentials for every
operation: zero 5xx, zero responses that break the schema, bad input refused. Bounded examples
per operation so the suite stays quick."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from tests.server_support import in_process
from turris_api.server.api import create_app
from turris_api.server.settings import ServiceSettings
from turris_api.store.database import Database
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.operator import bootstrap, issue_member_token

MAX_EXAMPLES = 30
pytestmark = pytest.mark.slow


@dataclass
class Service:
    app: FastAPI
    member_token: str
    basic: str
    jwt: str
    restricted: str


@pytest.fixture
def service(sqlite_url) -> Service:
    db = Database(sqlite_url)
    bootstrap(db)
    admin = LocalStore(db)
    admin.create_token(TokenDraft(name="Existing token", allowed_ips="127.0.0.1"))
    made = admin.create_client(ClientDraft(name="Fuzzed", allowed_origins="https://shop.example"))
    restricted = admin.create_token(TokenDraft(name="Fuzz portal", allowed_ips="127.0.0.0/8")).value
    # Generous throttle: the fuzzer's failures must not turn every later answer into a 429.
    app = create_app(db, ServiceSettings(throttle_per_client_ip=10_000, throttle_per_ip=10_000))
    basic = base64.b64encode(f"{made.client.client_id}:{made.secret}".encode()).decode()
    token = in_process(db, app.state.service.settings).post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(made.client.client_id, made.secret)
    )
    return Service(app, issue_member_token(db, admin.me().member.email), basic, token.json()["access_token"], restricted)


@pytest.fixture
def api_schema(service):
    return schemathesis.openapi.from_asgi("/openapi.json", service.app)


schema = schemathesis.pytest.from_fixture("api_schema")


def credentials_for(case, service: Service) -> dict[str, str]:
    path = case.operation.path
    if path == "/oauth/token":
        body = case.body if isinstance(case.body, dict) else {}
        if "client_id" in body or "client_secret" in body:  # client_secret_post: Basic too is invalid_request
            return {}
        return {"Authorization": f"Basic {service.basic}"}
    if path == "/v1/whoami":
        return {"Authorization": f"Bearer {service.restricted if len(path) % 2 else service.jwt}"}
    if path.startswith("/.well-known"):
        return {}
    if path == "/v1/organization":
        return {"Authorization": f"Bearer {service.jwt}"}
    return {"Authorization": f"Bearer {service.member_token}"}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_operation_holds_to_its_schema_and_never_fails_with_5xx(case, service):
    # Schema-valid is not always acceptable: the store refuses a blank name or a malformed origin
    # with a 422 naming the field (checked below). Unknown query parameters are ignored on purpose.
    excluded = [schemathesis.checks.positive_data_acceptance]
    if case.operation.path == "/v1/audit-events":
        excluded.append(schemathesis.checks.negative_data_rejection)
    response = case.call_and_validate(headers=credentials_for(case, service), excluded_checks=excluded)
    assert response.status_code < 500
    if response.status_code >= 400 and case.method.upper() != "HEAD":  # a HEAD answer has no body
        body = response.json()
        assert body["error"]
        assert body.get("message") or body.get("error_description")
        if response.status_code == 422:
            assert body["field"], body
    assert "Traceback" not in response.text
