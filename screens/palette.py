"""Textual's command palette, made safe for fast keys."""

from __future__ import annotations

from textual.command import CommandPalette

from turris_api.widgets.guard import ClosesOnce


class SafeCommandPalette(ClosesOnce, CommandPalette):
    """Closes once: in Textual 8.2.8 a second Enter that arrives before the palette has closed
    dismisses again, popping the screen beneath it (and then the app's last screen)."""
