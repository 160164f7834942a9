"""An ingest that dies part-way (an error, Ctrl-C, SIGKILL) is repaired by ingesting the file
again: the store then holds exactly what an uninterrupted ingest into a fresh file holds.

Batches are made small (16 KiB, flushes of 20 entries) so that a sample log is written in many
batches and the failure lands after some of them are stored, as on a multi-GB log.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from perftui.ingest import driver
from perftui.store import schema, writer
from perftui.store.results import first
from tests.conftest import sample
from tests.hardening.checks import assert_reconciles, run_cli

BATCH_BYTES = 16 * 1024
FLUSH_ENTRIES = 20
LOGS = ("postgresql.log", "mariadb-slow.log")  # the MariaDB log has rejected lines

# ``perftui ARGS`` with the small batches, killed (SIGKILL: no cleanup at all) right after its
# Nth batch of entries is stored.
KILLED_AFTER = f"""
import os, signal, sys
from perftui import cli
from perftui.ingest import driver
from perftui.store import writer

kill_after = int(sys.argv.pop(1))
driver.FLUSH_ENTRIES = driver.CONVERT_ENTRIES = {FLUSH_ENTRIES}
driver.LINE_BATCH_BYTES = {BATCH_BYTES}
insert_entries, stored = writer.insert_entries, []

def store_then_die(*args, **kwargs):
    insert_entries(*args, **kwargs)
    stored.append(1)
    if len(stored) >= kill_after:
        os.kill(os.getpid(), signal.SIGKILL)

writer.insert_entries = store_then_die
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver, "FLUSH_ENTRIES", FLUSH_ENTRIES)
    monkeypatch.setattr(driver, "CONVERT_ENTRIES", FLUSH_ENTRIES)
    monkeypatch.setattr(driver, "LINE_BATCH_BYTES", BATCH_BYTES)


def snapshot(db: Path) -> dict[str, list]:
    """Everything an ingest stores, but the time it ran."""
    with duckdb.connect(str(db), read_only=True) as con:
        duplicates = first(
            con.execute("SELECT count(*) - count(DISTINCT (source_id, entry_no)) FROM entries")
        )[0]
        assert duplicates == 0
        return {
            name: con.execute(sql).fetchall()
            for name, sql in {
                "sources": "SELECT source_id, path, format, prefix, bytes_read, lines, entries,"
                " reject_lines, complete FROM sources",
                "entries": "SELECT * FROM entries ORDER BY source_id, entry_no",
                "rejects": "SELECT * FROM rejects ORDER BY source_id, line_no",
                "classes": "SELECT class_id, fingerprint FROM query_classes ORDER BY class_id",
            }.items()
        }


def ingest(db: Path, log: Path) -> str:
    """``perftui ingest LOG --db DB``, which must succeed; its message."""
    code, _out, err = run_cli("ingest", str(log), "--db", str(db))
    assert code == 0, err
    return err


def fail_after(monkeypatch: pytest.MonkeyPatch, batches: int, exc: BaseException) -> None:
    """Make storing the batch after ``batches`` stored ones raise ``exc``."""
    insert_entries, stored = writer.insert_entries, []

    def store_or_fail(*args: object, **kwargs: object) -> None:
        if len(stored) >= batches:  # two threads store: both may pass the count at once
            raise exc
        insert_entries(*args, **kwargs)
        stored.append(1)

    monkeypatch.setattr(writer, "insert_entries", store_or_fail)


def interrupted_progress(batches: int) -> Callable[[int], None]:
    """An ``on_progress`` that is a Ctrl-C after ``batches`` batches were read."""
    calls = []

    def on_progress(_offset: int) -> None:
        calls.append(1)
        if len(calls) == batches:
            raise KeyboardInterrupt

    return on_progress


def assert_left_partial(db: Path) -> None:
    """The interrupted run did store part of the file (else the test tests nothing)."""
    with duckdb.connect(str(db), read_only=True) as con:
        complete, entries = first(
            con.execute("SELECT bool_and(complete), (SELECT count(*) FROM entries) FROM sources")
        )
    assert not complete and entries > 0


@pytest.mark.parametrize("name", LOGS)
@pytest.mark.parametrize("failure", ["writer error", "ctrl-c"])
def test_failed_ingest_is_repaired_by_ingesting_again(
    name: str, failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = sample(name)
    clean, db = tmp_path / "clean.duckdb", tmp_path / "db.duckdb"
    ingest(clean, log)
    with monkeypatch.context() as patch, schema.connect(db) as con:
        if failure == "writer error":
            fail_after(patch, 3, RuntimeError("disk full"))
            with pytest.raises(RuntimeError, match="disk full"):
                driver.ingest_path(con, str(log))
        else:
            with pytest.raises(KeyboardInterrupt):
                driver.ingest_path(con, str(log), on_progress=interrupted_progress(3))
    assert_left_partial(db)
    message = ingest(db, log)
    assert "re-reading an interrupted ingest from the start: ingested as" in message
    assert snapshot(db) == snapshot(clean)
    assert_reconciles(db, log.read_bytes())
    assert "already ingested" in ingest(db, log)  # repaired: complete, nothing left to read


@pytest.mark.parametrize("name", LOGS)
def test_killed_ingest_is_repaired_by_ingesting_again(name: str, tmp_path: Path) -> None:
    log = sample(name)
    clean, db = tmp_path / "clean.duckdb", tmp_path / "db.duckdb"
    ingest(clean, log)
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER, "3", "ingest", str(log), "--db", str(db)],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert_left_partial(db)
    assert "re-reading an interrupted ingest from the start" in ingest(db, log)
    assert snapshot(db) == snapshot(clean)
    assert_reconciles(db, log.read_bytes())


@pytest.mark.parametrize("name", LOGS)
def test_failed_append_reads_on_from_the_previous_ingest(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = sample(name).read_bytes()
    cut = data.index(b"\n", len(data) // 3) + 1
    log, clean, db = tmp_path / name, tmp_path / "clean.duckdb", tmp_path / "db.duckdb"
    log.write_bytes(data[:cut])
    ingest(clean, log)
    ingest(db, log)
    first_new = data[:cut].count(b"\n") + 1
    with log.open("ab") as fh:
        fh.write(data[cut:])
    assert "appended as" in ingest(clean, log)
    with monkeypatch.context() as patch, schema.connect(db) as con:
        fail_after(patch, 2, RuntimeError("disk full"))
        with pytest.raises(RuntimeError, match="disk full"):
            driver.ingest_path(con, str(log))
    assert_left_partial(db)
    message = ingest(db, log)
    assert f"re-reading an interrupted ingest from line {first_new:,}: appended as" in message
    assert snapshot(db) == snapshot(clean)
    assert_reconciles(db, data)
