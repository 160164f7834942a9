"""Reading the store off the UI thread: a worker per read, the result posted back as a message.

Screens mix in ``Reader`` and call ``self.read(fn, *args, then=callback)``: ``fn(cursor, *args)``
runs in a thread worker with its own DuckDB cursor, and ``callback(result)`` runs on the UI thread.
A newer read in the same group replaces an older one, whose result is then dropped.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from textual.message import Message
from textual.worker import Worker, get_current_worker

from perftui.textsafe import clean
from perftui.tui.data import StoreClosed

if TYPE_CHECKING:
    from perftui.tui.app import PerftuiApp

T = TypeVar("T")


class ReadDone(Message, bubble=False):
    """A worker's result, delivered on the UI thread."""

    def __init__(self, callback: Callable[[Any], None], result: Any, seconds: float) -> None:
        super().__init__()
        self.callback = callback
        self.result = result
        self.seconds = seconds


class ReadFailed(Message, bubble=False):
    def __init__(self, what: str, error: BaseException) -> None:
        super().__init__()
        self.what = what
        self.error = error


class Reader:
    """Mixin for widgets and screens that read the store."""

    def read(
        self,
        fn: Callable[..., T],
        *args: Any,
        then: Callable[[T], None],
        group: str | None = None,
        **kwargs: Any,
    ) -> Worker[None]:
        node: Any = self
        app: PerftuiApp = node.app
        store = app.store
        if store is None:
            raise RuntimeError("no store open")

        name = group or getattr(fn, "__name__", "read")
        tag = (id(node), name)
        store.interrupt(tag)  # the read this one replaces is of no use any more

        def work() -> None:
            worker = get_current_worker()
            start = time.perf_counter()
            try:
                with store.cursor(tag) as cur:
                    result = fn(cur, *args, **kwargs)
            except StoreClosed:
                return
            except Exception as exc:  # shown to the user; the app keeps running
                if not worker.is_cancelled:
                    node.post_message(ReadFailed(getattr(fn, "__name__", "read"), exc))
                return
            if not worker.is_cancelled:
                node.post_message(ReadDone(then, result, time.perf_counter() - start))

        return node.run_worker(
            work,
            name=name,
            group=name,
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def on_read_done(self, message: ReadDone) -> None:
        message.stop()
        message.callback(message.result)

    def on_read_failed(self, message: ReadFailed) -> None:
        message.stop()
        node: Any = self
        node.log.error(f"{message.what} failed", message.error)
        node.notify(
            clean(f"{message.what} failed: {type(message.error).__name__}: {message.error}"),
            severity="error",
            markup=False,
            timeout=10,
        )


class ChildRunner:
    """Runs ``python -m MODULE ARGS…`` children that pickle their result to stdout.

    For pure-Python work (the advisor): in a thread it would share the GIL with the UI and make
    every key press wait. ``close`` kills running children, so quitting never waits either.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._closed = False

    def run(self, module: str, *args: str) -> Any:
        """Blocks the calling (worker) thread until the child is done; returns its result."""
        with self._lock:
            if self._closed:
                raise StoreClosed
            proc = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            self._running.add(proc)
        try:
            out, err = proc.communicate()
        finally:
            with self._lock:
                self._running.discard(proc)
        if self._closed:
            raise StoreClosed
        if proc.returncode != 0:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"{module} exited with {proc.returncode}")
        return pickle.loads(out)  # our own child's output, never the log's

    def close(self) -> None:
        with self._lock:
            self._closed = True
            running = list(self._running)
        for proc in running:
            proc.kill()
