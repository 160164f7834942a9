"""Both watcher implementations wake on a change, time out otherwise, and can be woken."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from perftui.tail.watcher import NotifyWatcher, PollWatcher, Watcher, make_watcher
from tests.tail.helpers import append


def _make(kind: str, path: Path) -> Watcher:
    if kind == "notify":
        pytest.importorskip("watchfiles")
        return NotifyWatcher([str(path)])
    return PollWatcher([str(path)], interval=0.05)


@pytest.mark.parametrize("kind", ["notify", "poll"])
def test_wakes_on_append_rename_and_creation(tmp_path: Path, kind: str) -> None:
    log = tmp_path / "a.log"
    append(log, "x\n")
    w = _make(kind, log)
    try:
        time.sleep(0.2)  # the notification thread is watching
        w.wait(0)  # forget anything seen while starting
        assert w.wait(0.3) is False
        for change in (
            lambda: append(log, "y\n"),
            lambda: log.rename(tmp_path / "a.log.1"),
            lambda: append(log, "new file\n"),
        ):
            timer = threading.Timer(0.1, change)
            timer.start()
            start = time.monotonic()
            assert w.wait(5.0) is True
            assert time.monotonic() - start < 2.0
            timer.join()
            time.sleep(0.3)  # let the debounce window pass
            w.wait(0)
    finally:
        w.close()


@pytest.mark.parametrize("kind", ["notify", "poll"])
def test_wake_interrupts_a_wait(tmp_path: Path, kind: str) -> None:
    log = tmp_path / "a.log"
    w = _make(kind, log)
    try:
        threading.Timer(0.1, w.wake).start()
        start = time.monotonic()
        assert w.wait(10.0) is True
        assert time.monotonic() - start < 2.0
    finally:
        w.close()


def test_other_files_in_the_directory_do_not_wake_it(tmp_path: Path) -> None:
    pytest.importorskip("watchfiles")
    log = tmp_path / "a.log"
    append(log, "x\n")
    w = NotifyWatcher([str(log)])
    try:
        time.sleep(0.2)
        w.wait(0)
        threading.Timer(0.05, lambda: append(tmp_path / "other.log", "z\n")).start()
        assert w.wait(0.6) is False
    finally:
        w.close()


def test_make_watcher_falls_back_to_polling(tmp_path: Path) -> None:
    w = make_watcher([str(tmp_path / "no-such-dir" / "a.log")])
    assert w.kind == "poll"
    w.close()
    w = make_watcher([str(tmp_path / "a.log")], force_polling=True)
    assert w.kind == "poll"
    w.close()


def test_without_watchfiles_it_polls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "watchfiles", None)  # "import watchfiles" fails
    w = make_watcher([str(tmp_path / "a.log")])
    assert w.kind == "poll"
    w.close()
