"""The API Clients, Restricted Access Tokens and audit log tables.

They fit the width they are given: the column widths are worked out from the table's own
width (`fit`), so nothing needs scrolling sideways, and a cell shortens its value to its
column (a middle ellipsis for ids, `+N` for the origins or IPs that do not fit).

Built for thousands of rows with DataTable's public API only: every column has an explicit
width, and a cell is a small lazy object that answers "how wide?" from its column and becomes
rich Text only when it is painted, so only what is on screen costs anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import ClassVar

from rich.cells import cell_len
from rich.measure import Measurement
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.widgets import DataTable

from turris_api.store.models import (
    ACTIVE,
    API_CLIENT,
    MEMBER,
    MEMBER_TOKEN,
    OPERATOR,
    ORGANIZATION,
    RESTRICTED_TOKEN,
    SIGNING_KEY,
    ApiClient,
    AuditEvent,
    RestrictedToken,
)
from turris_api.widgets import moments
from turris_api.widgets.guard import Guarded
from turris_api.widgets.text import inert, masked, printable

ELLIPSIS = "…"


@dataclass(frozen=True)
class ColumnSpec:
    """A column: the least width it may have, the most it can use, and whether it may be dropped."""

    key: str
    label: str
    least: int
    most: int
    optional: bool = False  # dropped, rather than squeezed, when the table is narrow
    short_label: str = ""  # the label when the column gets less than the label's width


# How leftover width is handed out, in order: (column, width to grow it to). Whatever is left
# after the last step goes to the last column named here.
Plan = tuple[tuple[str, int], ...]


def fit(specs: Sequence[ColumnSpec], plan: Plan, room: int, padding: int) -> dict[str, int]:
    """Column widths (keys in `specs` order) that fit `room` cells, `padding` cells each side."""
    shown = [spec for spec in specs if not spec.optional]
    widths = {spec.key: spec.least for spec in shown}

    def left() -> int:
        return room - sum(width + 2 * padding for width in widths.values())

    by_key = {spec.key: spec for spec in specs}
    for key, target in plan:
        spare = left()
        if key not in widths:  # an optional column appears only with room for its least width
            spec = by_key[key]
            if spare < spec.least + 2 * padding:
                continue
            widths[key] = spec.least
            spare = left()
        widths[key] = max(widths[key], min(target, widths[key] + max(spare, 0)))
    if plan and left() > 0:
        widths[plan[-1][0]] += left()
    return {spec.key: widths[spec.key] for spec in specs if spec.key in widths}


def chop(value: str, width: int) -> str:
    """The longest start of `value` that takes at most `width` cells."""
    out, used = [], 0
    for ch in value:
        used += cell_len(ch)
        if used > width:
            break
        out.append(ch)
    return "".join(out)


def shorten(value: str, width: int, tail: int = 0) -> str:
    """`value` in `width` cells: whole if it fits, else with an ellipsis before its last `tail` cells."""
    if cell_len(value) <= width:
        return value
    if width <= 1:
        return ELLIPSIS[:width]
    tail = min(tail, (width - 1) // 2)
    end = chop(value[::-1], tail)[::-1] if tail else ""
    return chop(value, width - 1 - tail) + ELLIPSIS + end


def middle(value: str, width: int) -> str:
    """`value` in `width` cells with an ellipsis in the middle (ids differ at both ends)."""
    return shorten(value, width, tail=width)


def shorten_name(name: str, width: int) -> str:
    # Keep the end too: names alike ("… nightly EU" / "… nightly US") differ there.
    return shorten(name, width, tail=6)


@dataclass(frozen=True)
class Palette:
    """Theme colours for cells (DataTable cells are rich Text, so they take colours, not variables)."""

    success: str
    error: str
    warning: str
    pill_foreground: str
    pill_background: str
    muted: str

    @classmethod
    def from_variables(cls, variables: dict[str, str]) -> Palette:
        return cls(
            success=variables["text-success"],
            error=variables["text-error"],
            warning=variables["text-warning"],
            pill_foreground=variables["text-primary"],
            pill_background=variables["primary-muted"],
            muted=variables["text-muted"],
        )


def pills(items: Sequence[str], palette: Palette, empty: Text, width: int) -> Text:
    """As many items as fit in `width` as small coloured pills, then `+N` for the rest."""
    if not items:
        return empty
    items = [printable(item) for item in items]
    pill_style = f"{palette.pill_foreground} on {palette.pill_background}"
    shown = 1
    for count in range(len(items), 0, -1):
        rest = len(items) - count
        need = sum(cell_len(item) + 2 for item in items[:count]) + (count - 1) + (len(f" +{rest}") if rest else 0)
        if need <= width:
            shown = count
            break
    rest = len(items) - shown
    suffix = f" +{rest}" if rest else ""
    text = Text(end="", no_wrap=True, overflow="crop")
    for index, item in enumerate(items[:shown]):
        if index:
            text.append(" ")
        if shown == 1:  # the one pill shown gives way so that the count stays whole
            item = shorten(item, max(width - len(suffix) - 2, 1))
        text.append(f" {item} ", pill_style)
    if suffix:
        text.append(suffix, f"bold {palette.muted}")
    return text


def status_badge(status: str, palette: Palette) -> Text:
    """Green `active`, red anything else."""
    colour = palette.success if status == "active" else palette.error
    return inert(f"● {status}", f"bold {colour}")


def status_word(record: ApiClient | RestrictedToken) -> str:
    """`expired`, `Nd left` within a week of expiry, else the stored status."""
    at = moments.now()
    status = record.shown_status(at)
    if status == ACTIVE and moments.expiring_soon(record.expires_at, at):
        days = max((record.expires_at - at).days, 0)
        return f"{days}d left" if days else "<1d left"
    return status


def status_cell(record: ApiClient | RestrictedToken, palette: Palette) -> Text:
    """Green active, yellow close to expiry, red expired or disabled."""
    word = status_word(record)
    if word.endswith("left"):
        return inert(f"● {word}", f"bold {palette.warning}")
    return status_badge(printable(word), palette)


def status_width(records: Sequence) -> int:
    return max((cell_len(f"● {printable(status_word(r))}") for r in records), default=8)


def value_cell(last4: str, old_last4: str | None, until, palette: Palette, width: int) -> Text:
    """The current value's last four and, while a roll's overlap lasts, the old one's and its end."""
    text = masked(last4)
    if until is None or old_last4 is None:
        return text
    for tail in (f" ••••{old_last4} until {until:%m-%d %H:%M}", f" ••••{old_last4}", " +old", "+"):
        if cell_len(tail) + text.cell_len <= width:
            text.append(tail, palette.warning)
            break
    return text


