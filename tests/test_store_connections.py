"""Connections are numbered while entries are stored (``store.connections``); the numbers must
be the ones the SQL numbering (``renumber``) gives over the whole stored source, however the
entries were cut into batches, appended or migrated."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perftui.ingest import driver
from perftui.ingest.driver import ingest_path
from perftui.ingest.records import Entry
from perftui.store import schema, writer
from perftui.store.connections import ConnectionNumbers, renumber
from tests.conftest import sample

LOGS = [
    "postgresql.log",
    "postgresql.csv",
    "postgresql.json",
    "postgresql-pgbadger-prefix.log",
    "profile-shop.postgresql.log",
    "mariadb-slow.log",
]


def numbers(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT source_id, line_start, kind, conn_no FROM entries ORDER BY source_id, line_start"
    ).fetchall()


def renumbered(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """What the SQL numbering gives for the stored entries (left as it was)."""
    con.execute("BEGIN")
    try:
        renumber(con)
        return numbers(con)
    finally:
        con.execute("ROLLBACK")


@pytest.mark.parametrize("name", LOGS)
@pytest.mark.parametrize("batch", [7, 122_880])
def test_numbers_stored_with_the_entries_are_the_sql_numbers(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, batch: int
) -> None:
    """Batches of 7 entries cut through nearly every connection of the real logs."""
    monkeypatch.setattr(driver, "FLUSH_ENTRIES", batch)
    with schema.connect(db_path) as con:
        ingest_path(con, str(sample(name)))
        stored = numbers(con)
        assert stored == renumbered(con)
    numbered = ("query", "connect", "disconnect", "admin")
    assert all((conn is not None) == (kind in numbered) for _s, _l, kind, conn in stored)
    if name.startswith("postgresql"):  # these were logged with log_connections on
        opened = {(src, conn) for src, _l, _k, conn in stored if conn}
        assert len(opened) > 3


def test_a_grown_log_is_numbered_on_from_where_it_stopped(tmp_path: Path) -> None:
    """Each append numbers its entries from the state its stored entries left (the cuts fall
    inside connections), as the SQL numbering of the whole grown source does."""
    lines = sample("postgresql.log").read_bytes().splitlines(keepends=True)
    log = tmp_path / "pg.log"
    with schema.connect(tmp_path / "grown.duckdb") as con:
        for cut in (len(lines) // 3, 2 * len(lines) // 3, len(lines)):
            log.write_bytes(b"".join(lines[:cut]))
            assert ingest_path(con, str(log)).status in ("ingested", "appended")
        stored = numbers(con)
        assert stored == renumbered(con)
        assert len({conn for *_, conn in stored if conn}) > 10


KINDS = ["query", "query", "query", "connect", "disconnect", "admin", "error"]


@st.composite
def workloads(draw: st.DrawFn) -> tuple[list[Entry], list[int]]:
    """Entries of a few sessions (a reused id, a NULL one) in line order, and batch cuts."""
    n = draw(st.integers(1, 60))
    entries = []
    for line in range(1, n + 1):
        kind = draw(st.sampled_from(KINDS))
        query = None
        if kind == "admin":
            query = draw(
                st.sampled_from(["administrator command: Quit", "administrator command: Ping"])
            )
        elif kind == "query":
            query = "SELECT 1"
        session = draw(st.sampled_from(["11", "12", None]))
        entries.append(Entry(line, 1, kind, session=session, query=query))
    cuts = sorted(draw(st.lists(st.integers(1, n), max_size=6)))
    return entries, cuts


@settings(max_examples=60, deadline=None)
@given(workloads(), st.booleans(), st.randoms(use_true_random=False))
def test_any_batches_number_like_sql(
    tmp_path_factory: pytest.TempPathFactory,
    workload: tuple[list[Entry], list[int]],
    disorder: bool,
    rnd: random.Random,
) -> None:
    """Rows of a batch may come in any order; batches out of line order within a session are
    noticed (``disordered``) and the source is numbered again in SQL."""
    entries, cuts = workload
    batches = [entries[a:b] for a, b in zip([0, *cuts], [*cuts, len(entries)], strict=True)]
    batches = [b for b in batches if b]
    for b in batches:
        rnd.shuffle(b)
    if disorder and len(batches) > 1:
        batches.reverse()
    path = tmp_path_factory.mktemp("conn") / "s.duckdb"
    with schema.connect(path) as con:
        numbering = ConnectionNumbers()
        entry_no = 0
        for b in batches:
            writer.write_entries(con, 1, entry_no, b, "mysql", numbering)
            entry_no += len(b)
        writer.finish_numbers(con, 1, numbering)
        assert numbers(con) == renumbered(con)


def test_schema_2_store_gets_its_connections_numbered(db_path: Path) -> None:
    """A store from before schema 3 has no ``conn_no``: opened read-write, it gets the numbers
    a fresh ingest writes, and the same report."""
    import json
    import subprocess
    import sys

    log = str(sample("profile-shop.postgresql.log"))

    def report() -> dict:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "perftui.cli",
                "analyze",
                "--db",
                str(db_path),
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return {k: v for k, v in json.loads(run.stdout).items() if k != "generated_at"}

    with schema.connect(db_path) as con:
        ingest_path(con, log)
        stored = numbers(con)
    fresh = report()
    with duckdb.connect(str(db_path)) as con:
        con.execute("ALTER TABLE entries DROP COLUMN conn_no")
        con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(schema.StoreError, match=r"schema 2.*open it once read-write"):
        schema.connect(db_path, read_only=True)
    with schema.connect(db_path) as con:
        assert numbers(con) == stored
    assert report() == fresh
