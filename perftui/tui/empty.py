"""Shown instead of empty tables: the store has no data yet, so say how to get some in."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Static

from perftui.tui.keybar import KeyBar

MESSAGE = Text.assemble(
    ("Nothing to show yet.\n\n", "bold"),
    "Load slow-query logs (PostgreSQL, MySQL/MariaDB):\n\n",
    ("    perftui ingest LOG…\n\n", "bold cyan"),
    "or record a Python program with py-spy:\n\n",
    ("    perftui profile -- python app.py\n\n", "bold cyan"),
    "then run perftui again (or ",
    ("perftui open FILE…", "bold cyan"),
    " does both).",
)


class EmptyScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q,escape", "app.quit", "Quit")]

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield Static(MESSAGE, id="empty-message")
        yield KeyBar()
