"""RemoteStore: the CredentialStore over HTTP, against the credential service's management API.

Same interface, same models, same StoreError family as LocalStore: the service runs the very
same store code, so remote = local + transport. Transport trouble (unreachable, timeout, 5xx,
an answer that is not the service's JSON) becomes `Unavailable` naming the URL, never the token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from turris_api.store import shapes, validation
from turris_api.store.errors import ERRORS_BY_CODE, Conflict, Invalid, NotFound, PermissionDenied, StoreError, Unavailable
from turris_api.store.models import (
    DEFAULT_OVERLAP,
    ApiClient,
    AuditEvent,
    ClientDraft,
    CreatedClient,
    CreatedToken,
    Me,
    Member,
    RestrictedToken,
    TokenDraft,
)

T = TypeVar("T")
USER_AGENT = "turris-api-settings"


class RemoteStore:
    """Acts as the member whose access token it holds; the service enforces the policy."""

    def __init__(
        self, base_url: str, member_token: str, timeout: float = 10.0, *, client: httpx.Client | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.description = f"remote {self.base_url}"
        self.warnings: list[str] = []
        self.timeout = timeout
        self._token = member_token
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"RemoteStore({self.base_url!r})"  # never the token

    # --- transport -----------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, headers={"User-Agent": USER_AGENT})
        return self._client

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    def _call(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        url = self.base_url + path
        try:
            response = self._http().request(
                method,
                url,
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
            )
        except httpx.TimeoutException:
            raise Unavailable(
                f"The credential service at {self.base_url} did not answer within {self.timeout:g} s. Try again."
            ) from None
        except httpx.InvalidURL:
            raise Unavailable(f"{self.base_url} is not a usable URL for the credential service.") from None
        except (httpx.HTTPError, httpx.StreamError, OSError):
            raise Unavailable(
                f"The credential service at {self.base_url} cannot be reached. Check the URL and that it is running."
            ) from None
        if response.status_code >= 400:
            raise self._refusal(response)
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError:
            raise self._not_the_service(response) from None

    def _not_the_service(self, response: httpx.Response) -> Unavailable:
        kind = response.headers.get("content-type", "no content type").split(";", 1)[0]
        return Unavailable(
            f"The server at {self.base_url} answered HTTP {response.status_code} with {kind}, "
            "which is not the credential service's JSON. Check the URL."
        )

    def _refusal(self, response: httpx.Response) -> StoreError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("error"), str):
            if status >= 500:
                return Unavailable(f"The credential service at {self.base_url} failed (HTTP {status}). Try again later.",
                                   _retry_after(response))
            return self._not_the_service(response)
        code, message = body["error"], str(body.get("message") or body.get("error_description") or "")
        if status == 401:
            return PermissionDenied(
                f"The credential service at {self.base_url} did not accept your member access token "
                f"({message or 'unknown or revoked'}). Issue a new one with `turris-api member token EMAIL`."
            )
        if status == 429 or status >= 500:
            if code == Unavailable.code and message:
                return Unavailable(message, _retry_after(response))
            return Unavailable(
                f"The credential service at {self.base_url} could not answer (HTTP {status}). Try again later.",
                _retry_after(response),
            )
        message = message or f"The credential service refused the request (HTTP {status})."
        cls = ERRORS_BY_CODE.get(code)
        if cls is Invalid or (cls is None and status in (400, 413, 422)):
            field, value = body.get("field"), body.get("value")
            return Invalid(str(field or "request"), message, value if isinstance(value, str) else None)
        if cls is not None and cls not in (StoreError, Unavailable):
            return cls(message)
        by_status = {403: PermissionDenied, 404: NotFound, 409: Conflict}
        return by_status.get(status, StoreError)(message)

    def _parse(self, parse: Callable[[Any], T], data: Any) -> T:
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise Unavailable(
                f"The credential service at {self.base_url} sent an answer this version does not understand."
            ) from None

    def _list(self, parse: Callable[[Any], T], data: Any) -> list[T]:
        if not isinstance(data, list):
            return self._parse(_fail, data)
        return [self._parse(parse, item) for item in data]

    # --- the interface ---------------------------------------------------------

    def me(self) -> Me:
        return self._parse(_of(Me), self._call("GET", "/v1/me"))

    def list_clients(self) -> list[ApiClient]:
        return self._list(_of(ApiClient), self._call("GET", "/v1/api-clients"))

    def get_client(self, ref: str | int) -> ApiClient:
        return self._parse(_of(ApiClient), self._call("GET", f"/v1/api-clients/{_ref(ref, 'API Client')}"))

    def create_client(self, draft: ClientDraft) -> CreatedClient:
        data = self._call("POST", "/v1/api-clients", json=_client_body(draft))
        return self._parse(shapes.created_client_from_json, data)

    def update_client(self, ref: str | int, draft: ClientDraft, version: int) -> ApiClient:
        body = {**_client_body(draft), "version": version}
        return self._parse(_of(ApiClient), self._call("PUT", f"/v1/api-clients/{_ref(ref, 'API Client')}", json=body))

    def delete_client(self, ref: str | int) -> None:
        self._call("DELETE", f"/v1/api-clients/{_ref(ref, 'API Client')}")

    def roll_client(self, ref: str | int, keep_old_for: str | int | timedelta = DEFAULT_OVERLAP) -> CreatedClient:
        body = {"keep_old_for_seconds": _seconds(keep_old_for)}
        data = self._call("POST", f"/v1/api-clients/{_ref(ref, 'API Client')}/roll", json=body)
        return self._parse(shapes.created_client_from_json, data)

    def end_old_client(self, ref: str | int) -> ApiClient:
        path = f"/v1/api-clients/{_ref(ref, 'API Client')}/end-old"
        return self._parse(_of(ApiClient), self._call("POST", path))

    def list_tokens(self) -> list[RestrictedToken]:
        return self._list(_of(RestrictedToken), self._call("GET", "/v1/restricted-tokens"))

    def get_token(self, ref: str | int) -> RestrictedToken:
        path = f"/v1/restricted-tokens/{_ref(ref, 'Restricted Access Token')}"
        return self._parse(_of(RestrictedToken), self._call("GET", path))

    def create_token(self, draft: TokenDraft) -> CreatedToken:
        data = self._call("POST", "/v1/restricted-tokens", json=_token_body(draft))
        return self._parse(shapes.created_token_from_json, data)

    def update_token(self, ref: str | int, draft: TokenDraft, version: int) -> RestrictedToken:
        body = {**_token_body(draft), "version": version}
        path = f"/v1/restricted-tokens/{_ref(ref, 'Restricted Access Token')}"
        return self._parse(_of(RestrictedToken), self._call("PUT", path, json=body))

    def delete_token(self, ref: str | int) -> None:
        self._call("DELETE", f"/v1/restricted-tokens/{_ref(ref, 'Restricted Access Token')}")

    def roll_token(self, ref: str | int, keep_old_for: str | int | timedelta = DEFAULT_OVERLAP) -> CreatedToken:
        body = {"keep_old_for_seconds": _seconds(keep_old_for)}
        data = self._call("POST", f"/v1/restricted-tokens/{_ref(ref, 'Restricted Access Token')}/roll", json=body)
        return self._parse(shapes.created_token_from_json, data)

    def end_old_token(self, ref: str | int) -> RestrictedToken:
        path = f"/v1/restricted-tokens/{_ref(ref, 'Restricted Access Token')}/end-old"
        return self._parse(_of(RestrictedToken), self._call("POST", path))

    def audit_events(self, limit: int = 50, before: int | None = None, credential_type: str | None = None,
                     credential_id: int | None = None) -> list[AuditEvent]:
        asked = {"limit": limit, "before": before, "credential_type": credential_type, "credential_id": credential_id}
        params = {name: value for name, value in asked.items() if value is not None}
        return self._list(_of(AuditEvent), self._call("GET", "/v1/audit-events", params=params))

    def list_members(self) -> list[Member]:
        return self._list(_of(Member), self._call("GET", "/v1/members"))

    def add_member(self, email: str, role: str, can_manage_credentials: bool, display_name: str = "") -> Member:
        body = {
            "email": email,
            "role": role,
            "can_manage_credentials": bool(can_manage_credentials),
            "display_name": display_name,
        }
        return self._parse(_of(Member), self._call("POST", "/v1/members", json=body))

    def update_member(self, ref: str | int, role: str | None = None,
                      can_manage_credentials: bool | None = None) -> Member:
        body: dict[str, Any] = {}
        if role is not None:
            body["role"] = role
        if can_manage_credentials is not None:
            body["can_manage_credentials"] = bool(can_manage_credentials)
        return self._parse(_of(Member), self._call("PATCH", f"/v1/members/{_ref(ref, 'member')}", json=body))

    def remove_member(self, ref: str | int) -> None:
        self._call("DELETE", f"/v1/members/{_ref(ref, 'member')}")


# --- shapes on the wire ----------------------------------------------------------


def _ref(ref: str | int, kind: str) -> str:
    text = str(ref).strip()
    if not text:
        raise NotFound(f"No {kind} with an empty reference.")
    return quote(text, safe="")


def _entries(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


def _client_body(draft: ClientDraft) -> dict[str, Any]:
    return {
        "name": draft.name,
        "description": draft.description or "",
        "allowed_origins": _entries(draft.allowed_origins) or "",
        "expires": _expires(draft.expires),
    }


def _token_body(draft: TokenDraft) -> dict[str, Any]:
    return {"name": draft.name, "allowed_ips": _entries(draft.allowed_ips) or "", "expires": _expires(draft.expires)}


def _expires(value: str | datetime | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _seconds(value: str | int | timedelta) -> int:
    """The overlap as whole seconds, checked here as the service will (a bad value names itself)."""
    return int(validation.overlap(value).total_seconds())


def _fail(_data: Any) -> Any:
    raise TypeError("expected a list")


def _of(cls: type[T]) -> Callable[[Any], T]:
    return partial(shapes.from_json, cls)


def _retry_after(response: httpx.Response) -> int:
    value = response.headers.get("retry-after", "")
    return int(value) if value.isdigit() and int(value) < 3600 else 2
