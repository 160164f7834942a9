"""Waking the tail loop when a followed file may have changed, without a busy loop.

One interface, two implementations (as in toolong): ``NotifyWatcher`` uses OS file-change
notification through ``watchfiles`` (inotify on Linux) on the files' directories, so a rename,
a deletion or a new file under the followed name wakes the loop too; ``PollWatcher`` compares
``stat`` results a few times a second. Either way the caller re-reads the files itself: a watcher
only says "look now", so a missed or spurious wake-up costs latency, never data.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

POLL_INTERVAL_S = 0.2
# watchfiles groups changes for up to DEBOUNCE_MS (it waits STEP_MS of quiet first), so a
# steady writer still wakes the loop several times a second.
DEBOUNCE_MS = 150
STEP_MS = 30


class Watcher(Protocol):
    """Blocks until one of the watched paths may have changed."""

    kind: str  # "notify" or "poll", for the user

    def wait(self, timeout: float | None) -> bool:
        """Return True when woken by a change (or ``wake``), False after ``timeout`` seconds."""
        ...

    def wake(self) -> None:
        """Make a pending or the next ``wait`` return at once (e.g. to stop the loop)."""
        ...

    def close(self) -> None: ...


def _signature(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class PollWatcher:
    """Compares each path's (device, inode, size, mtime) every ``interval`` seconds."""

    kind = "poll"

    def __init__(self, paths: Iterable[str], interval: float = POLL_INTERVAL_S) -> None:
        self._paths = [str(p) for p in paths]
        self._interval = interval
        self._seen = {p: _signature(p) for p in self._paths}
        self._woken = threading.Event()

    def _changed(self) -> bool:
        changed = False
        for p in self._paths:
            sig = _signature(p)
            if sig != self._seen[p]:
                self._seen[p] = sig
                changed = True
        return changed

    def wait(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._changed():
                return True
            step = self._interval
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                step = min(step, left)
            if self._woken.wait(step):
                self._woken.clear()
                return True

    def wake(self) -> None:
        self._woken.set()

    def close(self) -> None:
        self._woken.set()


class NotifyWatcher:
    """A ``watchfiles`` thread on the parent directories, filtered to the followed names.

    If the notification thread dies (a directory removed, an inotify limit), ``wait`` goes on
    as a ``PollWatcher`` so following never stops.
    """

    kind = "notify"

    def __init__(self, paths: Iterable[str]) -> None:
        import watchfiles

        self._paths = [os.path.abspath(p) for p in paths]
        self._names = set(self._paths)
        dirs = sorted({os.path.dirname(p) for p in self._paths})
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._fallback = PollWatcher(self._paths)
        self._failed = False

        def wanted(_change: object, path: str) -> bool:
            return path in self._names

        def run() -> None:
            try:
                for _changes in watchfiles.watch(
                    *dirs,
                    watch_filter=wanted,
                    debounce=DEBOUNCE_MS,
                    step=STEP_MS,
                    stop_event=self._stop,
                    recursive=False,
                    raise_interrupt=False,
                    ignore_permission_denied=True,
                ):
                    self._changed.set()
            except Exception:  # any failure means: poll instead
                self._failed = True
                self._changed.set()

        self._thread = threading.Thread(target=run, name="perftui-watch", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        return self._failed

    def wait(self, timeout: float | None) -> bool:
        if self._failed and not self._stop.is_set():
            return self._fallback.wait(timeout)
        woken = self._changed.wait(timeout)
        self._changed.clear()
        return woken

    def wake(self) -> None:
        self._changed.set()
        self._fallback.wake()

    def close(self) -> None:
        self._stop.set()
        self._changed.set()
        self._fallback.close()
        self._thread.join(timeout=2.0)


def make_watcher(paths: Iterable[str], *, force_polling: bool = False) -> Watcher:
    """A ``NotifyWatcher`` when watchfiles is installed and every directory exists, else a
    ``PollWatcher``."""
    paths = [str(p) for p in paths]
    if not force_polling and all(Path(p).absolute().parent.is_dir() for p in paths):
        try:
            return NotifyWatcher(paths)
        except ImportError:
            pass
    return PollWatcher(paths)
