"""Turning what a person typed into clean values, or an error that names the field and the value."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from turris_api.store.errors import Invalid
from turris_api.store.models import CLIENT_STATUSES

NAME_MAX = 100
DESCRIPTION_MAX = 500
ENTRY_MAX = 255
# Bidi embeddings, overrides and isolates can make text lie about itself on screen.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
ZWJ = "\u200d"
EMOJI_MODIFIERS = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))  # skin tones
DEFAULT_PORTS = {"http": 80, "https": 443}
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
TOKEN_LIFETIME_MIN = timedelta(days=1)
TOKEN_LIFETIME_MAX = timedelta(days=365)


def shown(value: str, limit: int = 40) -> str:
    """A value quoted for an error message, escaped so it cannot drive the terminal, and cut short."""
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    if _unsafe(text):
        text = text.encode("unicode_escape").decode("ascii")
    return f'"{text}"'


def printable(value: str) -> str:
    """`value` as the app and the CLI show it: control, bidi and invisible format characters written out
    as escapes (a `Prod\\u200bLoader` must not look like `ProdLoader`); a zero-width joiner inside an
    emoji sequence stays, so it renders joined."""
    if value.isprintable():  # fast path; bidi controls are format characters, so not printable
        return value
    return "".join(
        ch if ch == " " or (ch.isprintable() and ch not in BIDI_CONTROLS) or _joins_emoji(value, i)
        else ch.encode("unicode_escape").decode("ascii")
        for i, ch in enumerate(value)
    )


def _joins_emoji(text: str, i: int) -> bool:
    """A U+200D between two pictographs (skin tones and variation selectors may follow the first)."""
    if text[i] != ZWJ or i == 0 or i + 1 >= len(text):
        return False
    before = text[i - 1]
    j = i - 1
    while j > 0 and (before in EMOJI_MODIFIERS or unicodedata.category(before) == "Mn"):
        j -= 1
        before = text[j]
    return unicodedata.category(before) == "So" and unicodedata.category(text[i + 1]) == "So"


def _unsafe(text: str) -> bool:
    return any(_is_control(ch) for ch in text)


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs") or ch in BIDI_CONTROLS


def _plain_text(field: str, label: str, value: str, *, maximum: int, required: bool) -> str:
    if not isinstance(value, str):
        raise Invalid(field, f"{label} must be text.")
    text = value.strip()
    if required and not text:
        raise Invalid(field, f"{label} is required.", value)
    if len(text) > maximum:
        raise Invalid(field, f"{label} is {len(text)} characters long; at most {maximum} are allowed.", value[:maximum])
    bad = next((ch for ch in text if _is_control(ch)), None)
    if bad is not None:
        raise Invalid(field, f"{label} {shown(text)} contains the control character U+{ord(bad):04X}.", text)
    return text


def name(value: str, label: str = "Name", field: str = "name") -> str:
    return _plain_text(field, label, value, maximum=NAME_MAX, required=True)


def description(value: str | None) -> str:
    return _plain_text("description", "Description", value or "", maximum=DESCRIPTION_MAX, required=False)


def _entries(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def origin(entry: str) -> str:
    """One serialized web origin, scheme://host[:port], normalized the way browsers send it."""
    field = "allowed_origins"
    if len(entry) > ENTRY_MAX or _unsafe(entry):
        raise Invalid(field, f"{shown(entry)} is not an http(s) origin.", entry)
    try:
        parts = urlsplit(entry)
        port = parts.port
    except ValueError:
        raise Invalid(field, f"{shown(entry)} is not an http(s) origin: its port or host is malformed.", entry) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc:
        raise Invalid(field, f"{shown(entry)} is not an http(s) origin.", entry)
    if parts.username is not None or parts.password is not None:
        raise Invalid(field, f"{shown(entry)} is not an origin: it carries user information.", entry)
    if parts.path not in ("", "/") or parts.query or parts.fragment or entry.rstrip().endswith(("?", "#")):
        raise Invalid(field, f"{shown(entry)} is not an origin: remove the path, query or fragment.", entry)
    host = parts.hostname or ""
    if not host or "*" in host:
        raise Invalid(field, f"{shown(entry)} is not an origin: wildcards are not allowed, list each origin.", entry)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        host = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    else:
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise Invalid(field, f"{shown(entry)} is not an origin: its host name is not valid.", entry) from None
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?", host):
            raise Invalid(field, f"{shown(entry)} is not an origin: its host name is not valid.", entry)
    if port is not None and port != DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def origins(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Comma-separated origins; duplicates collapse, order kept, empty allowed."""
    return tuple(dict.fromkeys(origin(entry) for entry in _entries(value)))


def ip_entry(entry: str) -> str:
    """One IPv4/IPv6 address or CIDR range; IPv4-mapped IPv6 becomes plain IPv4."""
    field = "allowed_ips"
    if len(entry) > ENTRY_MAX or "%" in entry:
        raise Invalid(field, f"{shown(entry)} is not an IP address or CIDR range.", entry)
    try:
        if "/" in entry:
            network = ipaddress.ip_network(entry, strict=True)
        else:
            network = ipaddress.ip_network(ipaddress.ip_address(entry))
    except ValueError as err:
        if "/" in entry and "has host bits set" in str(err):
            suggestion = ipaddress.ip_network(entry, strict=False)
            raise Invalid(field, f"{shown(entry)} has host bits set; did you mean {suggestion}?", entry) from None
        raise Invalid(field, f"{shown(entry)} is not an IP address or CIDR range.", entry) from None
    if isinstance(network, ipaddress.IPv6Network):
        mapped = network.network_address.ipv4_mapped
        if mapped is not None and network.prefixlen >= 96:
            network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
    if network.num_addresses == 1:
        return network.network_address.compressed
    return network.compressed


def ips(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Comma-separated addresses or ranges; at least one; duplicates collapse, order kept."""
    result = tuple(dict.fromkeys(ip_entry(entry) for entry in _entries(value)))
    if not result:
        raise Invalid("allowed_ips", "Allowed IP Addresses needs at least one IP address or range.", "")
    return result


def status(value: str) -> str:
    text = (value or "").strip().lower()
    if text not in CLIENT_STATUSES:
        raise Invalid("status", f"Status {shown(value)} is not one of: {', '.join(CLIENT_STATUSES)}.", value)
    return text


def email(value: str) -> str:
    text = (value or "").strip()
    if len(text) > 254 or not EMAIL_RE.fullmatch(text):
        raise Invalid("email", f"{shown(text)} is not an email address.", text)
    return text.lower()


def role(value: str) -> str:
    text = (value or "").strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", text):
        raise Invalid("role", f"Role {shown(value)} must be a short word such as admin, developer or member.", value)
    return text


def address_allowed(peer: str, allowed: Sequence[str]) -> bool:
    """Whether a peer address falls in any allowed address or range (mapped IPv6 as IPv4)."""
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(entry):
                return True
        except ValueError:
            continue
    return False


def token_lifetime(value: str | timedelta) -> timedelta:
    """A member token's lifetime: a timedelta, or text such as 30d, 12w or 48h; 1 day to 365 days."""
    if isinstance(value, timedelta):
        lifetime, text = value, f"{value.total_seconds() / 86400:g}d"
    else:
        text = (value or "").strip().lower()
        found = re.fullmatch(r"([0-9]{1,6})\s*([hdw])", text)
        if found is None:
            raise Invalid("expires_in", f"Lifetime {shown(str(value))} is not a number of days, weeks or hours "
                          "such as 30d, 12w or 48h.", str(value))
        unit = {"h": "hours", "d": "days", "w": "weeks"}[found.group(2)]
        lifetime = timedelta(**{unit: int(found.group(1))})
    if not TOKEN_LIFETIME_MIN <= lifetime <= TOKEN_LIFETIME_MAX:
        raise Invalid("expires_in", f"Lifetime {shown(text)} must be between 1 day (1d) and 365 days (365d).", text)
    return lifetime


OVERLAP_MAX = timedelta(days=30)
LIFETIME_MAX = timedelta(days=3650)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(value: str | int | timedelta, field: str, label: str, maximum: timedelta,
             minimum: timedelta = timedelta(0)) -> timedelta:
    """A duration: a timedelta, whole seconds, or text such as 0, 30m, 24h or 7d, within bounds."""
    if isinstance(value, timedelta):
        found, text = value, f"{value.total_seconds():g}s"
    elif isinstance(value, int) and not isinstance(value, bool):
        found, text = timedelta(seconds=value) if -10**9 < value < 10**9 else maximum * 2, f"{value}s"
    else:
        text = str(value or "").strip().lower()
        match = re.fullmatch(r"([0-9]{1,6})\s*([smhdw]?)", text)
        if match is None or (not match.group(2) and match.group(1).strip("0")):
            raise Invalid(field, f"{label} {shown(str(value))} is not a duration such as 30m, 24h or 7d.", str(value))
        found = timedelta(**{_UNITS[match.group(2) or "s"]: int(match.group(1))})
    if not minimum <= found <= maximum:
        raise Invalid(field, f"{label} {shown(text)} must be between {_span(minimum)} and {_span(maximum)}.", text)
    return found


def overlap(value: str | int | timedelta) -> timedelta:
    """How long a rolled credential's previous value keeps working: 0 (ends now) to 30 days."""
    return duration(value, "keep_old_for", "Keep old for", OVERLAP_MAX)  # the roll form's label


def expiry(value: str | datetime | None, now: datetime) -> datetime | None:
    """When a credential stops working: None (never), a duration from now (90d), a date (the end of
    that day, UTC) or an ISO 8601 time; in the future, at most ten years away."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = value.strip()
        if re.fullmatch(r"[0-9]{1,6}\s*[mhdw]", text.lower()):
            moment = now + duration(text, "expires", "Expiry", LIFETIME_MAX, timedelta(minutes=1))
        else:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise Invalid("expires", f"Expiry {shown(text)} is neither a date (2027-03-31) nor a duration "
                              "such as 90d.", text) from None
            if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
                moment = moment.replace(hour=23, minute=59, second=59)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment <= now:
        raise Invalid("expires", f"Expiry {moment:%Y-%m-%d %H:%M} UTC is in the past.", str(value))
    if moment - now > LIFETIME_MAX:
        raise Invalid("expires", f"Expiry {moment:%Y-%m-%d} is more than ten years away.", str(value))
    return moment


def max_lifetime(value: str | int | timedelta | None) -> int | None:
    """An organization's cap on credential lifetimes, in whole days (1d to 3650d); None lifts it."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    found = duration(value, "max_lifetime", "Maximum lifetime", LIFETIME_MAX, timedelta(days=1))
    if found % timedelta(days=1):
        raise Invalid("max_lifetime", f"Maximum lifetime {shown(str(value))} must be whole days, e.g. 365d.",
                      str(value))
    return found.days


def _span(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
