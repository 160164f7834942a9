"""Live ingest into a real DuckDB file: what a tail stores equals what a whole-file ingest stores,
whatever the write pattern, the rotations and the restarts."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import duckdb
import pytest

from perftui.ingest.driver import ingest_path
from perftui.store import schema
from perftui.store.results import first
from perftui.tail.ingest_live import SETTLE_S, LiveIngest
from tests.conftest import sample
from tests.tail.helpers import FakeClock, append, entries, pieces, reconciles, rejects, sources

LOGS = [
    "mariadb-slow.log",
    "postgresql.log",
    "postgresql.csv",
    "postgresql.json",
    "postgresql-pgbadger-prefix.log",
]


def reference(tmp_path: Path, *files: Path) -> duckdb.DuckDBPyConnection:
    """A store with ``files`` ingested whole by the driver."""
    con = schema.connect(tmp_path / f"ref-{len(list(tmp_path.iterdir()))}.duckdb")
    for f in files:
        ingest_path(con, str(f))
    return con


def live(con: duckdb.DuckDBPyConnection, log: Path, clock: FakeClock, **kw: object) -> LiveIngest:
    """A LiveIngest on ``log`` that stores at every step (no batching by time)."""
    kw.setdefault("flush_s", 0.0)
    return LiveIngest(con, [str(log)], clock=clock, **kw)  # type: ignore[arg-type]


def settle_all(li: LiveIngest, clock: FakeClock) -> None:
    """Let time pass so that everything the file holds counts as complete, and store it."""
    li.step()
    clock.advance(SETTLE_S + 1.0)
    li.step()
    li.step()


@pytest.mark.parametrize("name", LOGS)
def test_sample_log_written_in_pieces_equals_whole_file_ingest(
    tmp_path: Path, clock: FakeClock, name: str
) -> None:
    data = sample(name).read_bytes()
    log = tmp_path / "live.log"
    con = schema.connect(tmp_path / "tail.duckdb")
    li = live(con, log, clock, from_start=True)
    for piece in pieces(data, seed=len(name)):
        append(log, piece)
        li.step()
    settle_all(li, clock)
    li.stop()
    ref = reference(tmp_path, log)
    assert entries(con) == entries(ref)
    assert rejects(con) == rejects(ref)
    assert sources(con) == sources(ref)
    assert reconciles(con)


@pytest.mark.parametrize("name", LOGS)
def test_restarts_lose_and_duplicate_nothing(tmp_path: Path, clock: FakeClock, name: str) -> None:
    """Stop (cleanly, or not at all: a crash), keep appending, start again; several times."""
    data = sample(name).read_bytes()
    log = tmp_path / "live.log"
    db = tmp_path / "tail.duckdb"
    con = schema.connect(db)
    rnd = random.Random(7)
    li = live(con, log, clock, from_start=True)
    for i, piece in enumerate(pieces(data, seed=3, max_piece=6000)):
        append(log, piece)
        li.step()
        if i % 7 == 6:
            if rnd.random() < 0.5:
                li.stop()
            else:
                clock.advance(rnd.choice([0.0, SETTLE_S + 0.1]))
                li.step()  # then "crash": nothing more is stored, nothing is cleaned up
            append(log, b"")  # (the writer goes on while perftui is down)
            li = live(con, log, clock)  # no --from-start: resumes where the store says
            li.step()
    settle_all(li, clock)
    li.stop()
    ref = reference(tmp_path, log)
    got = entries(con)
    assert len({e[0] for e in got}) == len(got)  # no duplicate first lines
    assert got == entries(ref)
    assert rejects(con) == rejects(ref)
    assert sources(con) == sources(ref)
    assert reconciles(con)


def test_crash_after_storing_entries_past_the_resume_point(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Sessions interleave, so entries after a held one are stored before it completes; a
    tailer killed then must not store them again when it resumes from the held one."""
    lines = sample("postgresql.log").read_bytes().splitlines(keepends=True)
    log = tmp_path / "pg.log"
    con = schema.connect(tmp_path / "tail.duckdb")
    append(log, b"".join(lines[:500]))
    li = live(con, log, clock, from_start=True)
    li.step()  # no stop(): the process dies here
    resume_line = first(con.execute("SELECT lines + 1 FROM sources"))[0]
    ahead = first(con.execute("SELECT count(*) FROM entries WHERE line_start >= ?", [resume_line]))[
        0
    ]
    assert ahead > 0  # the case under test
    append(log, b"".join(lines[500:]))
    li = live(con, log, clock)
    settle_all(li, clock)
    li.stop()
    assert entries(con) == entries(reference(tmp_path, log))
    assert reconciles(con)


