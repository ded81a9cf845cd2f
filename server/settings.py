"""How one service instance is configured. Every instance on one database should agree on these."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from turris_api.server.keys import ACCESS_TOKEN_LIFETIME, ALGORITHM
from turris_api.store.errors import Invalid
from turris_api.store.validation import shown

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_RESTRICTED_ENDPOINTS = ("GET /v1/whoami",)
DEFAULT_AUDIENCE = "turris-api"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*"})


@dataclass(frozen=True)
class EndpointRule:
    """One entry of the restricted endpoint subset: a method (or *) and a path pattern.

    In the pattern `*` matches within one path segment and a trailing `/**` any rest, so
    `GET /v1/policies/*` reaches `/v1/policies/42` but not `/v1/policies/42/delete`. GET
    also admits HEAD, which reads the same thing.
    """

    method: str
    pattern: str
    regex: re.Pattern

    def matches(self, method: str, path: str) -> bool:
        method = method.upper()
        if self.method != "*" and method != self.method and not (method == "HEAD" and self.method == "GET"):
            return False
        return self.regex.fullmatch(path) is not None


def endpoint_rule(entry: str) -> EndpointRule:
    """`METHOD /path/pattern`, or a bare path (meaning GET, as the subset was before methods)."""
    text = entry.strip()
    method, _, pattern = text.partition(" ")
    if not pattern:
        method, pattern = "GET", method
    method, pattern = method.strip().upper(), pattern.strip()
    if method not in METHODS or not pattern.startswith("/") or " " in pattern:
        raise Invalid("restricted_endpoints", f"{shown(text)} is not `METHOD /path` (e.g. `GET /v1/policies/*`).", text)
    rest = pattern
    if rest.endswith("/**"):
        rest, tail = rest[:-3], "(?:/.*)?"
    else:
        tail = ""
    regex = "".join("[^/]*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", rest)) + tail
    return EndpointRule(method, pattern, re.compile(regex))


def endpoint_rules(entries: Iterable[str]) -> tuple[EndpointRule, ...]:
    return tuple(endpoint_rule(e) for e in entries if e.strip())


def parse_networks(entries: Iterable[str], field_name: str = "trusted_proxy") -> tuple[Network, ...]:
    """CIDR ranges or single addresses, e.g. for --trusted-proxy; a bad one names itself."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise Invalid(field_name, f"{shown(str(entry))} is not an IP address or CIDR range.", str(entry)) from None
    return tuple(networks)


@dataclass(frozen=True)
class ServiceSettings:
    """Issuer and audience go into every JWT; several instances behind one balancer must share them."""

    issuer: str = "http://127.0.0.1:8000"
    audience: str = DEFAULT_AUDIENCE
    trusted_proxies: tuple[Network, ...] = ()
    restricted_endpoints: tuple[EndpointRule, ...] = endpoint_rules(DEFAULT_RESTRICTED_ENDPOINTS)
    token_lifetime: int = ACCESS_TOKEN_LIFETIME
    token_body_limit: int = 4 * 1024  # bytes; /oauth/token answers 413 above this, before any hashing
    body_limit: int = 64 * 1024  # bytes; every other endpoint
    bearer_limit: int = 8 * 1024  # characters of an Authorization header we bother to parse
    throttle_window: int = 60  # seconds
    throttle_per_client_ip: int = 10  # failed token requests for one Client ID from one address per window
    throttle_per_ip: int = 50  # failed token requests from one address per window, any Client ID
    jwt_leeway: int = 10  # seconds of clock skew tolerated between instances
    algorithm: str = ALGORITHM  # JWT signing: EdDSA, or ES256 for gateways that lack EdDSA
    # Encrypts signing keys at rest (AES-256-GCM); None stores new keys in plaintext (with a warning).
    at_rest_key: bytes | None = field(default=None, repr=False)
    passphrase: bytes | None = field(default=None, repr=False)  # opens keys stored under a passphrase
    previous_at_rest_key: bytes | None = field(default=None, repr=False)  # opens keys while it is rotated out
    metrics_multiprocess: bool = False  # several workers share prometheus_client's multiprocess files
