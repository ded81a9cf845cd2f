"""Origins and IP lists: what people type, what the store keeps, and errors that name the entry."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from turris_api.store import validation
from turris_api.store.errors import Invalid


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("https://app.example.com", ("https://app.example.com",)),
        ("  HTTPS://App.Example.COM:443 ,http://localhost:3000/ ", ("https://app.example.com", "http://localhost:3000")),
        ("http://example.com:80, http://example.com", ("http://example.com",)),
        ("https://bücher.example", ("https://xn--bcher-kva.example",)),
        ("http://[::1]:8080, http://127.0.0.1:8080", ("http://[::1]:8080", "http://127.0.0.1:8080")),
        ("", ()),
        (" , ,", ()),
    ],
)
def test_origins_are_normalized_the_way_browsers_send_them(typed, kept):
    assert validation.origins(typed) == kept


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("ftp://x", '"ftp://x" is not an http(s) origin'),
        ("app.example.com", '"app.example.com" is not an http(s) origin'),
        ("https://app.example.com/path", "remove the path"),
        ("https://app.example.com?q=1", "remove the path, query or fragment"),
        ("https://app.example.com#top", "remove the path, query or fragment"),
        ("https://user:pw@app.example.com", "user information"),
        ("https://*.example.com", "wildcards are not allowed"),
        ("*", "is not an http(s) origin"),
        ("null", "is not an http(s) origin"),
        ("https://app.example.com:99999", "port or host is malformed"),
        ("https://exa mple.com", "host name is not valid"),
        ("https://a.example\x1b[2J", "\\x1b"),
    ],
)
def test_a_bad_origin_is_named_in_the_error(typed, says):
    with pytest.raises(Invalid) as err:
        validation.origins(f"https://fine.example, {typed}")
    assert err.value.field == "allowed_origins"
    assert says in str(err.value)
    assert "\x1b" not in str(err.value)


hosts = st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z][a-z0-9]{0,10}){0,3}", fullmatch=True)


@given(scheme=st.sampled_from(["http", "https", "HTTP", "Https"]), host=hosts,
       port=st.one_of(st.none(), st.integers(1, 65535)), upper=st.booleans(), slash=st.booleans())
def test_any_valid_origin_normalizes_idempotently_and_keeps_its_meaning(scheme, host, port, upper, slash):
    typed = f"{scheme}://{host.upper() if upper else host}{f':{port}' if port else ''}{'/' if slash else ''}"
    kept = validation.origin(typed)
    assert validation.origin(kept) == kept
    parts = urlsplit(kept)
    assert parts.scheme == scheme.lower() and parts.hostname == host and parts.path == ""
    default = 80 if scheme.lower() == "http" else 443
    assert parts.port == (None if port in (None, default) else port)


@given(st.lists(st.ip_addresses(), min_size=1, max_size=8))
def test_any_address_list_is_kept_deduplicated_and_still_admits_each_address(addresses):
    kept = validation.ips(", ".join(str(a) for a in addresses))
    assert len(kept) == len(set(kept))
    for address in addresses:
        assert validation.address_allowed(str(address), kept)
    assert validation.ips(kept) == kept


@given(st.ip_addresses(v=4))
def test_ipv4_mapped_ipv6_counts_as_its_ipv4(address):
    assert validation.ips(f"::ffff:{address}") == (str(address),)
    assert validation.address_allowed(f"::ffff:{address}", (str(address),))


@given(st.ip_addresses(v=4), st.integers(8, 32))
def test_ranges_admit_their_members_only(address, prefix):
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    kept = validation.ips(str(network))
    assert validation.address_allowed(str(network.network_address), kept)
    assert validation.address_allowed(str(network.broadcast_address), kept)
    outside = network.broadcast_address + 1 if network.broadcast_address < ipaddress.ip_address("255.255.255.255") else None
    if outside is not None:
        assert not validation.address_allowed(str(outside), kept)


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("300.1.1.1", '"300.1.1.1" is not an IP address or CIDR range'),
        ("10.0.0.1/24", '"10.0.0.1/24" has host bits set; did you mean 10.0.0.0/24?'),
        ("example.com", '"example.com" is not an IP address'),
        ("fe80::1%eth0", '"fe80::1%eth0" is not an IP address'),
        ("10.0.0.0/33", '"10.0.0.0/33" is not an IP address'),
    ],
)
def test_a_bad_ip_entry_is_named_in_the_error(typed, says):
    with pytest.raises(Invalid) as err:
        validation.ips(f"10.0.0.1, {typed}")
    assert err.value.field == "allowed_ips" and says in str(err.value)


def test_an_ip_list_needs_at_least_one_entry():
    with pytest.raises(Invalid, match="at least one"):
        validation.ips(" , ")


@given(st.text(min_size=1, max_size=100).filter(lambda s: s.strip()))
def test_names_are_kept_verbatim_unless_they_carry_control_characters(text):
    has_control = any(validation._is_control(ch) for ch in text.strip())
    if has_control:
        with pytest.raises(Invalid):
            validation.name(text)
    else:
        assert validation.name(text) == text.strip()


@pytest.mark.parametrize("evil", ["a\x1b[2Jb", "pay\u202egnp.exe", "nul\x00l", "tab\tbed"])
def test_names_that_could_drive_a_terminal_or_lie_about_themselves_are_refused(evil):
    with pytest.raises(Invalid) as err:
        validation.name(evil, "Client Name")
    assert "Client Name" in str(err.value)
    assert not any(validation._is_control(ch) for ch in str(err.value))


def test_sql_looking_names_are_just_text():
    assert validation.name("'; DROP TABLE api_clients;--") == "'; DROP TABLE api_clients;--"
