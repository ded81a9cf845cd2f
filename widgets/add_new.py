"""The Add New dropdown: a button that reveals API Client and Restricted Access Token."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, OptionList
from textual.widgets.option_list import Option

from turris_api.widgets.guard import Guarded, while_attached

CHOICES = (
    ("client", "API Client", "Create a secure API client"),
    ("token", "Restricted Access Token", "Create a restricted access token"),
)


class AddNewOptions(Guarded, OptionList):
    """The open dropdown; Escape closes it."""

    BINDINGS = [Binding("escape", "close", "Close", show=True)]

    def action_close(self) -> None:
        self.display = False
        self.parent.query_one(Button).focus()


class AddNewMenu(Guarded, Vertical):
    """`Add New ▾`; choosing an entry posts Chosen("client" | "token")."""

    @dataclass
    class Chosen(Message):
        """The user picked what to create."""

        menu: AddNewMenu
        kind: str

        @property
        def control(self) -> AddNewMenu:
            return self.menu

    def compose(self) -> ComposeResult:
        yield Button("Add New ▾", id="add-new", variant="primary")
        options = [
            Option(Text.assemble((title, "bold"), "\n", (hint, "dim")), id=kind) for kind, title, hint in CHOICES
        ]
        yield AddNewOptions(*options, id="add-new-options")

    def on_mount(self) -> None:
        self.query_one(AddNewOptions).display = False

    @property
    def is_open(self) -> bool:
        return self.query_one(AddNewOptions).display

    def open(self) -> None:
        options = self.query_one(AddNewOptions)
        options.display = True
        options.highlighted = 0
        options.focus()

    def close(self) -> None:
        self.query_one(AddNewOptions).action_close()

    @on(Button.Pressed, "#add-new")
    def toggle(self, event: Button.Pressed) -> None:
        event.stop()
        if self.is_open:
            self.close()
        else:
            self.open()

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one(AddNewOptions).display = False
        self.post_message(self.Chosen(self, event.option.id or ""))

    def on_descendant_blur(self) -> None:
        # Clicking or tabbing elsewhere closes the dropdown, like a web menu.
        self.call_after_refresh(self._close_if_unfocused)

    @while_attached
    def _close_if_unfocused(self) -> None:
        focused = self.screen.focused
        if focused is None or focused not in self.query("*"):
            self.query_one(AddNewOptions).display = False
