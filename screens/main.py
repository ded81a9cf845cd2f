"""The shell: a left sidebar whose last entry is Settings, and a home view."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from turris_api.screens.help import HELP_KEY, QUIT_KEY
from turris_api.widgets.footer import Footer
from turris_api.widgets.guard import Guarded
from turris_api.widgets.status_line import StatusLine


class Sidebar(OptionList):
    """The app's navigation; Settings comes last."""


class MainScreen(Guarded, Screen):
    """Home: what this app is for, and where to go."""

    BINDINGS = [
        Binding("s", "app.open_settings", "Settings"),
        Binding("r", "app.reconnect", "Reconnect", show=False),
        HELP_KEY,
        QUIT_KEY,
    ]

    def compose(self) -> ComposeResult:
        with Horizontal(id="shell"):
            yield Sidebar(Option("⌂ Home", id="home"), Option("⚙ Settings", id="settings"), id="sidebar")
            with Vertical(id="home"):
                yield Label("Turris API Settings", classes="page-title")
                yield Static("Connecting to the credential store…", id="home-text", markup=False)
        yield StatusLine(id="main-status", classes="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Sidebar).focus()

    def show_text(self, text: str) -> None:
        self.query_one("#home-text", Static).update(text)

    @on(OptionList.OptionSelected, "#sidebar")
    def sidebar_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == "settings":
            self.app.action_open_settings()
