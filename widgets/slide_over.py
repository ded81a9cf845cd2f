"""A panel that slides in from the right over the page it belongs to."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive

from turris_api.widgets.guard import Guarded


class SlideOver(Guarded, Vertical):
    """Docked right, off-screen until `visible`; Escape hides it."""

    DEFAULT_CSS = """
    SlideOver {
        dock: right;
        layer: slide-over;
        width: 56;
        max-width: 100%;
        height: 100%;
        offset-x: 110%;
        transition: offset 200ms;
        background: $panel;
        border-left: wide $primary;
        padding: 0 1;
        &.-visible {
            offset-x: 0;
        }
    }
    """

    BINDINGS = [Binding("escape", "hide", "Close", show=True)]

    class Closed(Message):
        """The user closed the panel (Escape)."""

    visible: reactive[bool] = reactive(False)
    """Whether the panel is on screen."""

    def watch_visible(self, visible: bool) -> None:
        self.set_class(visible, "-visible")
        if not visible:
            self.remove_children()

    def action_hide(self) -> None:
        self.visible = False
        self.post_message(self.Closed())
