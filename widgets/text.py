"""User-typed text made safe to show: never markup, never terminal control."""

from __future__ import annotations

import unicodedata

from rich.text import Text

# Bidi embeddings, overrides and isolates can make text lie about itself on screen.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(value: str) -> str:
    """`value` with control and bidi characters written out as escapes (\\x1b stays visible, inert)."""
    if value.isprintable():  # fast path; bidi controls are format characters, so not printable
        return value
    return "".join(
        ch if ch == " " or (ch.isprintable() and ch not in _BIDI and unicodedata.category(ch) != "Cf")
        else ch.encode("unicode_escape").decode("ascii")
        for ch in value
    )


def inert(value: str, style: str = "") -> Text:
    """A rich Text that shows `value` literally: brackets are not markup, escapes are not sent."""
    return Text(printable(value), style=style, end="", no_wrap=True, overflow="ellipsis")


def masked(last4: str) -> Text:
    """A secret shown only by its last four characters, as the seed does: ••••3f9a."""
    return inert(f"••••{last4}")
