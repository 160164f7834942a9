"""The ``?`` screen: every key, per view, so nothing needs a manual."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Everywhere",
        (
            ("1 2 3 4 5", "Overview, Queries, Findings, Flame graph, Functions"),
            ("ctrl+p", "command palette: jump to a class, finding, table or function by name"),
            ("tab / shift+tab", "move between panels; the mouse works too"),
            ("?", "this help"),
            ("q / ctrl+q", "quit"),
        ),
    ),
    ("Overview", (("enter", "open the highlighted class or finding"),)),
    (
        "Queries",
        (
            ("/", "filter: free text, table:NAME, user:NAME, db:NAME (combine them)"),
            ("escape", "clear the filter"),
            ("s", "cycle the sort: total time, count, p95, rows examined"),
            ("t c p w", "sort by time, count, p95, rows; again to reverse"),
            ("↑ ↓ pgup pgdn home end", "move; the table pages through every class"),
            ("enter", "open the class"),
        ),
    ),
    (
        "Query detail",
        (
            ("l", "reveal / hide the literal values in the samples"),
            ("y", "copy the fix SQL to the clipboard (through the terminal)"),
            ("e", "write the fix SQL to perftui-fix-<class>.sql"),
            ("k", "go to the linked call site (N+1 findings with a profile)"),
            ("escape / backspace", "back"),
        ),
    ),
    (
        "Findings",
        (
            ("enter", "open the class or function the finding is about"),
            ("l", "reveal evidence that quotes logged values"),
            ("y", "copy the fix"),
        ),
    ),
    (
        "Flame graph",
        (
            ("← → ↑ ↓", "siblings and levels"),
            ("enter / click", "zoom into the frame"),
            ("escape / backspace", "zoom out"),
            ("h", "follow the hottest path down from the selected frame"),
            ("/", "search: matching frames light up, with their share"),
            ("t / P", "next thread or process / next profile"),
        ),
    ),
    (
        "Functions",
        (
            ("s", "sort by self or total time"),
            ("enter / click", "callers and callees of the function (sandwich)"),
            ("enter on a caller", "move the sandwich to it; backspace goes back"),
            ("g", "the function in the flame graph"),
        ),
    ),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for title, keys in SECTIONS:
            table.add_row(Text(title, style="bold underline"), "")
            for key, what in keys:
                table.add_row(key, what)
            table.add_row("", "")
        with VerticalScroll(id="help-body"):
            yield Static(Text("perftui — keys", style="bold"))
            yield Static(table)
            yield Static(Text("escape closes", style="dim"))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
