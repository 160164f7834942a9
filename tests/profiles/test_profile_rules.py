"""Profile findings: what the real sample shows, and each rule on hand-made stacks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from perftui.profiles import rules
from perftui.profiles.ingest import Recording, ingest_profile
from perftui.rules.base import Finding
from tests.profiles.conftest import RAW, SHOP_APP, SPEEDSCOPE, line_of

REQUESTS = (
    "get (requests/api.py:73);request (requests/api.py:59);Session.send (requests/sessions.py:703);"
    "HTTPConnectionPool.urlopen (urllib3/connectionpool.py:790);"
    "HTTPConnection.getresponse (http/client.py:1375);SocketIO.readinto (socket.py:706)"
)


def by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


@pytest.mark.parametrize("profile", [RAW, SPEEDSCOPE], ids=["raw", "speedscope"])
def test_sample_profile_db_wait_names_the_n_plus_one_call_site(
    con: duckdb.DuckDBPyConnection, profile: Path
) -> None:
    ingest_profile(con, str(profile))
    findings = rules.detect_all(con)
    (db,) = by_rule(findings, "db-wait")
    e = db.evidence
    assert e["function"] == "orders_for"
    assert Path(e["file"]).name == "shop_app.py"
    assert e["line"] == line_of(SHOP_APP, "SELECT id, total FROM orders")
    assert e["driver"] == "psycopg"
    assert e["driver_path"][-1] == "Connection.wait"
    assert e["callers"][0]["function"] == "build_report"
    assert e["callers"][0]["line"] == line_of(SHOP_APP, "orders_for(conn, user_id)")
    assert e["sql"] == ["SELECT id, total FROM orders WHERE user_id = %s"]
    assert e["share"] > 0.4 and db.severity == "high"
    assert db.impact_ms == pytest.approx(e["samples"] * 10.0)


@pytest.mark.parametrize("profile", [RAW, SPEEDSCOPE], ids=["raw", "speedscope"])
def test_sample_profile_memoize_candidate_is_fib_at_its_def_line(
    con: duckdb.DuckDBPyConnection, profile: Path
) -> None:
    ingest_profile(con, str(profile))
    (memo,) = by_rule(rules.detect_all(con), "memoize-candidate")
    e = memo.evidence
    assert (e["function"], Path(e["file"]).name) == ("fib", "shop_app.py")
    assert e["line"] == line_of(SHOP_APP, "def fib(") and e["line_is_def"]
    assert e["max_recursion"] >= 20 and e["shape"] == "recursion"
    assert line_of(SHOP_APP, "return fib(n - 1) + fib(n - 2)") in e["sampled_lines"]
    assert "functools.cache" in memo.fix
    # the caller that merely calls fib is not a candidate itself
    assert not [f for f in rules.detect_all(con) if f.evidence.get("function") == "loyalty_points"]


def test_sample_profile_has_no_idle_warning(con: duckdb.DuckDBPyConnection) -> None:
    ingest_profile(con, str(RAW))
    assert rules.warnings(con) == []


def test_profile_recorded_without_idle_is_warned_about(
    con: duckdb.DuckDBPyConnection, write
) -> None:
    text = (
        "<module> (app.py:9);load (app.py:5);Connection.execute (psycopg/connection.py:302);"
        "Cursor.execute (psycopg/cursor.py:113);"
        "BaseCursor._execute_gen (psycopg/_cursor_base.py:205) 20\n"
        "<module> (app.py:9);render (app.py:7) 80\n"
    )
    ingest_profile(con, write("noidle.txt", text))
    (warning,) = rules.warnings(con)
    assert "none waits in it" in warning and "--idle" in warning
    assert "\n" not in warning


def test_known_duration_with_too_few_samples_is_warned_about(
    con: duckdb.DuckDBPyConnection, write
) -> None:
    start = dt.datetime(2026, 1, 5, 12, 0, 0)
    rec = Recording(rate_hz=100.0, started_at=start, ended_at=start + dt.timedelta(seconds=10))
    ingest_profile(
        con, write("short.txt", "<module> (app.py:1);work (app.py:2) 60\n"), recording=rec
    )
    (warning,) = rules.warnings(con)
    assert "only 60 samples for 10.0 s" in warning


def test_explicit_no_idle_recording_is_warned_about(con: duckdb.DuckDBPyConnection, write) -> None:
    ingest_profile(con, write("p.txt", "main (a.py:1) 5\n"), recording=Recording(idle=False))
    assert "recorded without --idle" in rules.warnings(con)[0]


def test_blocking_io_on_the_main_thread_only(con: duckdb.DuckDBPyConnection, write) -> None:
    text = (
        f"<module> (client.py:30);main (client.py:25);fetch_all (client.py:12);{REQUESTS} 70\n"
        "<module> (client.py:30);main (client.py:26);render (client.py:18) 20\n"
        "Thread._bootstrap (threading.py:1002);Thread.run (threading.py:982);"
        f"poll_worker (client.py:40);{REQUESTS} 50\n"
    )
    ingest_profile(con, write("client.txt", text))
    (finding,) = by_rule(rules.detect_all(con), "blocking-io")
    e = finding.evidence
    assert (e["function"], e["file"], e["line"]) == ("fetch_all", "client.py", 12)
    assert e["client"] == "requests" and e["samples"] == 70
    assert e["share_of_main_thread"] == pytest.approx(70 / 90, abs=1e-3)
    assert "ThreadPoolExecutor" in finding.fix and "asyncio.gather" in finding.fix


def test_serialization_hotspot(con: duckdb.DuckDBPyConnection, write) -> None:
    text = (
        "<module> (svc.py:9);handle (svc.py:5);dumps (json/__init__.py:231);"
        "JSONEncoder.encode (json/encoder.py:200);JSONEncoder.iterencode (json/encoder.py:258) 60\n"
        "<module> (svc.py:9);handle (svc.py:6);compress (gzip.py:552) 25\n"
        "<module> (svc.py:9);other (svc.py:7) 15\n"
    )
    ingest_profile(con, write("svc.txt", text))
    found = {
        f.evidence["library"]: f for f in by_rule(rules.detect_all(con), "serialization-hotspot")
    }
    assert set(found) == {"json", "gzip"}
    assert (found["json"].evidence["function"], found["json"].evidence["line"]) == ("handle", 5)
    assert "orjson" in found["json"].fix and "compresslevel" in found["gzip"].fix


def test_import_time(con: duckdb.DuckDBPyConnection, write) -> None:
    imp = (
        "_find_and_load (<frozen importlib._bootstrap>:1176);"
        "_find_and_load_unlocked (<frozen importlib._bootstrap>:1147);"
        "_call_with_frames_removed (<frozen importlib._bootstrap>:241)"
    )
    text = (
        f"<module> (cli.py:3);{imp};<module> (pandas/__init__.py:22);{imp};"
        "<module> (pandas/core/api.py:1) 40\n"
        f"<module> (cli.py:4);{imp};<module> (requests/__init__.py:9) 10\n"
        "<module> (cli.py:20);run (cli.py:12) 50\n"
    )
    ingest_profile(con, write("cli.txt", text))
    (finding,) = by_rule(rules.detect_all(con), "import-time")
    e = finding.evidence
    assert e["share"] == pytest.approx(0.5)
    assert [m["module"] for m in e["modules"]] == ["pandas", "requests"]
    assert (e["function"], e["file"], e["line"]) == ("<module>", "cli.py", 3)
    assert "LazyLoader" in finding.fix
    # imports of a database driver are not database waits
    assert not by_rule(rules.detect_all(con), "db-wait")


def test_memoize_dominant_pure_function_needs_its_source(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    src = tmp_path / "calc.py"
    src.write_text(
        "import math\n\n\ndef score(a, b):\n"
        "    return sum(math.sqrt(i * a + b) for i in range(99))\n"
        "\n\ndef noisy(a):\n    print(a)\n    return a * 2\n"
    )
    text = (
        f"<module> ({src}:20);score ({src}:5) 80\n"
        f"<module> ({src}:21);noisy ({src}:10) 60\n"
        f"<module> ({src}:22) 20\n"
    )
    (tmp_path / "calc.txt").write_text(text)
    ingest_profile(con, str(tmp_path / "calc.txt"))
    (memo,) = by_rule(rules.detect_all(con), "memoize-candidate")
    e = memo.evidence
    assert (e["function"], e["line"], e["shape"]) == ("score", 4, "dominant")  # noisy prints


def test_c_driver_call_site_is_found_by_its_source_line(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    src = tmp_path / "legacy.py"
    src.write_text(
        "def load(cur, ids):\n    for i in ids:\n"
        "        cur.execute('SELECT * FROM items WHERE id = %s', (i,))\n"
    )
    text = f"<module> ({src}:9);load ({src}:3) 70\n<module> ({src}:9);other ({src}:8) 30\n"
    (tmp_path / "legacy.txt").write_text(text)
    ingest_profile(con, str(tmp_path / "legacy.txt"))
    (db,) = by_rule(rules.detect_all(con), "db-wait")
    assert (db.evidence["function"], db.evidence["line"]) == ("load", 3)
    assert db.evidence["driver"].startswith("a C driver")
