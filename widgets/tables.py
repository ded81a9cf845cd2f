"""The API Clients and Restricted Access Tokens tables.

Built for thousands of rows: columns have explicit widths, so no cell is ever measured; rows
are added in one pass; and a cell is a small lazy object that becomes rich Text only when it
is painted, so only what is on screen costs anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, Row, RowKey

from turris_api.store.models import ApiClient, RestrictedToken
from turris_api.widgets.guard import Guarded
from turris_api.widgets.text import inert, masked


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    label: str
    width: int  # the least it gets
    grow: int = 0  # its share of any room left over


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


def pills(items: Sequence[str], palette: Palette, empty: Text) -> Text:
    """Each item as a small coloured pill; `empty` when there are none."""
    if not items:
        return empty
    text = Text(end="", no_wrap=True, overflow="ellipsis")
    for index, item in enumerate(items):
        if index:
            text.append(" ")
        text.append_text(inert(f" {item} ", f"{palette.pill_foreground} on {palette.pill_background}"))
    return text


def status_badge(status: str, palette: Palette) -> Text:
    """Green `active`, red anything else."""
    colour = palette.success if status == "active" else palette.error
    return inert(f"● {status}", f"bold {colour}")


class LazyCell(tuple):
    """A cell rendered on demand from its record: (table, record, column). A tuple, so creating
    thousands costs no Python-level __init__."""

    __slots__ = ()

    def __rich__(self) -> Text:
        table, record, column = self
        return table.cell_text(record, column)


class CredentialTable(Guarded, DataTable):
    """A fixed-width credential table; choosing a row posts RowChosen with the record's id."""

    COLUMNS: ClassVar[tuple[ColumnSpec, ...]] = ()
    COPYABLE: ClassVar[tuple[str, str] | None] = None  # (column key, label) that c / y copy

    BINDINGS = [
        Binding("enter", "select_cursor", "Open", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "First row", show=False),
        Binding("G", "scroll_bottom", "Last row", show=False),
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

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="cell", zebra_stripes=True, **kwargs)
        self._palette: Palette | None = None
        self._records: list = []

    def on_mount(self) -> None:
        for spec in self.COLUMNS:
            self.add_column(Text(spec.label), width=spec.width, key=spec.key)
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def on_resize(self) -> None:
        self.fit_columns()

    def fit_columns(self) -> None:
        """Share the room beyond the minimum widths among the growing columns."""
        padding = 2 * self.cell_padding
        room = self.scrollable_content_region.width - sum(spec.width + padding for spec in self.COLUMNS)
        shares = sum(spec.grow for spec in self.COLUMNS)
        changed = False
        for spec in self.COLUMNS:
            column = self.columns.get(ColumnKey(spec.key))
            width = spec.width + (room * spec.grow // shares if room > 0 and shares else 0)
            if column is not None and column.width != width:
                column.width = width
                changed = True
        if changed:
            self._repaint_cells()

    def _theme_changed(self, _theme) -> None:
        self._palette = None
        self._repaint_cells()

    def _repaint_cells(self) -> None:
        self._require_update_dimensions = True
        self._update_count += 1
        self._clear_caches()
        self.refresh()

    @property
    def palette(self) -> Palette:
        if self._palette is None:
            self._palette = Palette.from_variables(self.app.theme_variables)
        return self._palette

    def show(self, records: Sequence) -> None:
        """Replace the rows with `records` (already sorted by name), keeping the cursor's place."""
        cursor = self.cursor_coordinate
        self._records = list(records)
        self.clear()
        self._add_rows_fast(self._records)
        if self.row_count:
            self.cursor_coordinate = self.validate_cursor_coordinate(cursor)

    def _add_rows_fast(self, records: Iterable) -> None:
        """What add_row does, once for all rows rather than once per row (no per-row cursor update)."""
        keys = [(column.key, column.key.value) for column in self.ordered_columns]
        for record in records:
            row_key = RowKey(str(record.id))
            self._row_locations[row_key] = len(self.rows)
            self._data[row_key] = {key: LazyCell((self, record, name)) for key, name in keys}
            self.rows[row_key] = Row(row_key, 1)
            self._new_rows.add(row_key)
        self._require_update_dimensions = True
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate
        if self.row_count and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()
        self.check_idle()

    def _update_dimensions(self, new_rows) -> None:
        # Every column has a fixed width and every row one line: skip measuring each new cell.
        if all(not c.auto_width for c in self.columns.values()) and not self._labelled_row_exists:
            width = sum(c.get_render_width(self) for c in self.columns.values())
            header = self.header_height if self.show_header else 0
            self.virtual_size = Size(width, self._total_row_height + header)
            return
        super()._update_dimensions(new_rows)

    def cell_text(self, record, column: str) -> Text:
        raise NotImplementedError

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
        column = self.ordered_columns[event.coordinate.column].key.value
        record = self._records[event.coordinate.row]
        if self.COPYABLE is not None and column == self.COPYABLE[0]:
            self.post_message(self.CopyRequested(self, self.COPYABLE[1], getattr(record, column)))
        else:
            self.post_message(self.RowChosen(self, record.id))

    def record(self, record_id: int):
        return next((r for r in self._records if r.id == record_id), None)

    @property
    def records(self) -> list:
        return list(self._records)


class ClientTable(CredentialTable):
    """API Clients: Name, Description, Client ID, Client Secret, Allowed Origins, Status."""

    COLUMNS = (
        ColumnSpec("name", "Name", 12, grow=2),
        ColumnSpec("description", "Description", 12, grow=2),
        ColumnSpec("client_id", "Client ID", 31),
        ColumnSpec("secret", "Client Secret", 13),
        ColumnSpec("origins", "Allowed Origins", 15, grow=3),
        ColumnSpec("status", "Status", 10),
    )
    COPYABLE = ("client_id", "Client ID")

    def cell_text(self, record: ApiClient, column: str) -> Text:
        p = self.palette
        if column == "name":
            return inert(record.name, "bold")
        if column == "description":
            return inert(record.description, "") if record.description else inert("—", p.muted)
        if column == "client_id":
            return inert(record.client_id)
        if column == "secret":
            return masked(record.secret_last4)
        if column == "origins":
            return pills(record.allowed_origins, p, inert("any origin", p.warning))
        return status_badge(record.status, p)


class TokenTable(CredentialTable):
    """Restricted Access Tokens: Name, Token, Allowed IPs."""

    COLUMNS = (
        ColumnSpec("name", "Name", 16, grow=1),
        ColumnSpec("token", "Token", 10),
        ColumnSpec("ips", "Allowed IPs", 24, grow=2),
    )

    def cell_text(self, record: RestrictedToken, column: str) -> Text:
        p = self.palette
        if column == "name":
            return inert(record.name, "bold")
        if column == "token":
            return masked(record.token_last4)
        return pills(record.allowed_ips, p, inert("—", p.muted))
