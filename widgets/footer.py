"""Textual's Footer, rebuilt once per burst of binding changes."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter

from turris_api.widgets.guard import while_attached


class Footer(TextualFooter):
    """Textual's Footer rebuilds all its keys on every binding change; opening a screen changes focus
    and bindings several times in a row, so it rebuilt them up to eight times before the first paint.
    Here the changes until the next refresh share one rebuild, which reads the bindings as they are then."""

    _rebuild_pending = False

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    @while_attached
    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        await self.recompose()
