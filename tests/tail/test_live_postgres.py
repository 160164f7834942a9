"""The local PostgreSQL writes its own log while ``perftui tail --headless`` follows it.

Statement logging is switched on with ALTER SYSTEM + pg_reload_conf() and always reset in a
``finally``. The server's stderr goes to the Debian cluster log (prefix ``%m [%p] %q%u@%d``).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest

from perftui.store.results import first
from tests.tail.helpers import TailProcess

PG_LOG = Path("/var/log/postgresql/postgresql-15-main.log")

pytestmark = pytest.mark.server


def _wait_for_setting(dsn: str, name: str, value: str, timeout: float = 10.0) -> None:
    """pg_reload_conf() only signals the server: wait until new sessions see the value."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as c:
            if first(c.execute(f"SHOW {name}"))[0] == value:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not become {value!r} after pg_reload_conf()")
        time.sleep(0.1)


def test_tail_sees_statements_a_client_just_ran(pg_dsn: str, tmp_path: Path) -> None:
    import psycopg

    if not os.access(PG_LOG, os.R_OK):
        pytest.skip(f"cannot read {PG_LOG}")
    marker = f"perftui_tail_{uuid.uuid4().hex[:12]}"
    tail = TailProcess(
        [
            "--headless",
            "--format",
            "jsonl",
            "--findings-every",
            "0",
            "--db",
            str(tmp_path / "tail.duckdb"),
            str(PG_LOG),
        ]
    )
    try:
        tail.wait_err("following as postgres-stderr")
        with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=3) as admin:
            try:
                admin.execute("ALTER SYSTEM SET log_min_duration_statement = 0")
                admin.execute("SELECT pg_reload_conf()")
                _wait_for_setting(pg_dsn, "log_min_duration_statement", "0")
                ran = time.monotonic()
                with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=3) as client:
                    cur = psycopg.ClientCursor(client)  # literals inlined: `statement:` lines
                    cur.execute(f"SELECT 1 AS {marker}_a, %s AS s", [f"secret-{marker}"])
                    client.execute(  # server-side binding: parse / bind / execute + DETAIL
                        f"SELECT count(*) AS {marker}_b FROM pg_class WHERE relname = %s",
                        [f"secret-{marker}"],
                    )
                    seen: dict[str, dict] = {}

                    def has_both(line: str) -> bool:
                        rec = json.loads(line)
                        for suffix in ("_a", "_b"):
                            if f"{marker}{suffix}" in (rec.get("fingerprint") or ""):
                                seen[suffix] = rec
                        return len(seen) == 2

                    tail.wait_out(has_both, timeout=20)
                    latency = time.monotonic() - ran
            finally:
                admin.execute("ALTER SYSTEM RESET log_min_duration_statement")
                admin.execute("SELECT pg_reload_conf()")
        assert tail.interrupt() == 0
    finally:
        tail.kill()
    a, b = seen["_a"], seen["_b"]
    assert a["fingerprint"] == f"select ? as {marker}_a, ? as s"
    assert b["fingerprint"].startswith(f"select count(*) as {marker}_b from pg_class")
    for rec in (a, b):
        assert rec["user"] == "postgres" and rec["db"] == "test"
        assert rec["duration_ms"] is not None and rec["class_id"]
        assert rec["source"] == str(PG_LOG)
    assert f"secret-{marker}" not in "\n".join(tail.out_lines)  # literals stay hidden
    assert latency < 10.0, latency
    summary = [json.loads(s) for s in tail.out_lines if '"summary"' in s][-1]
    assert summary["entries"] >= 2 and summary["errors"] == {}
