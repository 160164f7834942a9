"""Queries: every class in a table sorted and filtered by DuckDB, one screenful at a time.

The table widget only ever holds the rows that fit on screen: moving past its last row, paging or
scrolling asks DuckDB for the next window (``LIMIT``/``OFFSET`` over the in-memory class
summary), so 50 k classes cost what 20 do.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import MouseScrollDown, MouseScrollUp
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Static

from perftui.tui import data
from perftui.tui import format as fmt
from perftui.tui.background import Reader
from perftui.tui.keybar import KeyBar

COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    # key, label, sort it selects
    ("time", "time", "time"),
    ("share", "%", "time"),
    ("count", "count", "count"),
    ("p95", "p95", "p95"),
    ("rows", "rows exam.", "rows"),
    ("query", "query", None),
)
SORT_LABEL = {"time": "total time", "count": "count", "p95": "p95 latency", "rows": "rows examined"}


class ClassTable(DataTable):
    """A DataTable that asks for more rows at its edges instead of scrolling (it holds one page)."""

    class Move(Message):
        """Move the window over the classes by ``delta`` rows (page keys move a whole page)."""

        def __init__(self, delta: int, *, page: bool = False, to_end: int = 0) -> None:
            super().__init__()
            self.delta = delta
            self.page = page
            self.to_end = to_end  # -1: first row of all, +1: last row of all

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.Move(+1))
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.Move(-1))
        else:
            super().action_cursor_up()

    def action_page_down(self) -> None:
        self.post_message(self.Move(+1, page=True))

    def action_page_up(self) -> None:
        self.post_message(self.Move(-1, page=True))

    def action_scroll_top(self) -> None:
        self.post_message(self.Move(0, to_end=-1))

    def action_scroll_bottom(self) -> None:
        self.post_message(self.Move(0, to_end=+1))

    def _on_mouse_scroll_down(self, event: MouseScrollDown) -> None:
        event.stop()
        event.prevent_default()
        self.post_message(self.Move(+3))

    def _on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        event.stop()
        event.prevent_default()
        self.post_message(self.Move(-3))


class QueriesScreen(Reader, Screen[None]):
    AUTO_FOCUS = "#classes"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("t", "sort('time')", "Time", show=False),
        Binding("c", "sort('count')", "Count", show=False),
        Binding("p", "sort('p95')", "p95", show=False),
        Binding("w", "sort('rows')", "Rows", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort = "time"
        self.ascending = False
        self.flt = data.ClassFilter()
        self.row_offset = 0
        self.row_cursor = 0
        self.page: data.Page | None = None
        self.page_size = 20
        self.summary_ready = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="query-bar"):
            yield Input(
                placeholder="filter: text  table:NAME  user:NAME  db:NAME  (Enter)",
                id="filter",
            )
        yield ClassTable(id="classes", cursor_type="row", zebra_stripes=True)
        yield Static(Text("Summarising query classes…", style="dim"), id="page-status")
        yield KeyBar()

    def on_mount(self) -> None:
        self._set_columns()
        app: Any = self.app
        app.when_classes_ready(self, self._classes_ready)
        self.query_one("#classes", ClassTable).focus()

    def _classes_ready(self, _n: int) -> None:
        self.summary_ready = True
        self.reload()

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        """Fetch the window at ``self.row_offset`` with the current sort and filter."""
        if not self.summary_ready:
            return
        self.read(
            data.class_page,
            self.flt,
            self.sort,
            ascending=self.ascending,
            offset=self.row_offset,
            limit=self.page_size,
            then=self._show_page,
            group="class-page",
        )

    def _show_page(self, page: data.Page) -> None:
        self.page = page
        self.row_offset = page.offset
        table = self.query_one("#classes", ClassTable)
        table.clear()
        width = self._query_width()
        for r in page.rows:
            table.add_row(
                Text(fmt.ms(r.total_ms), justify="right"),
                Text(fmt.share(r.total_ms, page.total_ms), justify="right"),
                Text(fmt.count(r.count), justify="right"),
                Text(fmt.ms(r.p95_ms), justify="right"),
                Text(fmt.count(r.rows_examined), justify="right"),
                fmt.one_line(r.fingerprint, width),
                key=r.class_id,
            )
        if page.rows:
            table.move_cursor(row=max(0, min(self.row_cursor, len(page.rows) - 1)), animate=False)
        self._status()

    def _status(self) -> None:
        page = self.page
        arrow = "↑" if self.ascending else "↓"
        if page is None:
            return
        if page.matching == 0:
            shown = "no class matches"
        else:
            first = page.offset + 1
            last = page.offset + len(page.rows)
            shown = f"classes {fmt.count(first)}–{fmt.count(last)} of {fmt.count(page.matching)}"
        parts = [shown, f"sorted by {SORT_LABEL[self.sort]} {arrow}"]
        if str(self.flt):
            parts.append(f"filter: {self.flt}")
        hint = "  (PgUp/PgDn page, Enter opens)" if self.size.width >= 100 else ""
        self.query_one("#page-status", Static).update(fmt.one_line(" · ".join(parts) + hint))

    def _query_width(self) -> int:
        return max(20, self.size.width - 52)

    def _set_columns(self) -> None:
        table = self.query_one("#classes", ClassTable)
        table.clear(columns=True)
        arrow = " ↑" if self.ascending else " ↓"
        for key, label, sort in COLUMNS:
            mark = arrow if sort == self.sort and key != "share" else ""
            table.add_column(Text(label + mark, justify="right" if sort else "left"), key=key)

    def on_resize(self) -> None:
        table = self.query_one("#classes", ClassTable)
        size = max(1, table.size.height - 1) if table.size.height else self.page_size
        if size != self.page_size:
            self.page_size = size
            self.reload()
        elif self.page is not None:
            self._show_page(self.page)

    # ------------------------------------------------------------------ moving

    @on(ClassTable.Move)
    def _move(self, event: ClassTable.Move) -> None:
        page = self.page
        if page is None:
            return
        table = self.query_one("#classes", ClassTable)
        last_offset = max(0, page.matching - self.page_size)
        if event.to_end:
            self.row_offset = 0 if event.to_end < 0 else last_offset
            self.row_cursor = 0 if event.to_end < 0 else self.page_size - 1
        elif event.page:
            step = event.delta * self.page_size
            self.row_offset = max(0, min(self.row_offset + step, last_offset))
            self.row_cursor = table.cursor_row
        else:
            new = max(0, min(self.row_offset + event.delta, last_offset))
            if new == self.row_offset:
                return
            self.row_offset = new
            self.row_cursor = table.cursor_row
        self.reload()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.row_cursor = event.cursor_row

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            app: Any = self.app
            app.open_class(event.row_key.value)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        for key, _label, sort in COLUMNS:
            if key == event.column_key.value and sort is not None:
                self.action_sort(sort)

    # ------------------------------------------------------------------ sort and filter

    def action_sort(self, sort: str) -> None:
        """Sort by ``sort``; choosing the current sort again flips the direction."""
        if sort == self.sort:
            self.ascending = not self.ascending
        else:
            self.sort, self.ascending = sort, False
        self.row_offset = self.row_cursor = 0
        self._set_columns()
        self.reload()

    def action_cycle_sort(self) -> None:
        order = list(data.SORTS)
        self.sort = order[(order.index(self.sort) + 1) % len(order)]
        self.ascending = False
        self.row_offset = self.row_cursor = 0
        self._set_columns()
        self.reload()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus and box.value:
            box.value = ""
        elif box.has_focus:
            self.query_one("#classes", ClassTable).focus()
        elif str(self.flt):
            self.set_filter("")

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.set_filter(event.value)
        self.query_one("#classes", ClassTable).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        # Filtering the summary is cheap: follow the typing (the newest read wins).
        self._apply_filter(event.value)

    def set_filter(self, value: str) -> None:
        box = self.query_one("#filter", Input)
        if box.value != value:
            with box.prevent(Input.Changed):
                box.value = value
        self._apply_filter(value)

    def _apply_filter(self, value: str) -> None:
        flt = data.ClassFilter.parse(value)
        if flt == self.flt:
            return
        self.flt = flt
        self.row_offset = self.row_cursor = 0
        self.reload()
