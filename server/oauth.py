"""The token endpoint: OAuth 2.0 client credentials (RFC 6749 4.4) issuing RFC 9068 JWTs."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from urllib.parse import parse_qsl, unquote_plus

import jwt

from turris_api.server import logs, metrics
from turris_api.server.addresses import Address
from turris_api.server.keys import KeyRing
from turris_api.server.settings import ServiceSettings
from turris_api.server.throttle import TokenThrottle
from turris_api.store import validation
from turris_api.store.errors import StoreError, Unavailable
from turris_api.store.models import VerifiedClient
from turris_api.store.verify import Verifier, match_secret

FORM = "application/x-www-form-urlencoded"
CLIENT_ID_MAX = 128
SECRET_MAX = 256
MAX_FIELDS = 16
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
Runner = Callable[..., Awaitable]  # async (work, *args) -> work(*args), run where the service chooses


class TokenReply:
    """A finished answer: status, JSON body and headers, ready for any framework to send."""

    __slots__ = ("status", "body", "headers", "error")

    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = json.dumps(body).encode("utf-8")
        self.headers = {**NO_STORE, **(headers or {})}
        self.error: str | None = body.get("error")  # the OAuth error code, for metrics and the log


def oauth_error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> TokenReply:
    return TokenReply(status, {"error": code, "error_description": description}, headers)


class Refused(Exception):
    """A finished OAuth error answer, raised from deep inside a check."""

    def __init__(self, reply: TokenReply) -> None:
        self.reply = reply


def guarded(answer: Callable[..., TokenReply], *args) -> TokenReply:
    """`answer(*args)`, with refusals and store failures turned into OAuth error answers."""
    try:
        return answer(*args)
    except (Refused, StoreError) as err:
        return refusal(err)


def refusal(err: Refused | StoreError) -> TokenReply:
    """The OAuth error answer for a refusal or a store failure."""
    if isinstance(err, Refused):
        return err.reply
    if isinstance(err, Unavailable):
        metrics.child(metrics.STORE_ERRORS, "unavailable").inc()
        return oauth_error(503, "temporarily_unavailable", err.message, {"Retry-After": str(err.retry_after)})
    metrics.child(metrics.STORE_ERRORS, type(err).__name__.lower()).inc()
    return oauth_error(500, "server_error", err.message)


def _refuse(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> Refused:
    return Refused(oauth_error(status, code, description, headers))


class TokenIssuer:
    def __init__(self, verifier: Verifier, keys: KeyRing, settings: ServiceSettings) -> None:
        self.verifier = verifier
        self.keys = keys
        self.settings = settings
        self.throttle = TokenThrottle(settings.throttle_per_client_ip, settings.throttle_per_ip, settings.throttle_window)

    async def answer(self, headers: Mapping[str, str], body: bytes, address: Address | None, *,
                     lookup: Runner, hashing: Runner) -> TokenReply:
        """Everything cheap is checked first; the one argon2 verification comes last.

        `lookup(work, *args)` runs the store read, `hashing(work, *args)` the argon2 step: the
        service runs each where it costs least (service.Service.lookup and .hashing).
        """
        try:
            reply = await self._answer(headers, body, address, lookup, hashing)
        except (Refused, StoreError) as err:
            reply = refusal(err)
        if reply.status == 200:
            metrics.TOKENS_ISSUED.inc()
        else:
            metrics.child(metrics.TOKENS_REFUSED, reply.error or "other").inc()
            if reply.status not in (401, 429):  # those two are logged where they happen, with their reason
                logs.security_event("token_refused", status=reply.status, error=reply.error)
        return reply

    async def _answer(self, headers: Mapping[str, str], body: bytes, address: Address | None,
                      lookup: Runner, hashing: Runner) -> TokenReply:
        params = _form(headers, body)
        client_id, secret, challenge = client_credentials(headers, params)

        grant_type = params.get("grant_type")
        if not grant_type:
            raise _refuse(400, "invalid_request", "grant_type is missing; use grant_type=client_credentials.")
        if grant_type != "client_credentials":
            raise _refuse(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported.")
        if params.get("scope", "").strip():
            raise _refuse(400, "invalid_scope", "This service defines no scopes; leave scope out.")
        self._before_hashing(client_id, secret, challenge, address)
        check = await hashing(match_secret, await lookup(self.verifier.client_secret_check, client_id), secret)
        client = self._judged(self.verifier.accept_client(check), client_id, challenge, address)
        cors = _browser_check(check.allowed_origins, headers.get("origin"))
        return TokenReply(
            200,
            {"access_token": self.sign(client), "token_type": "Bearer", "expires_in": self.settings.token_lifetime},
            cors,
        )

    def authenticated(
        self, headers: Mapping[str, str], body: bytes, address: Address | None
    ) -> tuple[VerifiedClient, dict[str, str]]:
        """The API Client calling an endpoint that takes client authentication as /oauth/token does
        (introspection, revocation), and the form it sent; raises Refused."""
        params = _form(headers, body)
        client_id, secret, challenge = client_credentials(headers, params)
        return self.verify(client_id, secret, challenge, address), params

    def verify(self, client_id: str | None, secret: str | None, challenge: dict[str, str] | None,
               address: Address | None) -> VerifiedClient:
        """Cheap checks and the throttle first; the one argon2 verification last."""
        self._before_hashing(client_id, secret, challenge, address)
        return self._judged(self.verifier.verify_client(client_id, secret), client_id, challenge, address)

    def _before_hashing(self, client_id: str | None, secret: str | None, challenge: dict[str, str] | None,
                        address: Address | None) -> None:
        """Refused before any argon2 work: credentials missing or malformed, or the caller throttled."""
        logs.note_credential(client_id if client_id and len(client_id) <= CLIENT_ID_MAX
                             and client_id.isprintable() else None)
        if not client_id or not secret:
            logs.security_event("client_authentication_failed", reason="missing_credentials")
            raise _refuse(401, "invalid_client", "Send the Client ID and Client Secret (HTTP Basic or in the body).",
                          challenge)
        # No real Client ID or secret holds a control character; PostgreSQL would refuse a NUL outright.
        if len(client_id) > CLIENT_ID_MAX or len(secret) > SECRET_MAX or not (client_id + secret).isprintable():
            logs.security_event("client_authentication_failed", reason="malformed_credentials")
            raise _refuse(401, "invalid_client", "Client authentication failed.", challenge)

        wait = self.throttle.retry_after(client_id, address)
        if wait:
            logs.security_event("throttled", retry_after=wait)
            raise _refuse(429, "slow_down", f"Too many failed attempts; try again in {wait} seconds.",
                          {"Retry-After": str(wait)})

    def _judged(self, client: VerifiedClient | None, client_id: str, challenge: dict[str, str] | None,
                address: Address | None) -> VerifiedClient:
        """The verification's outcome, counted by the throttle; a failure raised as invalid_client."""
        if client is None:
            self.throttle.failed(client_id, address)
            logs.security_event("client_authentication_failed", reason="unknown_client_or_wrong_secret")
            raise _refuse(401, "invalid_client", "Client authentication failed.", challenge)
        self.throttle.succeeded(client_id, address)
        return client

    def probe_signing(self) -> None:
        """Sign a throwaway token with the current key now (the readiness check); raises Unavailable."""
        key = self.keys.signing_key(fresh=True)
        try:
            jwt.encode({"probe": True}, key.private_key, algorithm=key.algorithm)
        except Exception as err:  # noqa: BLE001 (any failure to sign means not ready)
            raise Unavailable("The current signing key cannot sign.", retry_after=5) from err

    def sign(self, client: VerifiedClient, now: int | None = None) -> str:
        issued = int(time.time()) if now is None else now
        if client.not_before is not None:  # dated no earlier, or the client's own not-before refuses it
            issued = max(issued, client.not_before)
        key = self.keys.signing_key()
        claims = {
            "iss": self.settings.issuer,
            "sub": client.client_id,
            "client_id": client.client_id,
            "aud": self.settings.audience,
            "iat": issued,
            "exp": issued + self.settings.token_lifetime,
            "jti": secrets.token_urlsafe(16),
            "organization": {"id": client.organization_id, "name": client.organization_name},
        }
        return jwt.encode(claims, key.private_key, algorithm=key.algorithm,
                          headers={"kid": key.kid, "typ": "at+jwt"})


