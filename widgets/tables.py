"""The API Clients and Restricted Access Tokens tables.

Columns have explicit widths so painting thousands of rows never measures a cell: the table
only needs to know how many rows there are to size itself, and renders just what is visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from store.models import ApiClient, RestrictedToken
from widgets.text import inert, masked


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


class CredentialTable(DataTable):
    """A fixed-width credential table; choosing a row posts RowChosen with the record's id."""

    COLUMNS: ClassVar[tuple[ColumnSpec, ...]] = ()

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
            self._require_update_dimensions = True
            self._clear_caches()
            self.refresh()

    def _theme_changed(self, _theme) -> None:
        self._palette = None
        if self._records:
            self.show(self._records)

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
        self._add_rows_fast((str(r.id), self.cells(r)) for r in records)
        if self.row_count:
            self.cursor_coordinate = self.validate_cursor_coordinate(cursor)

    def _add_rows_fast(self, rows: Iterable[tuple[str, Sequence[object]]]) -> None:
        for key, cells in rows:
            self.add_row(*cells, key=key)

    def _update_dimensions(self, new_rows) -> None:
        # Every column has a fixed width and every row one line: skip measuring each new cell.
        if all(not c.auto_width for c in self.columns.values()) and not self._labelled_row_exists:
            width = sum(c.get_render_width(self) for c in self.columns.values())
            header = self.header_height if self.show_header else 0
            self.virtual_size = Size(width, self._total_row_height + header)
            return
        super()._update_dimensions(new_rows)

    def cells(self, record) -> Sequence[object]:
        raise NotImplementedError

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        column = self.ordered_columns[event.coordinate.column].key.value
        if column == "client_id":
            record = self._records[event.coordinate.row]
            self.post_message(self.CopyRequested(self, "Client ID", record.client_id))
        else:
            self.post_message(self.RowChosen(self, int(event.cell_key.row_key.value)))

    def record(self, record_id: int):
        return next((r for r in self._records if r.id == record_id), None)

    @property
    def records(self) -> list:
        return list(self._records)


class ClientTable(CredentialTable):
    """API Clients: Name, Description, Client ID, Client Secret, Allowed Origins, Status."""

    COLUMNS = (
        ColumnSpec("name", "Name", 14, grow=2),
        ColumnSpec("description", "Description", 14, grow=2),
        ColumnSpec("client_id", "Client ID", 31),
        ColumnSpec("secret", "Client Secret", 13),
        ColumnSpec("origins", "Allowed Origins", 18, grow=3),
        ColumnSpec("status", "Status", 10),
    )

    def cells(self, record: ApiClient) -> Sequence[object]:
        p = self.palette
        return (
            inert(record.name, "bold"),
            inert(record.description or "—", "" if record.description else p.muted),
            inert(record.client_id),
            masked(record.secret_last4),
            pills(record.allowed_origins, p, inert("any origin", p.warning)),
            status_badge(record.status, p),
        )


class TokenTable(CredentialTable):
    """Restricted Access Tokens: Name, Token, Allowed IPs."""

    COLUMNS = (
        ColumnSpec("name", "Name", 20, grow=1),
        ColumnSpec("token", "Token", 10),
        ColumnSpec("ips", "Allowed IPs", 30, grow=2),
    )

    def cells(self, record: RestrictedToken) -> Sequence[object]:
        p = self.palette
        return (
            inert(record.name, "bold"),
            masked(record.token_last4),
            pills(record.allowed_ips, p, inert("—", p.muted)),
        )
