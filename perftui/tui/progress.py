"""Ingest behind a progress screen (``perftui open FILE…``), then the app opens the store.

The CLI passes an ``IngestJob``: a callable that ingests with its own read-write connection,
closes it before returning (DuckDB refuses a read-write and a read-only connection to one file
in one process), and reports through the ``IngestProgress`` it is given. It runs in a daemon
thread, so quitting during a long ingest does not wait for it (an interrupted ingest is resumed
by the next one, as after Ctrl-C in ``perftui ingest``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Header, ProgressBar, RichLog, Static

from perftui.textsafe import clean
from perftui.tui.keybar import KeyBar


class IngestProgress:
    """What an ``IngestJob`` reports through. Thread-safe and never blocks the ingest: the
    screen polls it ten times a second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.path: str | None = None
        self.size: int | None = None
        self.done = 0
        self.lines: list[tuple[str, bool]] = []
        self.errors = 0
        self.finished = False

    def file(self, path: str, size: int | None) -> None:
        """A new input starts; ``size`` in bytes when known (else the bar is indeterminate)."""
        with self._lock:
            self.path, self.size, self.done = path, size, 0

    def advance(self, done: int) -> None:
        """Bytes of the current input consumed so far (pass it as ``on_progress``)."""
        self.done = done

    def message(self, text: str) -> None:
        """One result line, e.g. "app.log: ingested as mysql-slow: …"."""
        with self._lock:
            self.lines.append((text, False))

    def error(self, text: str) -> None:
        """One failure line; the screen then waits for Enter so it can be read."""
        with self._lock:
            self.lines.append((text, True))
            self.errors += 1

    def take_lines(self) -> list[tuple[str, bool]]:
        with self._lock:
            lines, self.lines = self.lines, []
        return lines


IngestJob = Callable[[IngestProgress], object]


class ProgressScreen(Screen[bool]):
    """Runs the job; dismisses itself with True when it succeeded, waits for Enter on errors."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "continue", "Continue", show=False),
    ]

    def __init__(self, job: IngestJob) -> None:
        super().__init__()
        self.job = job
        self.progress = IngestProgress()
        self._shown_path: str | None = None
        self._reported = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="progress-body"):
            yield Static(Text("Ingesting…", style="bold"), id="progress-file")
            yield ProgressBar(id="progress-bar", show_eta=True)
            yield RichLog(id="progress-log", markup=False, wrap=True)
        yield KeyBar()

    def on_mount(self) -> None:
        threading.Thread(target=self._run, name="perftui-ingest", daemon=True).start()
        self.set_interval(0.1, self._poll)

    def _run(self) -> None:
        try:
            self.job(self.progress)
        except Exception as exc:  # a bug or an unexpected I/O error: show it, keep the app
            self.progress.error(f"{type(exc).__name__}: {exc}")
        self.progress.finished = True

    def _poll(self) -> None:
        p = self.progress
        if p.path != self._shown_path and p.path is not None:
            self._shown_path = p.path
            self.query_one("#progress-file", Static).update(
                Text(f"Ingesting {clean(p.path, one_line=True)}", style="bold")
            )
            self.query_one("#progress-bar", ProgressBar).update(total=p.size, progress=0)
        self.query_one("#progress-bar", ProgressBar).update(progress=p.done)
        log = self.query_one("#progress-log", RichLog)
        for text, is_error in p.take_lines():
            log.write(Text(clean(text, one_line=True), style="red" if is_error else ""))
        if p.finished and not self._reported:
            self._reported = True
            if p.errors:
                self.query_one("#progress-file", Static).update(
                    Text(
                        "Some inputs failed (see below). Enter opens what was loaded.",
                        style="bold red",
                    )
                )
            else:
                self.dismiss(True)

    def action_continue(self) -> None:
        if self.progress.finished:
            self.dismiss(not self.progress.errors)
