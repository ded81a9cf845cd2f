"""Bearer authentication for the protected API (RFC 6750): API Client JWTs and Restricted Access Tokens."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import jwt

from turris_api.server.addresses import Address
from turris_api.server.keys import ALGORITHMS, KeyRing
from turris_api.server.oauth import origin_allowed
from turris_api.server.settings import ServiceSettings
from turris_api.store import crypto, validation
from turris_api.store.lru import VerifiedLru
from turris_api.store.models import VerifiedClient
from turris_api.store.verify import Verifier

REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "client_id", "jti"]
JWT_TYPES = frozenset({"at+jwt", "application/at+jwt"})
KID_MAX = 64
VERIFIED_JWT_CACHE_SIZE = 10_000
SUBSET_DECISIONS = 4_096  # (method, path) pairs whose restricted-subset decision is remembered
SUBSET_PATH_REMEMBERED = 256  # longer paths are judged every time, never kept


@dataclass(frozen=True)
class CheckedClaims:
    """What a JWT whose signature and claims checked out says; expiry is re-checked on every use."""

    client_id: str
    organization_id: object
    expires: float
    issued: float
    jti: str


@dataclass(frozen=True)
class Principal:
    """Who presented the credential, and the CORS headers their request has earned."""

    type: str  # api_client | restricted_token
    id: int  # the credential's internal id
    name: str
    client_id: str | None
    organization_id: int
    organization_name: str
    cors: dict[str, str]


class BearerRefused(Exception):
    """An RFC 6750 refusal: status, error code, a message, and the challenge to send."""

    def __init__(
        self, status: int, error: str | None, message: str, cors: dict[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.cors = cors or {}
        self.reason = reason  # which rule refused a 403: origin | ip | endpoint

    def headers(self) -> dict[str, str]:
        headers = {"Vary": "Origin", **self.cors}
        if self.status == 401 or self.error == "insufficient_scope":
            challenge = 'Bearer realm="turris"'
            if self.error:
                challenge += f', error="{self.error}"'
            headers["WWW-Authenticate"] = challenge
        return headers

    def body(self) -> dict[str, str]:
        body = {"error": self.error or "unauthorized", "message": self.message}
        if self.reason:
            body["reason"] = self.reason
        return body


@lru_cache(maxsize=4096)
def _address_allowed(address: str, allowed_ips: tuple[str, ...]) -> bool:
    """The store's rule, remembered per (address, list as stored now): a token is used from the
    same few addresses, and parsing its ranges on every request costs more than the lookup."""
    return validation.address_allowed(address, allowed_ips)


def _now() -> float:
    return time.time()


def _invalid(message: str = "The access token is invalid or expired.") -> BearerRefused:
    return BearerRefused(401, "invalid_token", message)


class Authenticator:
    def __init__(self, verifier: Verifier, keys: KeyRing, settings: ServiceSettings) -> None:
        self.verifier = verifier
        self.keys = keys
        self.settings = settings
        # Backends reuse one JWT for up to an hour, so steady-state requests skip the signature
        # check; the client row is still read on every request, so deletion stays effective at once.
        self.verified_jwts: VerifiedLru[CheckedClaims] = VerifiedLru(VERIFIED_JWT_CACHE_SIZE)
        self._subset_decisions: dict[tuple[str, str], bool] = {}

    def authenticate(
        self, headers: Mapping[str, str], address: Address | None, method: str, path: str, *, blocking: bool = True,
    ) -> Principal:
        """The caller at `address` (None: unknown, refused by IP rules), or BearerRefused. With
        blocking=False (an event loop calling), raises NeedsThread rather than hash; no check is skipped either way."""
        header = headers.get("authorization")
        if not header:
            raise BearerRefused(401, None, "This endpoint needs an Authorization: Bearer <token> header.")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(header) > self.settings.bearer_limit:
            raise _invalid("The Authorization header is not a Bearer token.")
        origin = headers.get("origin")
        if token.startswith(crypto.RESTRICTED_TOKEN_PREFIX):
            return self._restricted(token, origin, address, method, path, blocking)
        return self._jwt(token, origin)

    def _jwt(self, token: str, origin: str | None) -> Principal:
        _, client, allowed = self.jwt_client(token)
        cors: dict[str, str] = {}
        if origin is not None:
            if not origin_allowed(origin, allowed):
                raise BearerRefused(
                    403, "forbidden", f"Origin {validation.shown(origin)} is not in this API Client's Allowed Origins.",
                    reason="origin",
                )
            cors = {"Access-Control-Allow-Origin": origin}
        return Principal("api_client", client.id, client.name, client.client_id, client.organization_id,
                         client.organization_name, cors)

    def claims(self, token: str) -> CheckedClaims:
        """The JWT's checked claims (signature, issuer, audience, times), or BearerRefused; a
        token seen before skips the signature check but not the expiry."""
        digest = self.verified_jwts.digest(token)
        checked = self.verified_jwts.get(digest)
        if checked is None:
            checked = self._check_jwt(token)
            self.verified_jwts.remember(digest, checked)
        elif _now() >= checked.expires + self.settings.jwt_leeway:
            self.verified_jwts.forget(digest)
            raise _invalid()
        return checked

    def jwt_client(self, token: str) -> tuple[CheckedClaims, VerifiedClient, tuple[str, ...]]:
        """A JWT's claims and its client as stored now, with its Allowed Origins; BearerRefused if
        the client is gone or not active, the token was revoked or predates the client's not-before."""
        checked = self.claims(token)
        found = self.verifier.active_client_with_origins(checked.client_id, checked.jti)
        if found is None:
            raise _invalid("The API Client behind this token was deleted or is not active, or the token was revoked.")
        client, allowed = found
        if checked.organization_id != client.organization_id:
            raise _invalid()
        if client.not_before is not None and checked.issued < client.not_before:
            raise _invalid("The access token was issued before the API Client's last status change; get a new one.")
        return checked, client, allowed

    def _check_jwt(self, token: str) -> CheckedClaims:
        """The full RFC 9068 check: header, known key, signature, issuer, audience, times, claims."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid() from None
        kid = header.get("kid")
        if header.get("alg") not in ALGORITHMS or header.get("typ") not in JWT_TYPES:
            raise _invalid()
        if not isinstance(kid, str) or len(kid) > KID_MAX:
            raise _invalid()
        key = self.keys.public_key(kid)
        if key is None or header["alg"] != key.algorithm:  # the key decides the algorithm, never the token
            raise _invalid()
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.jwt_leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError:
            raise _invalid() from None
        client_id, organization, expires = claims["client_id"], claims.get("organization"), claims["exp"]
        issued, jti = claims["iat"], claims["jti"]
        if not isinstance(client_id, str) or claims["sub"] != client_id or not isinstance(organization, dict):
            raise _invalid()
        if not isinstance(expires, int | float) or not isinstance(issued, int | float) or not isinstance(jti, str):
            raise _invalid()
        return CheckedClaims(client_id, organization.get("id"), float(expires), float(issued), jti)

    def _in_restricted_subset(self, method: str, path: str) -> bool:
        """Whether the subset's rules admit `method path`; remembered (bounded), as the rules are fixed."""
        key = (method, path)
        found = self._subset_decisions.get(key)
        if found is None:
            found = any(rule.matches(method, path) for rule in self.settings.restricted_endpoints)
            if len(path) <= SUBSET_PATH_REMEMBERED:
                if len(self._subset_decisions) >= SUBSET_DECISIONS:
                    self._subset_decisions.clear()
                self._subset_decisions[key] = found
        return found

    def _restricted(
        self, token: str, origin: str | None, address: Address | None, method: str, path: str, blocking: bool = True,
    ) -> Principal:
        shown = None if address is None else str(address)
        found = self.verifier.verify_restricted_token(token, blocking=blocking, address=shown)
        if found is None:
            raise _invalid("The Restricted Access Token is unknown, expired or was deleted.")
        if shown is None or not _address_allowed(shown, found.allowed_ips):
            raise BearerRefused(
                403, "forbidden", f"Requests from {shown or 'this address'} are not in this token's Allowed IPs.",
                reason="ip",
            )
        # Restricted tokens carry no origin list: any page may read what the IP rule let through.
        cors = {"Access-Control-Allow-Origin": origin} if origin is not None else {}
        if not self._in_restricted_subset(method, path):
            raise BearerRefused(403, "insufficient_scope",
                                "Restricted Access Tokens reach only a small subset of endpoints; use an API Client.",
                                cors, reason="endpoint")
        return Principal("restricted_token", found.id, found.name, None, found.organization_id, found.organization_name, cors)