def rolling(records: Sequence, at) -> bool:
    """Whether any record is in the overlap of a roll (its value column then grows to show both)."""
    return any(r.old_until(at) is not None for r in records)


VALUE_FULL = 35  # "••••abcd ••••wxyz until 12-02 14:00"


class LazyCell(tuple):
    """A cell rendered on demand from its record: (table, record, column). A tuple, so creating
    thousands costs no Python-level __init__; it measures as its column's width, so adding rows
    renders nothing."""

    __slots__ = ()

    def __rich_measure__(self, console, options) -> Measurement:
        table, _record, column = self
        width = table.widths.get(column, 1)
        return Measurement(width, width)

    def __rich_console__(self, console, options):
        table, record, column = self
        yield table.cell_text(record, column, options.max_width)


class FittedTable(Guarded, DataTable):
    """A table whose columns fit its width, one record per row (keyed by the record's id)."""

    COLUMNS: ClassVar[tuple[ColumnSpec, ...]] = ()
    PLAN: ClassVar[Plan] = ()

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "First row", show=False),
        Binding("G", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, cursor_type: str = "cell", **kwargs) -> None:
        super().__init__(cursor_type=cursor_type, zebra_stripes=True, **kwargs)
        self._palette: Palette | None = None
        self._records: list = []
        self._by_id: dict[int, object] = {}
        self._cursor_on: int | None = None  # a row to move the cursor to once the rows exist
        self.widths: dict[str, int] = {}
        """The width of each shown column, by key (a column left out has none)."""

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def on_resize(self) -> None:
        if self.column_widths() != self.widths:
            self._rebuild()

    def column_widths(self) -> dict[str, int]:
        """The widths that fit the room the table has now."""
        specs = self.specs()
        return fit(specs, self.plan(), self.scrollable_content_region.width, self.cell_padding)

    def plan(self) -> Plan:
        """How leftover width is handed out for the records shown."""
        return self.PLAN

    def specs(self) -> tuple[ColumnSpec, ...]:
        """The columns for the records shown (a subclass may size one by its values)."""
        return self.COLUMNS

    def _theme_changed(self, _theme) -> None:
        self._palette = None
        self._rebuild()

    @property
    def palette(self) -> Palette:
        if self._palette is None:
            self._palette = Palette.from_variables(self.app.theme_variables)
        return self._palette

    def show(self, records: Sequence) -> None:
        """Replace the rows with `records` (in the order to show), keeping the cursor's place."""
        self._records = list(records)
        self._by_id = {record.id: record for record in self._records}
        self._rebuild()

    def extend(self, records: Sequence) -> None:
        """Add `records` after the rows shown (one already shown is left where it is)."""
        new = [record for record in records if record.id not in self._by_id]
        self._records += new
        self._by_id.update((record.id, record) for record in new)
        if not self.widths or self.column_widths() != self.widths:
            self._rebuild()  # not built yet, or the new records change the columns
        else:
            self._add_rows(new)

    def select_record(self, record_id: int) -> bool:
        """Put the cursor on `record_id`'s row, now or once the rows are built (a table just shown
        is built at its first layout); False if the table does not list it."""
        if record_id not in self._by_id:
            return False
        self._cursor_on = record_id
        if self.row_count:
            self._move_to_pending()
        return True

    def _move_to_pending(self) -> None:
        record_id, self._cursor_on = self._cursor_on, None
        if record_id is not None and record_id in self._by_id:
            self.move_cursor(row=self.get_row_index(str(record_id)), column=0)

    def _rebuild(self) -> None:
        """Columns at the widths that fit now, then the rows: DataTable cannot resize a column itself."""
        if not self.scrollable_content_region.width:
            return  # not laid out yet: the first resize builds it
        cursor = self.cursor_coordinate
        self.widths = self.column_widths()
        self.clear(columns=True)
        for spec in self.specs():
            width = self.widths.get(spec.key)
            if width is not None:
                label = spec.short_label if spec.short_label and width < cell_len(spec.label) else spec.label
                self.add_column(Text(label), width=width, key=spec.key)
        self._add_rows(self._records)
        if self.row_count:
            self.cursor_coordinate = self.validate_cursor_coordinate(cursor)
            self._move_to_pending()

    def _add_rows(self, records: Sequence) -> None:
        keys = list(self.widths)
        for record in records:
            self.add_row(*(LazyCell((self, record, key)) for key in keys), key=str(record.id))

    def _update_dimensions(self, new_rows) -> None:
        # The one DataTable internal we rely on (pinned by tests/test_tables.py): DataTable
        # measures every cell of every new row here, which at 10,000 clients costs more than
        # everything else together. Our columns all have fixed widths and our rows one line,
        # so the size follows from public state alone.
        width = sum(column.get_render_width(self) for column in self.columns.values())
        self.virtual_size = Size(width, self.row_count + (self.header_height if self.show_header else 0))

    def cell_text(self, record, column: str, width: int) -> Text:
        raise NotImplementedError

    def record(self, record_id: int):
        return self._by_id.get(record_id)

    @property
    def records(self) -> list:
        return list(self._records)

    @property
    def cursor_record(self):
        """The record of the row the cursor is on, or None without rows."""
        return self._records[self.cursor_row] if self.row_count and self.cursor_row < len(self._records) else None