def _browser_check(allowed: tuple[str, ...], origin: str | None) -> dict[str, str] | None:
    """A browser asking for a token is held to the client's Allowed Origins, as on the API."""
    if origin is None:
        return None
    if not origin_allowed(origin, allowed):
        # RFC 6749 5.2: errors other than a failed client authentication are 400s.
        raise _refuse(400, "invalid_request",
                      f"Origin {validation.shown(origin)} is not in this API Client's Allowed Origins.",
                      {"Vary": "Origin"})
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    """An empty list accepts any origin (the seed's behaviour); otherwise the normalized origin must be listed."""
    if not allowed:
        return True
    normalized = _normalized_origin(origin)
    return normalized is not None and normalized in allowed


@lru_cache(maxsize=4096)
def _normalized_origin(origin: str) -> str | None:
    """The store's normalization, remembered: browsers send the same few origins again and again."""
    try:
        return validation.origin(origin)
    except StoreError:
        return None


def client_credentials(headers: Mapping[str, str], params: dict[str, str]) -> tuple[str | None, str | None, dict | None]:
    """client_secret_basic or client_secret_post (never both): Client ID, secret, and the
    challenge a 401 should carry."""
    basic = _basic_credentials(headers.get("authorization"))
    if basic is not None and "client_secret" in params:
        raise _refuse(400, "invalid_request", "Authenticate with HTTP Basic or with client_secret in the body, not both.")
    if basic is not None:
        client_id, secret = basic
        if "client_id" in params and params["client_id"] != client_id:
            raise _refuse(400, "invalid_request", "client_id in the body differs from the one in the Basic header.")
    else:
        client_id, secret = params.get("client_id"), params.get("client_secret")
    challenge = {"WWW-Authenticate": 'Basic realm="turris", charset="UTF-8"'} if basic is not None else None
    return client_id, secret, challenge


def _form(headers: Mapping[str, str], body: bytes) -> dict[str, str]:
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM:
        raise _refuse(400, "invalid_request", f"Send the parameters as {FORM}.")
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise _refuse(400, "invalid_request", "The form body is not valid URL-encoded UTF-8.") from None
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise _refuse(400, "invalid_request", f"Parameter {validation.shown(key)} appears more than once.")
        params[key] = value
    return params


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """HTTP Basic with the form-urlencoding of RFC 6749 2.3.1, or None when no Authorization was sent."""
    if header is None:
        return None
    malformed = _refuse(401, "invalid_client", "The Authorization header is not valid HTTP Basic.",
                        {"WWW-Authenticate": 'Basic realm="turris", charset="UTF-8"'})
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        logs.security_event("client_authentication_failed", reason="malformed_basic_header")
        raise malformed
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise ValueError("no colon")
        return unquote_plus(client_id, errors="strict"), unquote_plus(secret, errors="strict")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        logs.security_event("client_authentication_failed", reason="malformed_basic_header")
        raise malformed from None
