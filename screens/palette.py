"""Textual's command palette, made safe for fast keys."""

from __future__ import annotations

from textual.await_complete import AwaitComplete
from textual.command import CommandPalette


async def _nothing() -> None:
    return None


class SafeCommandPalette(CommandPalette):
    """Closes once. In Textual 8.2.8 a second Enter that arrives before the palette has closed
    dismisses again, popping the screen beneath it (and then the app's last screen)."""

    def dismiss(self, result=None) -> AwaitComplete:
        if not self.is_active:  # already on its way out: the screen on top is someone else's
            return AwaitComplete(_nothing())
        return super().dismiss(result)
