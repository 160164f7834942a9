"""The app in live mode: entries appended to the log show up in place, and quitting stores the
resume point."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from perftui.store.results import first

pytest.importorskip("perftui.tui.app")

from perftui.tail.live_app import LiveApp
from tests.tail.helpers import append
from tests.tail.test_headless import slow_entry
from tests.tail.test_ingest_live import MYSQL_HEADER
from tests.tui.helpers import run_async, table_rows, text_of


async def until(pilot, cond: Callable[[], bool], timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Let the app run until ``cond()`` holds (AssertionError after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; subtitle: {pilot.app.sub_title!r}")
        await pilot.pause(0.1)


@run_async
async def test_live_app_updates_in_place_and_stores_the_resume_point(tmp_path: Path) -> None:
    log = tmp_path / "slow.log"
    db = tmp_path / "tail.duckdb"
    append(log, MYSQL_HEADER + slow_entry(1, 0.5, "SELECT id FROM users WHERE id = 1;"))
    app = LiveApp(str(db), [str(log)], from_start=True)
    app.open_store()
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "● live" in str(app.sub_title))
        await until(pilot, lambda: "1 queries" in text_of(app.screen.query_one("#totals")))
        append(
            log,
            "".join(
                slow_entry(i, 0.2, f"SELECT * FROM orders WHERE id = {i};") for i in range(2, 12)
            ),
        )
        await until(pilot, lambda: "11 queries" in text_of(app.screen.query_one("#totals")))
        assert "2 classes" in text_of(app.screen.query_one("#totals"))
        await pilot.press("2")
        await until(pilot, lambda: len(table_rows(app.screen.query_one("#classes"))) == 2)
        table = app.screen.query_one("#classes")
        table.move_cursor(row=1)
        await pilot.pause()
        append(
            log,
            "".join(
                slow_entry(i, 0.1, f"SELECT name FROM products WHERE id = {i};")
                for i in range(12, 15)
            ),
        )
        await until(pilot, lambda: len(table_rows(app.screen.query_one("#classes"))) == 3)
        assert app.screen.query_one("#classes").cursor_row == 1  # the selection stayed put
        await until(pilot, lambda: "entries/s" in str(app.sub_title))
        await pilot.press("q")
        await asyncio.sleep(0)
    with duckdb.connect(str(db), read_only=True) as con:
        n, lines = first(con.execute("SELECT count(*), count(DISTINCT line_start) FROM entries"))
        bytes_read, size = first(
            con.execute("SELECT bytes_read, ? FROM sources", [log.stat().st_size])
        )
    # The last entry may still have been open when the app quit: it is read again next time.
    assert n == lines and n in (13, 14)
    assert bytes_read <= size
