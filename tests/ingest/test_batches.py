"""Entries reach the store in batches of exactly ``FLUSH_ENTRIES`` rows (DuckDB writes whole row
groups straight to the file); cutting them there must not lose or repeat an entry, and entry
numbers stay 0..n-1 (PostgreSQL entries finish out of line order when sessions interleave; they
are sorted by first line within what is handed over together, so numbers may differ from a
single batch's)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from perftui.ingest import driver
from perftui.store import schema, writer
from tests.conftest import sample
from tests.ingest.test_interrupted import snapshot

LOGS = ("postgresql.log", "postgresql.csv", "mariadb-slow.log")


def ingest(db: Path, log: Path, flush: int, line_bytes: int, monkeypatch: pytest.MonkeyPatch):
    """Ingest ``log``, converting every 10 entries; the row counts of the batches stored."""
    sizes: list[int] = []
    insert_entries = writer.insert_entries

    def counting(con, source_id: int, batch: writer.Classified) -> None:
        sizes.append(batch.entries.num_rows)
        insert_entries(con, source_id, batch)

    with monkeypatch.context() as patch, schema.connect(db) as con:
        patch.setattr(driver, "FLUSH_ENTRIES", flush)
        patch.setattr(driver, "CONVERT_ENTRIES", 10)
        patch.setattr(driver, "LINE_BATCH_BYTES", line_bytes)
        patch.setattr(writer, "insert_entries", counting)
        driver.ingest_path(con, str(log))
    return sizes


@pytest.mark.parametrize("name", LOGS)
@pytest.mark.parametrize("pure_python", [False, True])
def test_batches_are_whole_and_store_what_one_batch_stores(
    name: str, pure_python: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if pure_python:
        monkeypatch.setenv("PERFTUI_PURE_PYTHON", "1")
    log = sample(name)
    one, cut = tmp_path / "one.duckdb", tmp_path / "cut.duckdb"
    assert len(ingest(one, log, 10**9, 1 << 30, monkeypatch)) == 1
    # Line batches of 3 KiB hand over a few dozen entries at a time, never a multiple of 37.
    sizes = ingest(cut, log, 37, 3 * 1024, monkeypatch)
    assert len(sizes) > 3
    # Two threads store batches, so the short last one need not be stored last.
    *whole, last = sorted(sizes, reverse=True)
    assert all(n == 37 for n in whole) and 0 < last <= 37
    expected, got = snapshot(one), snapshot(cut)
    assert by_line(got.pop("entries")) == by_line(expected.pop("entries"))
    assert got == expected


def by_line(entries: list[tuple]) -> list[tuple]:
    """Entries in line order without their number, once the numbers are checked to be 0..n-1."""
    assert sorted(e[1] for e in entries) == list(range(len(entries)))
    return sorted((e[:1] + e[2:] for e in entries), key=lambda e: e[1])


@pytest.mark.parametrize("name", LOGS)
def test_threads_get_the_gil_quickly_while_parsing_and_the_interval_comes_back(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parser holds the GIL while the fingerprinting and storing threads wait for it: the
    switch interval is short during the ingest, and what it was afterwards (also after a
    failure)."""
    seen: list[float] = []
    insert_entries = writer.insert_entries

    def recording(con, source_id: int, batch: writer.Classified) -> None:
        seen.append(sys.getswitchinterval())
        insert_entries(con, source_id, batch)

    before = sys.getswitchinterval()
    monkeypatch.setattr(writer, "insert_entries", recording)
    with schema.connect(tmp_path / "s.duckdb") as con:
        driver.ingest_path(con, str(sample(name)))
    assert seen and max(seen) <= driver.SWITCH_INTERVAL_S < before
    assert sys.getswitchinterval() == before

    def failing(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "insert_entries", failing)
    with schema.connect(tmp_path / "t.duckdb") as con, pytest.raises(RuntimeError):
        driver.ingest_path(con, str(sample(name)))
    assert sys.getswitchinterval() == before