def test_restart_after_appends_while_stopped(tmp_path: Path, clock: FakeClock) -> None:
    data = sample("postgresql.log").read_bytes()
    lines = data.splitlines(keepends=True)
    log = tmp_path / "pg.log"
    con = schema.connect(tmp_path / "tail.duckdb")
    append(log, b"".join(lines[:300]))
    li = live(con, log, clock, from_start=True)
    settle_all(li, clock)
    li.stop()
    stored_before = len(entries(con))
    append(log, b"".join(lines[300:700]))  # perftui is not running
    li = live(con, log, clock)
    settle_all(li, clock)
    li.stop()
    append(log, b"".join(lines[700:]))
    li = live(con, log, clock)
    settle_all(li, clock)
    li.stop()
    ref = reference(tmp_path, log)
    assert 0 < stored_before < len(entries(ref))
    assert entries(con) == entries(ref)
    assert reconciles(con)


def test_default_starts_at_the_end_and_numbers_lines_from_there(
    tmp_path: Path, clock: FakeClock
) -> None:
    lines = sample("mariadb-slow.log").read_bytes().splitlines(keepends=True)
    cut = next(i for i in range(2000, len(lines)) if lines[i].startswith(b"# User@Host"))
    log = tmp_path / "slow.log"
    append(log, b"".join(lines[:cut]))
    con = schema.connect(tmp_path / "tail.duckdb")
    notices: list[str] = []
    li = live(con, log, clock, notice=notices.append)
    li.step()
    assert any("its end" in n for n in notices)
    assert entries(con) == []
    append(log, b"".join(lines[cut:]))
    settle_all(li, clock)
    li.stop()
    # The entries a whole-file ingest finds after the cut, with line numbers counted from
    # where tailing began, and the state carried from before the cut (time, db) known. Their
    # connections (conn_no, the last column) open where tailing first saw each session.
    want = [(e[0] - cut, *e[1:-1]) for e in entries(reference(tmp_path, log)) if e[0] > cut]
    got = entries(con)
    assert len(got) > 300
    assert [g[:-1] for g in got] == want
    first_seen: dict[str, int] = {}
    for g in got:
        first_seen.setdefault(g[4], g[0])
    assert [g[-1] for g in got] == [first_seen[g[4]] for g in got]
    assert reconciles(con)


def test_resumes_after_a_whole_file_ingest(tmp_path: Path, clock: FakeClock) -> None:
    lines = sample("postgresql.csv").read_bytes().splitlines(keepends=True)
    log = tmp_path / "pg.csv"
    append(log, b"".join(lines[:400]))
    con = schema.connect(tmp_path / "tail.duckdb")
    ingest_path(con, str(log))
    li = live(con, log, clock)  # the store knows this file: resume, not "start at end"
    li.step()
    append(log, b"".join(lines[400:]))
    settle_all(li, clock)
    li.stop()
    ref = reference(tmp_path, log)
    assert entries(con) == entries(ref)
    assert len(sources(con)) == 1


# --- partial writes ---------------------------------------------------------------------------

MYSQL_HEADER = (
    "/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-0+deb12u1 (Debian 12). started with:\n"
    "Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n"
    "Time\t\t    Id Command\tArgument\n"
)


