"""Who is on the other end: the socket peer, or what trusted proxies say about it."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from functools import lru_cache

from turris_api.server.settings import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
log = logging.getLogger("server")
_warned_untrusted_forwarding = False


def parse_address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


HOP_CACHED_MAX = 45  # the longest textual IPv6 address: longer header text is parsed, never remembered


@lru_cache(maxsize=4096)  # socket peers and a proxy's X-Forwarded-For hops repeat
def _known_address(text: str) -> Address | None:
    return parse_address(text)


def _address(text: str) -> Address | None:
    return _known_address(text) if len(text) <= HOP_CACHED_MAX else parse_address(text)


@lru_cache(maxsize=4096)
def _trusted(address: Address, proxies: tuple[Network, ...]) -> bool:
    return any(address in network for network in proxies)


def client_address(peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]) -> Address | None:
    """The client's address: X-Forwarded-For is read right to left only while the hop is a trusted proxy.

    None when the peer is unknown or a trusted proxy forwarded something that is not an address,
    so the caller refuses rather than guesses.
    """
    proxies = tuple(proxies)
    address = _address(peer) if peer else None
    if address is None or not proxies or not _trusted(address, proxies):
        if forwarded_for and address is not None:
            _warn_untrusted_forwarding(address)
        return address
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        if not hop.strip():
            continue
        address = _address(hop)
        if address is None or not _trusted(address, proxies):
            return address
    return address


def _warn_untrusted_forwarding(peer: Address) -> None:
    """Once per process: a proxy we were not told about makes every client look like one address."""
    global _warned_untrusted_forwarding
    if _warned_untrusted_forwarding:
        return
    _warned_untrusted_forwarding = True
    log.warning("A request came with X-Forwarded-For from %s, which is not a trusted proxy: its header is "
                "ignored and the proxy's address is taken as the client's. Behind a proxy without "
                "--trusted-proxy?", peer)
