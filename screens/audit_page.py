"""Settings → Developer → Audit log: who changed what, newest first, a page at a time, or the
history of one credential (its panel's View history).

As on the API page, the page owns its store calls: each runs in a thread worker and reports back
with a message; the table only says when the user got to its last row.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Label, Static
from textual.worker import Worker, WorkerState, get_current_worker

from turris_api.store.errors import StoreError
from turris_api.store.models import AuditEvent
from turris_api.widgets.guard import UNEXPECTED, Guarded, while_attached
from turris_api.widgets.tables import ACTION_WORDS, AuditTable, kind_word
from turris_api.widgets.text import inert

PAGE_SIZE = 50
INTRO = ("Changes to API Clients, Restricted Access Tokens, members and the plan, newest first. "
         "Secrets are never recorded.")


@dataclass(frozen=True)
class AuditSubject:
    """One record whose history the page shows."""

    credential_type: str
    credential_id: int
    name: str

    @property
    def label(self) -> str:
        return f"{kind_word(self.credential_type)} “{self.name}”"


@dataclass(frozen=True)
class _Asked:
    """A page of events asked for: of `subject` (or all), older than event `before` (or the newest)."""

    subject: AuditSubject | None
    before: int | None


class AuditPage(Guarded, Vertical):
    """The organization's audit log for one member: anyone who sees the API page sees it."""

    BINDINGS = [Binding("escape", "show_all", "Show all events")]

    @dataclass
    class EventsLoaded(Message):
        """A page of events arrived for what was asked."""

        asked: _Asked
        events: list[AuditEvent]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.subject: AuditSubject | None = None
        """The record whose history is shown, or None for every event."""
        self.loaded = False
        self._asked: _Asked | None = None  # the page on its way, if one is
        self._worker: Worker | None = None  # the worker fetching it
        self._focus_when_loaded = False  # focus was wanted here before there was anything to focus
        self._complete = False  # the oldest event is shown

    def compose(self) -> ComposeResult:
        yield Label("Audit log", classes="page-title")
        yield Static(INTRO, classes="page-intro", markup=False)
        with Horizontal(id="audit-filter") as line:
            line.display = False  # until a credential's history is asked for
            yield Static("", id="audit-filter-text")
            yield Button("Show all", id="audit-show-all", compact=True)
        yield Static("Loading the audit log…", id="audit-empty", markup=False)
        table = AuditTable(id="audit-events")
        table.display = False  # until there are events
        yield table
        chosen = Static("", id="audit-chosen")
        chosen.display = False  # only while the chosen event's detail does not fit in its row
        yield chosen
        yield Static("", id="audit-more", markup=False)

    @property
    def table(self) -> AuditTable:
        return self.query_one(AuditTable)

    @property
    def fetching(self) -> bool:
        """Whether a page of events is on its way."""
        return self._asked is not None

    # --- what is shown ------------------------------------------------------

    def show_history(self, subject: AuditSubject | None) -> None:
        """Show the history of `subject`, or every event for None, from the newest."""
        if subject != self.subject:
            self.table.show([])  # not a moment of the other events under the new filter's title
        self.subject = subject
        self.query_one("#audit-filter").display = subject is not None
        if subject is not None:
            self.query_one("#audit-filter-text", Static).update(
                inert(f"History of {subject.label} · Esc shows all events"))
        self.screen.refresh_bindings()
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show_all":
            return self.subject is not None  # else Escape closes Settings, as everywhere
        return True

    @on(Button.Pressed, "#audit-show-all")
    def action_show_all(self) -> None:
        self.show_history(None)
        self.focus_default()

    def focus_default(self) -> None:
        """Focus the events, else Show all; else the events once they are there."""
        table = self.table
        self._focus_when_loaded = False
        if table.display:
            table.focus()
        else:
            if self.subject is not None:
                self.query_one("#audit-show-all").focus()
            self._focus_when_loaded = True

    @on(DataTable.RowHighlighted, "#audit-events")
    @on(AuditTable.ColumnsFitted)
    def event_chosen(self) -> None:
        self._show_chosen(self.table.cursor_record)

    def _show_chosen(self, chosen: AuditEvent | None) -> None:
        """The chosen event in a sentence under the table, when its row leaves some of it out."""
        line = self.query_one("#audit-chosen", Static)
        line.display = chosen is not None and self.table.cut_short(chosen)
        if line.display:
            what = ACTION_WORDS.get(chosen.action, chosen.action)
            said = f"{what} {kind_word(chosen.credential_type)} “{chosen.credential_name}” by {chosen.actor}"
            text = inert(f"{said}: {chosen.detail}" if chosen.detail else said)
            text.no_wrap = False
            line.update(text)

    # --- loading ------------------------------------------------------------

    def reload(self) -> None:
        """Fetch the newest page again (a newer ask makes any answer on its way stale)."""
        self._complete = False
        empty = self.query_one("#audit-empty", Static)
        if not self.table.row_count:
            empty.update("Loading the audit log…")
            empty.display = True
            empty.loading = True
        self.query_one("#audit-more", Static).update("Loading…" if self.table.row_count else "")
        self._ask(_Asked(self.subject, None))

    @on(AuditTable.EndReached)
    def load_older(self) -> None:
        records = self.table.records
        if self._asked is not None or self._complete or not records:
            return
        self.query_one("#audit-more", Static).update("Loading older events…")
        self._ask(_Asked(self.subject, records[-1].id))

    def _ask(self, asked: _Asked) -> None:
        self._asked = asked
        self._worker = self._load(asked)

    @work(thread=True, exclusive=True, group="audit-read", exit_on_error=False, name="audit")
    def _load(self, asked: _Asked) -> None:
        subject = asked.subject
        kind, record_id = (None, None) if subject is None else (subject.credential_type, subject.credential_id)
        events = self.app.store.audit_events(PAGE_SIZE, asked.before, kind, record_id)
        if not get_current_worker().is_cancelled:  # a newer ask is on its way: drop this one
            self.post_message(self.EventsLoaded(asked, events))

    @on(EventsLoaded)
    def show_events(self, event: EventsLoaded) -> None:
        if event.asked != self._asked:
            return  # the user moved on (another filter, a reload) before this arrived
        self._asked = None
        self.loaded = True
        self._complete = len(event.events) < PAGE_SIZE
        table = self.table
        if event.asked.before is None:
            table.one_subject = self.subject is not None
            table.show(event.events)
            if table.row_count:
                table.move_cursor(row=0, animate=False)
        else:
            table.extend(event.events)
        empty = self.query_one("#audit-empty", Static)
        empty.loading = False
        count = len(table.records)
        table.display = bool(count)
        empty.display = not count
        if not count:
            empty.update(f"No events about {self.subject.label} yet." if self.subject is not None else
                         "No changes recorded yet. Creating, changing, rolling or deleting an API Client or a "
                         "Restricted Access Token is recorded here, and so are changes to members and the plan.")
        self._show_count(count)
        self._show_chosen(table.cursor_record)
        if self._focus_when_loaded and count and self.display:
            focused = self.screen.focused
            if focused is None or focused.id in ("settings-nav", "audit-show-all"):  # unless the user went on
                table.focus()
        self._focus_when_loaded = False
        if not self._complete:
            self.call_after_refresh(self._fill)

    def _show_count(self, count: int) -> None:
        more = self.query_one("#audit-more", Static)
        events = f"{count} event{'' if count == 1 else 's'}"
        if not count:
            more.update("")
        elif self._complete:
            more.update(f"All {events} shown.")
        else:
            more.update(f"The newest {events} · older ones load as you scroll to the end.")

    @while_attached
    def _fill(self) -> None:
        """A table taller than its rows cannot scroll to its end: fetch on until it can, or all are shown."""
        table = self.table
        if table.display and table.row_count and not table.max_scroll_y:
            self.load_older()

    # --- failures -----------------------------------------------------------

    @on(Worker.StateChanged)
    def load_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "audit":
            return
        event.stop()
        if event.state != WorkerState.ERROR or event.worker is not self._worker:
            return  # done, or a stale ask the user moved on from
        asked, self._asked = self._asked, None
        err = event.worker.error
        why = str(err) if isinstance(err, StoreError) else UNEXPECTED
        empty = self.query_one("#audit-empty", Static)
        empty.loading = False
        if asked is not None and asked.before is not None:
            self.query_one("#audit-more", Static).update(
                inert(f"Could not load older events: {why} Scroll to the end to try again, or press r to reload."))
        else:
            empty.update(inert(f"Could not load the audit log: {why} Press r to try again."))
            empty.display = True
            self.table.display = False
        self.app.report_error(err)