def mysql_entry(n: int, statement: str) -> str:
    return (
        "# User@Host: root[root] @  [127.0.0.1]\n"
        f"# Thread_id: {n}  Schema: shop  QC_hit: No\n"
        f"# Query_time: 0.{n:06d}  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\n"
        "SET timestamp=1795512682;\n"
        f"{statement}\n"
    )


def test_half_a_multiline_mysql_entry_is_held(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "slow.log"
    append(log, MYSQL_HEADER + "# Time: 261124  9:31:22\n")
    con = schema.connect(tmp_path / "tail.duckdb")
    li = live(con, log, clock, from_start=True)
    li.step()
    first = mysql_entry(1, "SELECT id,\n       name\nFROM users\nWHERE id = 1;")
    half = first.index("name") + 2
    append(log, first[:half])  # the headers and half of the statement
    li.step()
    assert entries(con) == []
    append(log, first[half:])
    li.step()
    assert entries(con) == []  # complete, but only the next entry (or time) can say so
    append(log, mysql_entry(2, "SELECT 2;")[:45])
    li.step()
    got = entries(con)
    assert len(got) == 1
    assert got[0][11] == "SELECT id,\n       name\nFROM users\nWHERE id = 1"
    assert got[0][1] == 9  # "# Time", three headers, "SET timestamp", four statement lines
    # A header with no statement yet is never completed by time alone.
    clock.advance(10)
    li.step()
    li.step()
    assert len(entries(con)) == 1
    append(log, mysql_entry(2, "SELECT 2;")[45:])
    li.step()
    clock.advance(SETTLE_S + 0.1)
    li.step()
    assert [e[11] for e in entries(con)] == [got[0][11], "SELECT 2"]
    li.stop()
    assert reconciles(con)


PG = "2026-11-24 09:31:06.{ms:03d} UTC [{pid}] postgres@test "


def test_postgres_continuation_lines_arriving_later(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "pg.log"
    a, b = PG.format(ms=1, pid=101), PG.format(ms=2, pid=202)
    append(log, f"{a}LOG:  connection authorized: user=postgres database=test\n")
    con = schema.connect(tmp_path / "tail.duckdb")
    li = live(con, log, clock, from_start=True)
    li.step()
    append(log, f"{a}LOG:  duration: 1.500 ms  execute <unnamed>: SELECT o.id,\n")
    li.step()
    append(log, "\t       o.total\n\tFROM orders o\n")
    li.step()
    append(log, "\tWHERE o.user_id = $1\n")
    li.step()
    append(log, f"{b}LOG:  duration: 0.100 ms  statement: SELECT 1\n")  # another session
    li.step()
    append(log, f"{a}DETAIL:  parameters: $1 = '42'\n")  # still session 101's message
    li.step()
    assert [e[11] for e in entries(con) if e[2] == "query"] == []  # 101 may still grow
    append(log, f"{a}LOG:  duration: 0.200 ms  statement: SELECT 3\n")
    li.step()
    stored = {e[11]: e for e in entries(con) if e[2] == "query"}
    multi = stored["SELECT o.id,\n       o.total\nFROM orders o\nWHERE o.user_id = $1"]
    assert multi[1] == 5 and multi[8] == 1.5 and multi[14] == "$1 = '42'"
    # After a quiet while, the last message of each session is complete too.
    clock.advance(SETTLE_S + 0.1)
    li.step()
    assert {e[11] for e in entries(con) if e[2] == "query"} >= {"SELECT 1", "SELECT 3"}
    li.stop()
    assert entries(con) == entries(reference(tmp_path, log))


def test_half_a_line_is_never_ingested(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "pg.json"
    line = sample("postgresql.json").read_bytes().splitlines(keepends=True)[2]
    con = schema.connect(tmp_path / "tail.duckdb")
    li = live(con, log, clock, from_start=True)
    append(log, line[:40])
    li.step()
    clock.advance(60)
    li.step()
    assert entries(con) == [] and rejects(con) == []
    append(log, line[40:])
    li.step()
    assert len(entries(con)) == 1 and rejects(con) == []
    li.stop()


# --- rotation, end to end ---------------------------------------------------------------------


def _split(name: str) -> tuple[bytes, bytes]:
    """A sample log cut in two at an entry boundary near its middle."""
    lines = sample(name).read_bytes().splitlines(keepends=True)
    if name.startswith("mariadb"):
        cut = next(i for i in range(len(lines) // 2, len(lines)) if lines[i].startswith(b"# User"))
    else:
        cut = next(i for i in range(len(lines) // 2, len(lines)) if lines[i][:1] != b"\t")
    return b"".join(lines[:cut]), b"".join(lines[cut:])


@pytest.mark.parametrize("how", ["rename", "copytruncate", "delete"])
@pytest.mark.parametrize("name", ["mariadb-slow.log", "postgresql.log"])
def test_rotation_keeps_every_entry(tmp_path: Path, clock: FakeClock, how: str, name: str) -> None:
    first, second = _split(name)
    log = tmp_path / "live.log"
    old = tmp_path / "live.log.1"
    con = schema.connect(tmp_path / "tail.duckdb")
    li = live(con, log, clock, from_start=True)
    half = len(first) // 2
    append(log, first[:half])
    li.step()
    if how == "rename":
        log.rename(old)
        log.touch()
        li.step()
        append(old, first[half:])  # written to the old file until the writer reopens
        li.step()
    else:
        append(log, first[half:])
        li.step()
        if how == "copytruncate":
            append(log, second[:5000])  # not read before the copy: recovered from it
            first, second = first + second[:5000], second[5000:]
            shutil.copy(log, old)
            with open(log, "r+b") as fh:
                fh.truncate(0)
        else:
            log.rename(old)  # (kept aside only to build the reference)
    for piece in pieces(second, seed=11):
        append(log, piece)
        li.step()
    settle_all(li, clock)
    li.stop()
    ref = reference(tmp_path, old, log)
    assert [len(entries(con, s[0])) for s in sources(con)] == [
        len(entries(ref, s[0])) for s in sources(ref)
    ]
    assert entries(con) == entries(ref)
    assert [s[1:] for s in sources(con)] == [s[1:] for s in sources(ref)]
    assert reconciles(con)


def test_file_created_after_tailing_began_is_read_from_its_start(
    tmp_path: Path, clock: FakeClock
) -> None:
    log = tmp_path / "later.json"
    con = schema.connect(tmp_path / "tail.duckdb")
    li = live(con, log, clock)  # default: start at the end, but this file is new
    li.step()
    data = sample("postgresql.json").read_bytes()
    append(log, data)
    settle_all(li, clock)
    li.stop()
    assert entries(con) == entries(reference(tmp_path, log))


def test_binary_file_is_reported_not_followed(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "blob.log"
    log.write_bytes(bytes(range(256)) * 4)
    con = schema.connect(tmp_path / "tail.duckdb")
    notices: list[str] = []
    li = live(con, log, clock, notice=notices.append)
    li.step()
    assert li.active == 0 and "binary" in li.errors()[str(log)]
    assert any("no longer followed" in n for n in notices)


def test_a_busy_file_is_stored_in_batches(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "pg.json"
    lines = [
        s
        for s in sample("postgresql.json").read_bytes().splitlines(keepends=True)
        if b"statement: SELECT" in s
    ]
    con = schema.connect(tmp_path / "tail.duckdb")
    li = live(con, log, clock, from_start=True, flush_s=0.25)
    append(log, lines[0])
    li.step()
    assert len(entries(con)) == 1  # after a quiet spell: at once
    append(log, lines[1])
    li.step()
    assert len(entries(con)) == 1  # 0.25 s have not passed
    assert li.next_due() == pytest.approx(0.25)
    clock.advance(0.25)
    li.step()
    assert len(entries(con)) == 2
    li.stop()
