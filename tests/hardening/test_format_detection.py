"""Format detection weighs the evidence of the whole sampled head: a stray line of another
format at the top of a log (junk, a comment, the tail of a concatenated file) does not decide.

A slow log's statement text can be any text, so ``mysql-slow`` used to claim every line after
one ``# Time:`` or ``# Query_time:`` line, and a PostgreSQL log under such a line was read as a
slow log (every real line rejected).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from perftui.ingest import formats
from perftui.ingest.sources import HEAD_BYTES, sample_lines
from perftui.store.results import first
from tests.conftest import SAMPLE_LOGS, sample
from tests.hardening.checks import run_cli

EXPECTED = {
    "postgresql.log": "postgres-stderr",
    "postgresql-pgbadger-prefix.log": "postgres-stderr",
    "profile-shop.postgresql.log": "postgres-stderr",
    "postgresql.csv": "postgres-csv",
    "postgresql.json": "postgres-json",
    "mariadb-slow.log": "mysql-slow",
}
PG_LOGS = [name for name, fmt in EXPECTED.items() if fmt.startswith("postgres")]

# What could sit at the top of a PostgreSQL log: lines of a slow log's header block.
SLOW_LOG_HEADERS = {
    "lone # Time": ["# Time: 261124  9:31:22"],
    "# Time + junk": ["# Time: 2026-11-24T09:31:22.123456Z", "some junk"],
    "# Query_time": [
        "# Query_time: 0.002000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 5000"
    ],
    "a whole header block": [
        "# Time: 261124  9:31:22",
        "# User@Host: app[app] @ localhost []  Id: 7",
        "# Query_time: 0.002000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 5000",
        "SET timestamp=1795512682;",
    ],
}
# What could sit at the top of a slow log: a PostgreSQL line or three.
PG_LINES = [
    "2026-11-24 09:31:06.131 UTC [10057] postgres@test LOG:  duration: 1.214 ms  "
    "statement: SELECT id FROM users WHERE id = 1",
    "\tAND status = 'x'",
    '2026-11-24 09:31:06.129 UTC [10057] postgres@test ERROR:  relation "x" does not exist',
]


def detected(data: bytes) -> str | None:
    """The format ``ingest`` would choose for a file holding ``data``."""
    fmt, _score = formats.detect(sample_lines(data[:HEAD_BYTES]))
    return fmt.name if fmt else None


def stored_format(folder: Path, data: bytes) -> str:
    folder.mkdir()
    log, db = folder / "input.log", folder / "store.duckdb"
    log.write_bytes(data)
    code, _out, err = run_cli("ingest", str(log), "--db", str(db))
    assert code == 0, err
    with duckdb.connect(str(db), read_only=True) as con:
        return first(con.execute("SELECT format FROM sources"))[0]


def test_every_sample_log_is_detected_as_its_format() -> None:
    logs = {p.name for p in SAMPLE_LOGS.iterdir() if p.suffix in {".log", ".csv", ".json"}}
    assert logs - {"profile-shop.speedscope.json"} == set(EXPECTED)
    for name, fmt in EXPECTED.items():
        assert detected(sample(name).read_bytes()) == fmt, name


@pytest.mark.parametrize("header", list(SLOW_LOG_HEADERS))
@pytest.mark.parametrize("name", PG_LOGS)
def test_slow_log_lines_on_top_of_a_postgres_log(name: str, header: str) -> None:
    junk = "\n".join(SLOW_LOG_HEADERS[header]).encode() + b"\n"
    assert detected(junk + sample(name).read_bytes()) == EXPECTED[name]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_postgres_lines_on_top_of_a_slow_log(count: int) -> None:
    junk = "\n".join(PG_LINES[:count]).encode() + b"\n"
    assert detected(junk + sample("mariadb-slow.log").read_bytes()) == "mysql-slow"


def test_a_lone_time_line_is_no_slow_log() -> None:
    """Without ``# User@Host`` / ``# Query_time`` there is no slow-log entry to speak of."""
    assert detected(b"# Time: 261124  9:31:22\nhello\nworld\n") is None


def test_ingest_reads_the_majority_format(tmp_path: Path) -> None:
    """End to end: the junk line is rejected, the PostgreSQL entries are stored."""
    data = b"# Time: 261124  9:31:22\n" + sample("postgresql.log").read_bytes()
    assert stored_format(tmp_path / "pg", data) == "postgres-stderr"
    data = (PG_LINES[0] + "\n").encode() + sample("mariadb-slow.log").read_bytes()
    assert stored_format(tmp_path / "my", data) == "mysql-slow"
