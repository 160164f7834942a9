"""Stores the app tests open: the committed real logs, a hostile log, a small profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from perftui.ingest.driver import ingest_path
from perftui.store import schema
from tests.conftest import sample

# A MySQL slow log whose statements carry Rich markup and terminal escape sequences, inside and
# outside string literals (backtick identifiers survive fingerprinting, strings do not).
HOSTILE_LOG = (
    "# Time: 2026-01-02T03:04:05.000000Z\n"
    "# User@Host: app[app] @ localhost []  Id:     7\n"
    "# Query_time: 1.500000  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 5000\n"
    "SET timestamp=1767323045;\n"
    "SELECT `[bold]x[/bold]`, `\x1b]0;pwned\x07` FROM notes"
    " WHERE body = '[link=https://evil.example]click[/link]\x1b[2J';\n"
    "# Time: 2026-01-02T03:04:06.000000Z\n"
    "# User@Host: app[app] @ localhost []  Id:     7\n"
    "# Query_time: 0.200000  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 10\n"
    "SET timestamp=1767323046;\n"
    "SELECT id FROM notes WHERE id = 42;\n"
)

# py-spy raw output (--threads): a database wait under an N+1 loop, a recursive fib, a worker.
_MAIN = "thread (1): MainThread;<module> (app.py:41);main (app.py:35)"
PROFILE = "".join(
    f"{stack} {weight}\n"
    for stack, weight in (
        (
            f"{_MAIN};build_report (app.py:20);posts_for (app.py:14)"
            ";Connection.execute (psycopg/connection.py:302)"
            ";Connection.wait (psycopg/connection.py:495)",
            786,
        ),
        (f"{_MAIN};build_report (app.py:20);render (app.py:25)", 60),
        (f"{_MAIN};fib (app.py:5);fib (app.py:6);fib (app.py:6)", 40),
        ("thread (2): worker;run (threading.py:900);loop (app.py:50)", 30),
    )
)


def build_store(
    path: Path,
    *,
    logs: tuple[str, ...] = (),
    extra: tuple[Path, ...] = (),
    profile: Path | None = None,
) -> Path:
    con = schema.connect(path)
    try:
        for name in logs:
            ingest_path(con, str(sample(name)))
        for p in extra:
            ingest_path(con, str(p))
        if profile is not None:
            from perftui.profiles.ingest import ingest_profile

            ingest_profile(con, str(profile))
    finally:
        con.close()
    return path


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two committed real logs (PostgreSQL stderr + MariaDB slow log) in one store."""
    d = tmp_path_factory.mktemp("sample")
    return build_store(d / "t.duckdb", logs=("postgresql.log", "mariadb-slow.log"))


@pytest.fixture(scope="session")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    log = d / "hostile-slow.log"
    log.write_text(HOSTILE_LOG, encoding="utf-8")
    return build_store(d / "t.duckdb", extra=(log,))


@pytest.fixture(scope="session")
def profile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small py-spy profile next to the PostgreSQL sample log."""
    d = tmp_path_factory.mktemp("profile")
    prof = d / "app.pyspy.txt"
    prof.write_text(PROFILE, encoding="utf-8")
    return build_store(d / "t.duckdb", logs=("postgresql.log",), profile=prof)
