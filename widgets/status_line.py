"""One line saying which store the app talks to, and as whom."""

from __future__ import annotations

from textual.widgets import Static

from turris_api.widgets.text import inert


class StatusLine(Static):
    """Mirrors the app's `status` reactive."""

    def on_mount(self) -> None:
        self.watch(self.app, "status", self._show, init=True)

    def _show(self, status: str) -> None:
        self.update(inert(status))
