"""User-typed text made safe to show: never markup, never terminal control."""

from __future__ import annotations

from rich.text import Text

from turris_api.store.validation import printable


def inert(value: str, style: str = "") -> Text:
    """A rich Text that shows `value` literally: brackets are not markup, escapes are not sent."""
    return Text(printable(value), style=style, end="", no_wrap=True, overflow="ellipsis")


def masked(last4: str) -> Text:
    """A secret shown only by its last four characters, as the seed does: ••••3f9a."""
    return inert(f"••••{last4}")
