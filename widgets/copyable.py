"""A value the user can copy by clicking it or pressing Enter on it."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from turris_api.widgets.guard import Guarded
from turris_api.widgets.text import printable


class CopyableValue(Guarded, Static, can_focus=True):
    """Shows `label` and `value`; Enter or a click posts CopyRequested."""

    BINDINGS = [Binding("enter", "copy", "Copy", show=True), Binding("y", "copy", "Copy", show=False)]

    @dataclass
    class CopyRequested(Message):
        """The user asked for this value on the clipboard."""

        widget: CopyableValue

        @property
        def control(self) -> CopyableValue:
            return self.widget

    def __init__(self, label: str, value: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.value = value

    def render(self) -> Text:
        return Text.assemble(
            (self.label, "bold"), "  ", ("(click or Enter to copy)", "dim"), "\n", printable(self.value), end=""
        )

    def on_click(self) -> None:
        self.action_copy()

    def action_copy(self) -> None:
        self.post_message(self.CopyRequested(self))
