"""``perftui tail FILE…`` (without ``--headless``): the app in live mode.

A thread worker follows the files into the store with the same loop as the headless mode. Every
``REFRESH_S`` seconds, if entries arrived, the app re-summarises the query classes and hands the
new numbers to every screen that asked for them, so the overview, the queries table and the
findings update in place: a screen keeps its own cursor and scroll position (the queries table
keeps its row window, the findings list re-selects the finding that was selected). The
advisor runs again at most every ``ANALYSE_EVERY_S`` seconds (longer where it is slow). The
header's subtitle is the live indicator: entries per second and how far behind the files the
tail is.

This drives :class:`~perftui.tui.app.PerftuiApp` from outside, through its public hooks, with
two differences forced by DuckDB: one process cannot hold the store both read-only (the app)
and read-write (the tail), so the live app's store is opened read-write; and the advisor cannot
run in a child process that would open the locked file, so it runs in a worker thread.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from perftui.ingest.formats import ParseOptions
from perftui.ingest.incremental import Written
from perftui.rules.base import Finding
from perftui.store import schema
from perftui.tail.headless import finding_key
from perftui.tail.ingest_live import LiveIngest, follow_loop
from perftui.tail.watcher import Watcher, make_watcher
from perftui.textsafe import clean
from perftui.tui import app as tui_app
from perftui.tui import data
from perftui.tui.app import PerftuiApp

REFRESH_S = 2.0
ANALYSE_EVERY_S = 5.0
INDICATOR_S = 1.0
STOP_WAIT_S = 15.0


def read_write_store(path: str) -> data.Store:
    """A ``data.Store`` on a read-write connection (``Store`` opens read-only, and DuckDB will
    not open one file both ways in one process). Only the connect call is swapped, for the
    time of the constructor, so the Store is otherwise the app's own."""
    connect = schema.connect

    def read_write(p: Any, *, read_only: bool = False) -> Any:
        return connect(p)

    with mock.patch.object(schema, "connect", read_write):
        return data.Store(path)


class InProcessAdvisor:
    """Stands in for the app's ``ChildRunner``: the advisor in a worker thread of this process,
    reading through the store's own connection (a child could not open the locked file)."""

    def __init__(self, app: LiveApp) -> None:
        self._app = app

    def run(self, module: str, *args: str) -> data.Analysis:
        store = self._app.store
        if store is None:
            raise data.StoreClosed
        with store.cursor() as cur:
            return data.analyse(cur)

    def close(self) -> None:
        """Nothing to kill: closing the store interrupts a running analysis."""