class CredentialTable(FittedTable):
    """A credential table; choosing a row posts RowChosen with the record's id."""

    COPYABLE: ClassVar[tuple[str, str] | None] = None  # (column key, label) that c / y copy

    BINDINGS = [
        Binding("enter", "select_cursor", "Open", show=False),
        Binding("c", "copy", "Copy Client ID"),
        Binding("y", "copy", "Copy Client ID", show=False),
    ]

    @dataclass
    class RowChosen(Message):
        """The user picked a row to inspect or manage."""

        table: CredentialTable
        record_id: int

        @property
        def control(self) -> CredentialTable:
            return self.table

    @dataclass
    class CopyRequested(Message):
        """The user picked a cell whose value they want on the clipboard."""

        table: CredentialTable
        label: str
        value: str

        @property
        def control(self) -> CredentialTable:
            return self.table

    def action_select_cursor(self) -> None:
        # Enter opens the row whichever cell the cursor is on; only a click on a copyable cell copies.
        if self.row_count:
            self.post_message(self.RowChosen(self, self._records[self.cursor_row].id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy":
            return self.COPYABLE is not None and self.row_count > 0
        return True

    def action_copy(self) -> None:
        if self.COPYABLE is not None and self.row_count:
            key, label = self.COPYABLE
            self.post_message(self.CopyRequested(self, label, getattr(self._records[self.cursor_row], key)))

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        record = self._by_id.get(int(event.cell_key.row_key.value))
        if record is None:
            return
        column = event.cell_key.column_key.value
        if self.COPYABLE is not None and column == self.COPYABLE[0]:
            # The whole value from the record, never the (perhaps shortened) text on screen.
            self.post_message(self.CopyRequested(self, self.COPYABLE[1], getattr(record, column)))
        else:
            self.post_message(self.RowChosen(self, record.id))


class ClientTable(CredentialTable):
    """API Clients: Name, Description, Client ID, Client Secret, Allowed Origins, Status."""

    COLUMNS = (
        ColumnSpec("name", "Name", 14, 40),
        ColumnSpec("description", "Description", 16, 40, optional=True),
        ColumnSpec("client_id", "Client ID", 11, 31),
        ColumnSpec("secret", "Client Secret", 8, 13, short_label="Secret"),
        ColumnSpec("origins", "Allowed Origins", 16, 28, short_label="Origins"),
        ColumnSpec("status", "Status", 8, 8),
    )
    PLAN = (
        ("name", 31),
        ("origins", 28),
        ("client_id", 31),
        ("description", 16),
        ("secret", 13),
        ("name", 40),
        ("description", 40),
        ("origins", 10_000),
    )
    COPYABLE = ("client_id", "Client ID")

    def specs(self) -> tuple[ColumnSpec, ...]:
        # Status is as wide as its longest word, so `● disabled` is never cut.
        status = status_width(self._records)
        wide = rolling(self._records, moments.now())
        return tuple(
            ColumnSpec(s.key, s.label, status, status) if s.key == "status"
            else ColumnSpec(s.key, s.label, 13, VALUE_FULL, short_label=s.short_label) if s.key == "secret" and wide
            else s
            for s in self.COLUMNS
        )

    def plan(self) -> Plan:
        if not rolling(self._records, moments.now()):
            return self.PLAN
        return (*self.PLAN[:5], ("secret", VALUE_FULL), *self.PLAN[5:])

    def cell_text(self, record: ApiClient, column: str, width: int) -> Text:
        p = self.palette
        if column == "name":
            return inert(shorten_name(printable(record.name), width), "bold")
        if column == "description":
            return inert(record.description, "") if record.description else inert("—", p.muted)
        if column == "client_id":
            return inert(middle(printable(record.client_id), width))
        if column == "secret":
            return value_cell(record.secret_last4, record.old_secret_last4, record.old_until(moments.now()), p, width)
        if column == "origins":
            return pills(record.allowed_origins, p, inert("any origin", p.warning), width)
        return status_cell(record, p)


class TokenTable(CredentialTable):
    """Restricted Access Tokens: Name, Token, Allowed IPs, Status."""

    COLUMNS = (
        ColumnSpec("name", "Name", 14, 40),
        ColumnSpec("token", "Token", 8, 8),
        ColumnSpec("ips", "Allowed IPs", 16, 24),
    )
    PLAN = (
        ("name", 31),
        ("ips", 24),
        ("name", 40),
        ("ips", 10_000),
    )

    def specs(self) -> tuple[ColumnSpec, ...]:
        # Status only once some token has an expiry: without one a token is simply there.
        specs = list(self.COLUMNS)
        if rolling(self._records, moments.now()):
            specs[1] = ColumnSpec("token", "Token", 13, VALUE_FULL)
        if any(r.expires_at is not None for r in self._records):
            width = status_width(self._records)
            specs.append(ColumnSpec("status", "Status", width, width))
        return tuple(specs)

    def plan(self) -> Plan:
        if not rolling(self._records, moments.now()):
            return self.PLAN
        return (*self.PLAN[:3], ("token", VALUE_FULL), *self.PLAN[3:])

    def cell_text(self, record: RestrictedToken, column: str, width: int) -> Text:
        p = self.palette
        if column == "name":
            return inert(shorten_name(printable(record.name), width), "bold")
        if column == "token":
            return value_cell(record.token_last4, record.old_token_last4, record.old_until(moments.now()), p, width)
        if column == "status":
            return status_cell(record, p)
        return pills(record.allowed_ips, p, inert("—", p.muted), width)


# What each kind of record is called: in full, and where the column is narrow.
KIND_WORDS = {
    API_CLIENT: ("API Client", "API Client"),
    RESTRICTED_TOKEN: ("Restricted Access Token", "Token"),
    MEMBER: ("Member", "Member"),
    MEMBER_TOKEN: ("Member access token", "Member token"),
    ORGANIZATION: ("Organization", "Organization"),
    SIGNING_KEY: ("Signing key", "Signing key"),
}
KIND_SHORT = max(cell_len(short) for _, short in KIND_WORDS.values())
KIND_FULL = max(cell_len(full) for full, _ in KIND_WORDS.values())
ACTION_WORDS = {
    "create": "Created",
    "update": "Updated",
    "delete": "Deleted",
    "set_status": "Status set",
    "roll": "Rolled",
    "end_old": "Old ended",
    "add": "Added",
    "remove": "Removed",
    "set_role": "Role set",
    "issue": "Issued",
    "revoke": "Revoked",
    "set_plan": "Plan set",
    "set_policy": "Policy set",
    "rotate": "Rotated",
}
ACTION_WIDTH = max(cell_len(word) for word in ACTION_WORDS.values())
ENDINGS = frozenset({"delete", "remove", "revoke"})
TIME_FULL = 16  # 2026-03-02 09:30


def kind_word(kind: str, width: int = KIND_FULL) -> str:
    """`api_client` as the app calls it, `Token` rather than `Restricted Access Token` where that does not fit."""
    full, short = KIND_WORDS.get(kind, (printable(kind), printable(kind)))
    return full if cell_len(full) <= width else short


class AuditTable(FittedTable):
    """Audit events, newest first: Time, Who, Action, Type, Name, Detail. Posts EndReached when the
    cursor or the scroll gets to the last row, so that the page can fetch older events."""

    COLUMNS = (
        ColumnSpec("at", "Time (UTC)", 11, TIME_FULL),
        ColumnSpec("actor", "Who", 13, 30),
        ColumnSpec("action", "Action", ACTION_WIDTH, ACTION_WIDTH),
        ColumnSpec("kind", "Type", KIND_SHORT, KIND_FULL),
        ColumnSpec("name", "Name", 14, 40),
        ColumnSpec("detail", "Detail", 12, 60, optional=True),
    )
    # The detail first (at 80 columns only a credential's history has room for it: the page shows the
    # chosen event in full below), then names and the year; the type in full comes late.
    PLAN = (
        ("detail", 16),
        ("name", 26),
        ("at", TIME_FULL),
        ("actor", 24),
        ("kind", KIND_FULL),
        ("detail", 40),
        ("name", 32),
        ("actor", 30),
        ("detail", 10_000),
        ("name", 10_000),  # takes what is left where there is no detail column
    )

    class EndReached(Message):
        """The user got to the last row shown: older events, if any, are wanted."""

    class ColumnsFitted(Message):
        """The columns were fitted to the width anew (what fits in a row may have changed)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.one_subject = False
        """Whether every event shown is about one record (its type then goes without saying)."""

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self, "scroll_y", self._scrolled, init=False)

    def specs(self) -> tuple[ColumnSpec, ...]:
        return tuple(s for s in self.COLUMNS if not (self.one_subject and s.key == "kind"))

    def plan(self) -> Plan:
        # No column grows past its longest value: the room goes where it shows something.
        longest = {
            "actor": max((cell_len(printable(e.actor)) for e in self._records), default=0),
            "name": max((cell_len(printable(e.credential_name)) for e in self._records), default=0),
            "detail": max((cell_len(printable(e.detail)) for e in self._records), default=0),
        }
        return tuple((key, min(target, longest.get(key, target))) for key, target in self.PLAN
                     if not (self.one_subject and key == "kind"))

    def _rebuild(self) -> None:
        super()._rebuild()
        if self.widths:
            self.post_message(self.ColumnsFitted())

    def _scrolled(self, _y: float) -> None:
        if self.row_count and self.scroll_y >= self.max_scroll_y:
            self.post_message(self.EndReached())

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= self.row_count - 1:
            self.post_message(self.EndReached())

    def cut_short(self, event: AuditEvent) -> bool:
        """Whether the row leaves out or shortens who, the name or the detail of `event`."""
        shown = {"actor": event.actor, "name": event.credential_name, "detail": event.detail}
        return any(value and cell_len(printable(value)) > self.widths.get(key, 0) for key, value in shown.items())

    def cell_text(self, event: AuditEvent, column: str, width: int) -> Text:
        p = self.palette
        if column == "at":
            return inert(f"{event.at.astimezone(UTC):%Y-%m-%d %H:%M}" if width >= TIME_FULL
                         else f"{event.at.astimezone(UTC):%m-%d %H:%M}")
        if column == "actor":
            return inert(shorten(printable(event.actor), width), p.muted if event.actor == OPERATOR else "")
        if column == "action":
            word = ACTION_WORDS.get(event.action, event.action)
            return inert(shorten(word, width), f"bold {p.error}" if event.action in ENDINGS else "bold")
        if column == "kind":
            return inert(kind_word(event.credential_type, width))
        if column == "name":
            return inert(shorten_name(printable(event.credential_name), width), "bold")
        if not event.detail:
            return inert("—", p.muted)
        return inert(shorten(printable(event.detail), width))
