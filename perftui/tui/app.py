"""The perftui terminal app: screens as modes, the store read in workers, one stylesheet.

``run_app(db_path)`` is what the CLI calls (``perftui`` and ``perftui open``). The app opens the
store read-only, so it can run next to ``perftui analyze`` on the same file; each top-level view
(Overview, Queries, Findings, Flame graph, Functions) is a Textual mode with its own screen stack,
and the Query detail screen is pushed onto whichever mode opened it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.signal import Signal

from perftui.store import schema
from perftui.textsafe import clean
from perftui.tui import data
from perftui.tui.background import ChildRunner, Reader
from perftui.tui.empty import EmptyScreen
from perftui.tui.findings import FindingsScreen
from perftui.tui.flame import FlameScreen
from perftui.tui.functions import FunctionsScreen
from perftui.tui.help import HelpScreen
from perftui.tui.overview import OverviewScreen
from perftui.tui.palette import PerftuiProvider
from perftui.tui.progress import IngestJob, ProgressScreen
from perftui.tui.queries import QueriesScreen
from perftui.tui.query_detail import QueryDetailScreen

VIEWS: tuple[tuple[str, str, str], ...] = (
    ("1", "overview", "Overview"),
    ("2", "queries", "Queries"),
    ("3", "findings", "Findings"),
    ("4", "flame", "Flame"),
    ("5", "functions", "Functions"),
)

VIEW_GROUP = Binding.Group("Views", compact=True)


class PerftuiApp(Reader, App[int]):
    """Browse query classes, findings and profiles of one perftui store."""

    CSS_PATH = "app.tcss"
    TITLE = "perftui"
    MODES: ClassVar[dict[str, Any]] = {
        "overview": OverviewScreen,
        "queries": QueriesScreen,
        "findings": FindingsScreen,
        "flame": FlameScreen,
        "functions": FunctionsScreen,
    }
    DEFAULT_MODE = "overview"
    COMMANDS = App.COMMANDS | {PerftuiProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(key, f"view('{mode}')", label, group=VIEW_GROUP) for key, mode, label in VIEWS),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, db_path: str | Path, *, ingest: IngestJob | None = None) -> None:
        super().__init__()
        self.db_path = str(db_path)
        self.sub_title = clean(self.db_path, one_line=True)
        self.store: data.Store | None = None
        self.class_count: int | None = None  # set once the Queries summary is built
        self.analysis: data.Analysis | None = None
        self.store_ready: Signal[data.Store] = Signal(self, "store_ready")
        self.classes_ready: Signal[int] = Signal(self, "classes_ready")
        self.findings_ready: Signal[data.Analysis] = Signal(self, "findings_ready")
        self.child_runs = ChildRunner()
        self._ingest = ingest
        self._started = False
        self._summarising = False
        self._empty = False

    # ------------------------------------------------------------------ start-up

    def open_store(self) -> None:
        """Open the store read-only (None when the file does not exist yet: nothing to show)."""
        if Path(self.db_path).exists():
            self.store = data.Store(self.db_path)

    def on_mount(self) -> None:
        if self._ingest is not None:
            self.push_screen(ProgressScreen(self._ingest), self._ingest_done)
            return
        self._start()

    def _ingest_done(self, _result: object) -> None:
        try:
            self.open_store()
        except schema.StoreError as exc:
            self.exit(2, message=Text(f"perftui: {clean(str(exc), one_line=True)}"))
            return
        self._start()

    def _start(self) -> None:
        if self.store is None:
            self.show_empty()
            return
        self._started = True
        self.call_after_refresh(lambda: self.screen.refresh_bindings())  # views now available
        self.store_ready.publish(self.store)
        # The class summary competes with the Overview's reads for the same cores: it starts
        # once the first screen has its numbers (or after 5 s, should one of them fail).
        self.set_timer(5.0, self.first_screen_done)

    def first_screen_done(self) -> None:
        if self.store is not None and not self._summarising:
            self._summarising = True
            self.read(data.build_class_cache, then=self._classes_built, group="class-cache")

    def _classes_built(self, n: int) -> None:
        self.class_count = n
        self.classes_ready.publish(n)
        runner, path = self.child_runs, self.db_path

        def advisor(_cur: object) -> data.Analysis:
            return runner.run("perftui.tui.advisor", path)

        self.read(advisor, then=self._analysed, group="analyse")

    def _analysed(self, analysis: data.Analysis) -> None:
        self.analysis = analysis
        self.findings_ready.publish(analysis)
        if self.store is not None:
            self.read(data.update_cached_tables, analysis.class_tables, then=lambda _: None)

    def show_empty(self) -> None:
        """Nothing in the store: say how to get data in, instead of empty tables."""
        if not self._empty:
            self._empty = True
            self.push_screen(EmptyScreen())

    def exit(self, result: int | None = None, return_code: int = 0, message: Any = None) -> None:
        self.child_runs.close()
        if self.store is not None:
            self.store.close()  # interrupts running reads, so quitting never waits on DuckDB
        super().exit(result, return_code, message)

    # ------------------------------------------------------------------ navigation

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # No views while there is nothing to show, or while an ingest is still filling the store.
        return not (action == "view" and (self._empty or not self._started))

    def action_view(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)
        elif len(self.screen_stack) > 1:
            # Pressing the view's key again goes back to its top level.
            while len(self.screen_stack) > 1:
                self.pop_screen()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_class(self, class_id: str) -> None:
        """Push the Query detail of ``class_id`` on the current view."""
        self.push_screen(QueryDetailScreen(class_id))

    def open_function(self, name: str, file: str | None = None, line: int | None = None) -> None:
        """The Functions view with the sandwich of ``name`` (a call site a finding links to)."""
        self._in_view("functions", FunctionsScreen, lambda s: s.select_function(name, file, line))

    def open_finding(self, finding_index: int) -> None:
        self._in_view("findings", FindingsScreen, lambda s: s.select_finding(finding_index))

    def show_in_flame(self, text: str) -> None:
        """The Flame graph with ``text`` searched (its frames lit, their share shown)."""
        self._in_view("flame", FlameScreen, lambda s: s.search_for(text))

    def show_queries(self, filter_text: str) -> None:
        self._in_view("queries", QueriesScreen, lambda s: s.set_filter(filter_text))

    def _in_view(self, mode: str, kind: type[Screen], then: Callable[[Any], None]) -> None:
        """Switch to ``mode`` and, once its screen is composed, hand it to ``then``."""
        while len(self.screen_stack) > 1 and self.current_mode == mode:
            self.pop_screen()
        mounted = self.switch_mode(mode)

        async def when_mounted() -> None:
            await mounted
            screen = self.screen
            if isinstance(screen, kind):
                then(screen)

        self.call_later(when_mounted)

    def when_store_ready(self, node: Any, callback: Callable[[data.Store], None]) -> None:
        """Call ``callback`` once the store is open (now, if it is; never, if it is empty)."""
        if self._started and self.store is not None:
            callback(self.store)
        else:
            self.store_ready.subscribe(node, callback)

    def when_classes_ready(self, node: Any, callback: Callable[[int], None]) -> None:
        """Call ``callback`` once the Queries summary exists (now, if it already does)."""
        if self.class_count is not None:
            callback(self.class_count)
        else:
            self.classes_ready.subscribe(node, callback)

    def when_analysed(self, node: Any, callback: Callable[[data.Analysis], None]) -> None:
        if self.analysis is not None:
            callback(self.analysis)
        else:
            self.findings_ready.subscribe(node, callback)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for _key, mode, label in VIEWS:
            yield SystemCommand(
                f"Go to {label}", f"Switch to the {label} view", lambda m=mode: self.action_view(m)
            )


def run_app(db_path: str, ingest: IngestJob | None = None) -> int:
    """Run the app on ``db_path``; ``ingest`` (optional) runs first behind a progress screen.

    Returns the process exit code: 0, or 2 when the store cannot be opened (the reason is
    printed as one line on stderr, like every other perftui error).
    """
    app = PerftuiApp(db_path, ingest=ingest)
    if ingest is None:
        try:
            app.open_store()
        except schema.StoreError as exc:
            print(f"perftui: {clean(str(exc), one_line=True)}", file=sys.stderr)
            return 2
    result = app.run()
    if app.return_code:
        return app.return_code
    return int(result or 0)
