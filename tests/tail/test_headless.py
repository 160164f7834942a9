"""``perftui tail --headless`` as a user runs it: a child process, a growing file, Ctrl-C."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb

from perftui.rules.base import Finding
from perftui.store.results import first
from perftui.tail.headless import FindingTracker
from tests.tail.helpers import TailProcess, append
from tests.tail.test_ingest_live import MYSQL_HEADER, mysql_entry


def slow_entry(n: int, seconds: float, statement: str) -> str:
    return mysql_entry(n, statement).replace(f"Query_time: 0.{n:06d}", f"Query_time: {seconds:.6f}")


def records(lines: list[str], kind: str) -> list[dict]:
    return [r for r in map(json.loads, lines) if r["type"] == kind]


def test_jsonl_prints_new_slow_queries_as_fingerprints(tmp_path: Path) -> None:
    log = tmp_path / "slow.log"
    db = tmp_path / "tail.duckdb"
    append(log, MYSQL_HEADER + slow_entry(1, 2.0, "SELECT 'old' FROM users;"))
    tail = TailProcess(
        ["--headless", "--format", "jsonl", "--min-ms", "100", "--db", str(db), str(log)]
    )
    try:
        tail.wait_err("following as mysql-slow")
        written = time.monotonic()
        append(log, slow_entry(2, 0.000010, "SELECT 'fast-secret' FROM users WHERE id = 1;"))
        append(log, slow_entry(3, 0.250, "SELECT * FROM orders WHERE note = 'slow-secret';"))
        line = tail.wait_out(lambda s: "orders" in s)
        latency = time.monotonic() - written
        rc = tail.interrupt()
    finally:
        tail.kill()
    assert rc == 0
    queries = records(tail.out_lines, "query")
    assert [q["fingerprint"] for q in queries] == ["select * from orders where note = ?"]
    q = queries[0]
    assert q["duration_ms"] == 250.0 and q["db"] == "shop" and q["class_id"]
    assert "query" not in q
    assert "secret" not in "\n".join(tail.out_lines)  # literals hidden; the old entry not shown
    assert json.loads(line) == q
    summary = records(tail.out_lines, "summary")[-1]
    assert summary["entries"] == 2 and summary["queries_printed"] == 1
    assert any("stopped: 2 entries" in s for s in tail.err_lines)
    assert latency < 5.0, latency  # generous for a loaded CI box; the benchmark measures it


def test_restart_resumes_and_show_literals(tmp_path: Path) -> None:
    log = tmp_path / "slow.log"
    db = tmp_path / "tail.duckdb"
    append(log, MYSQL_HEADER)
    args = ["--headless", "--format", "jsonl", "--findings-every", "0", "--db", str(db)]
    tail = TailProcess([*args, "--from-start", str(log)])
    try:
        tail.wait_err("following as mysql-slow")
        append(log, slow_entry(1, 0.5, "SELECT 1;") + slow_entry(2, 0.5, "SELECT 2;"))
        tail.wait_out(lambda _s: sum('"line":' in s for s in tail.out_lines) == 2)
        assert tail.interrupt() == 0
    finally:
        tail.kill()
    before = records(tail.out_lines, "query")
    # Written while perftui is not running: picked up on restart, nothing repeated.
    append(log, slow_entry(3, 0.5, "SELECT 'three';"))
    tail = TailProcess([*args, "--show-literals", str(log)])
    try:
        tail.wait_err("resuming at line")
        append(log, slow_entry(4, 0.5, "SELECT 'four';"))
        tail.wait_out(lambda s: "four" in s)
        assert tail.interrupt() == 0
    finally:
        tail.kill()
    after = records(tail.out_lines, "query")
    assert [q["query"] for q in after] == ["SELECT 'three'", "SELECT 'four'"]
    lines = [q["line"] for q in before + after]
    assert len(set(lines)) == len(lines) == 4
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert first(con.execute("SELECT count(*), count(DISTINCT line_start) FROM entries")) == (
            4,
            4,
        )
    finally:
        con.close()


def test_text_output_is_one_clean_line_per_query(tmp_path: Path) -> None:
    log = tmp_path / "slow.log"
    append(log, MYSQL_HEADER)
    tail = TailProcess(
        ["--headless", "--findings-every", "0", "--db", str(tmp_path / "t.duckdb"), str(log)]
    )
    try:
        tail.wait_err("following as mysql-slow")
        append(log, slow_entry(1, 1.5, "SELECT '\x1b[31mred' AS x,\n  2 AS y;"))
        line = tail.wait_out(lambda s: "select" in s)
        assert tail.interrupt() == 0
    finally:
        tail.kill()
    assert "\x1b" not in line
    assert line.endswith("select ? as x, ? as y")
    assert "1500.000 ms" in line and "root@shop" in line


def test_missing_file_waits_and_bad_database_fails(tmp_path: Path) -> None:
    log = tmp_path / "not-yet.log"
    tail = TailProcess(
        ["--headless", "--findings-every", "0", "--db", str(tmp_path / "t.db"), str(log)]
    )
    try:
        tail.wait_err("following 1 file")
        append(log, MYSQL_HEADER + slow_entry(1, 0.5, "SELECT 1;"))
        tail.wait_err("from the start")
        assert tail.interrupt() == 0
    finally:
        tail.kill()
    not_duckdb = tmp_path / "x.duckdb"
    not_duckdb.write_text("hello")
    tail = TailProcess(["--headless", "--db", str(not_duckdb), str(log)])
    try:
        assert tail.proc.wait(30) == 2
    finally:
        tail.kill()
    tail.drain()


def test_finding_tracker_reports_new_and_escalated_once() -> None:
    def finding(severity: str, title: str = "t") -> Finding:
        return Finding("n-plus-one", severity, title, "", "", 1.0, ["AAA"], ["orders"])

    t = FindingTracker()
    assert [s for s, _f, _b in t.update([finding("low")])] == ["new"]
    assert t.update([finding("low", "other numbers")]) == []
    changes = t.update([finding("high")])
    assert [(s, b) for s, _f, b in changes] == [("escalated", "low")]
    assert t.update([finding("medium")]) == []