class LiveApp(PerftuiApp):
    """The app, with a worker following ``files`` into its store (see the module docstring)."""

    # Textual resolves a relative CSS_PATH next to the subclass's module: point to the app's.
    CSS_PATH = str(Path(tui_app.__file__).with_name(str(PerftuiApp.CSS_PATH)))

    def __init__(
        self,
        db_path: str,
        files: list[str],
        *,
        from_start: bool = False,
        log_format: str | None = None,
        prefix: str | None = None,
        force_polling: bool = False,
    ) -> None:
        super().__init__(db_path)
        self.child_runs = InProcessAdvisor(self)  # type: ignore[assignment]
        self.files = files
        self._from_start = from_start
        self._log_format = log_format
        self._prefix = prefix
        self._force_polling = force_polling
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._tail_started = False
        self._watcher: Watcher | None = None
        self._fresh = 0  # entries stored since the last refresh (written by the tail thread)
        self._stats: tuple[float, int, float, int] = (0.0, 0, 0.0, 0)  # rate, lag B, lag s, total
        self._notices: list[str] = []
        self._refreshing = False
        self._analysing = False
        self._findings_stale = False
        self._next_analysis = 0.0
        self._hooks: dict[str, list[tuple[Any, Callable[[Any], None]]]] = {
            "store": [],
            "classes": [],
            "analysis": [],
        }
        self.tail_error: str | None = None

    # ------------------------------------------------------------------ the store and its hooks

    def open_store(self) -> None:
        self.store = read_write_store(self.db_path)

    def show_empty(self) -> None:
        """Nothing stored yet is normal when tailing: the screens fill in as entries arrive."""

    def when_store_ready(self, node: Any, callback: Callable[[data.Store], None]) -> None:
        self._hooks["store"].append((node, callback))
        super().when_store_ready(node, callback)

    def when_classes_ready(self, node: Any, callback: Callable[[int], None]) -> None:
        self._hooks["classes"].append((node, callback))
        super().when_classes_ready(node, callback)

    def when_analysed(self, node: Any, callback: Callable[[data.Analysis], None]) -> None:
        self._hooks["analysis"].append((node, callback))
        super().when_analysed(node, callback)

    def _call_hooks(self, name: str, value: Any) -> None:
        """Hand ``value`` to every screen that asked for it and is still there."""
        alive = []
        for node, callback in self._hooks[name]:
            if not (node.is_attached and node.is_running):
                continue
            alive.append((node, callback))
            if name == "analysis":
                callback = _keeping_selection(node, callback)
            node.call_next(callback, value)
        self._hooks[name] = alive

    # ------------------------------------------------------------------ the tail worker

    def on_mount(self) -> None:
        # (PerftuiApp.on_mount runs too: Textual calls the handler of every class.)
        self._tail_started = True
        self.run_worker(self._follow, name="tail", group="tail", thread=True, exit_on_error=False)
        self.set_interval(REFRESH_S, self._refresh)
        self.set_interval(INDICATOR_S, self._show_indicator)
        self._show_indicator()

    def _follow(self) -> None:
        """The tail loop (a thread worker): stores entries and counts them for the refresh."""
        store = self.store
        try:
            if store is None:
                return
            with store.cursor() as cur:
                live = LiveIngest(
                    cur,
                    self.files,
                    from_start=self._from_start,
                    log_format=self._log_format,
                    options=ParseOptions(prefix=self._prefix),
                    notice=self._notices.append,
                )
                watcher = make_watcher(self.files, force_polling=self._force_polling)
                self._watcher = watcher
                last = [0.0]

                def on_written(written: list[Written]) -> None:
                    self._fresh += sum(w.entries for w in written)

                def tick() -> float:
                    now = time.monotonic()
                    if now - last[0] >= INDICATOR_S / 2:
                        last[0] = now
                        self._stats = (
                            live.rate(),
                            live.lag_bytes(),
                            live.lag_seconds(),
                            live.entries_written,
                        )
                    return INDICATOR_S / 2

                try:
                    follow_loop(live, watcher, on_written, self._stop.is_set, tick=tick)
                finally:
                    watcher.close()
                    on_written(live.stop())
        except data.StoreClosed:
            pass
        except Exception as exc:  # shown in the indicator; the app stays usable
            self.tail_error = f"{type(exc).__name__}: {exc}"
        finally:
            self._stopped.set()

    def _show_indicator(self) -> None:
        for text in self._notices[:]:
            self._notices.remove(text)
            self.notify(clean(text, one_line=True), title="tail", markup=False, timeout=6)
        if self.tail_error is not None:
            self.sub_title = clean(f"tail stopped: {self.tail_error}", one_line=True)
            return
        rate, lag_bytes, lag_s, total = self._stats
        lag = "up to date" if not lag_bytes else f"lag {_size(lag_bytes)}, {lag_s:.1f} s"
        self.sub_title = f"● live · {rate:,.0f} entries/s · {lag} · {total:,} new entries"

    # ------------------------------------------------------------------ refreshing the screens

    def _refresh(self) -> None:
        """Timer: rebuild the class summary if entries arrived; re-run the advisor when due."""
        if self.store is None:
            return
        if self._fresh and not self._refreshing:
            self._refreshing = True
            self._fresh = 0
            self.read(data.build_class_cache, then=self._classes_rebuilt, group="live-classes")
        else:
            self._maybe_analyse()

    def _classes_rebuilt(self, n: int) -> None:
        self._refreshing = False
        first = self.class_count is None
        self.class_count = n
        if self.store is not None:
            self._call_hooks("store", self.store)
        self._call_hooks("classes", n)
        if first:
            self.classes_ready.publish(n)
        self._findings_stale = bool(n)
        self._maybe_analyse()

    def _maybe_analyse(self) -> None:
        """The advisor again, if entries arrived since its last run and it is due: at most
        every ANALYSE_EVERY_S seconds, or ten times as long as it took last time."""
        now = time.monotonic()
        if not self._findings_stale or self._analysing or now < self._next_analysis:
            return
        self._analysing = True
        self._findings_stale = False
        started = now

        def landed(analysis: data.Analysis) -> None:
            took = time.monotonic() - started
            self._analysing = False
            self._next_analysis = time.monotonic() + max(ANALYSE_EVERY_S, 10 * took)
            self._reanalysed(analysis)

        self.read(_analyse, then=landed, group="live-analyse")

    def _reanalysed(self, analysis: data.Analysis) -> None:
        self.analysis = analysis
        self._call_hooks("analysis", analysis)
        if analysis.class_tables:
            self.read(data.update_cached_tables, analysis.class_tables, then=lambda _r: None)

    # ------------------------------------------------------------------ quitting

    def stop_tail(self, timeout: float = STOP_WAIT_S) -> bool:
        """Stop following and wait until the resume points are stored."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.wake()
        return not self._tail_started or self._stopped.wait(timeout)

    def exit(self, result: int | None = None, return_code: int = 0, message: Any = None) -> None:
        self.stop_tail()
        super().exit(result, return_code, message)


def _analyse(cur: Any) -> data.Analysis:
    return data.analyse(cur)


def _keeping_selection(node: Any, callback: Callable[[Any], None]) -> Callable[[Any], None]:
    """For a screen that shows one finding (``finding`` / ``select_finding``): after the new
    analysis lands, select the same finding again (matched by rule and subject)."""
    if not (hasattr(node, "finding") and hasattr(node, "select_finding")):
        return callback

    def refreshed(analysis: data.Analysis) -> None:
        current: Finding | None = node.finding
        callback(analysis)
        if current is None:
            return
        key = finding_key(current)
        for i, f in enumerate(analysis.findings):
            if finding_key(f) == key:
                node.select_finding(i)
                return

    return refreshed


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def run(args: argparse.Namespace) -> int:
    """``perftui tail`` in the app; returns the exit code."""
    app = LiveApp(
        args.db,
        list(args.files),
        from_start=args.from_start,
        log_format=args.log_format,
        prefix=args.prefix,
        force_polling=args.poll,
    )
    app.open_store()
    result = app.run()
    if app.return_code:
        return app.return_code
    return int(result or 0)
