"""Linking the log's N+1 to the profile's call site, and saying so when it cannot."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from perftui.ingest.driver import ingest_path
from perftui.profiles import link, rules
from perftui.profiles.ingest import Recording, ingest_profile
from perftui.rules import n_plus_one
from perftui.rules.base import Finding, Workload
from tests.profiles.conftest import PG_LOG, RAW, SHOP_APP, SPEEDSCOPE, line_of


def analyze(con: duckdb.DuckDBPyConnection) -> tuple[list[Finding], list[Finding], list[str]]:
    queries = list(n_plus_one.detect(Workload(con)))
    profile = rules.detect_all(con)
    notes = link.link(con, queries, profile)
    return queries, profile, notes


def test_sample_n_plus_one_links_to_orders_for_in_both_profiles(
    con: duckdb.DuckDBPyConnection,
) -> None:
    ingest_path(con, str(PG_LOG))
    ingest_profile(con, str(RAW))
    ingest_profile(con, str(SPEEDSCOPE))
    queries, profile, notes = analyze(con)
    assert notes == []
    (n1,) = queries
    assert len(n1.links) == 2  # one call site per profile
    for lk in n1.links:
        assert lk["kind"] == "profile-call-site" and lk["match"] == "sql-text"
        assert lk["function"] == "orders_for"
        assert Path(lk["file"]).name == "shop_app.py"
        assert lk["line"] == line_of(SHOP_APP, "SELECT id, total FROM orders")
        assert "build_report" in lk["reason"] and "recording time unknown" in lk["reason"]
    json.dumps([f.to_dict() for f in queries + profile])  # the report's JSON can carry them
    for db in [f for f in profile if f.rule == "db-wait"]:
        (back,) = db.links
        assert back["kind"] == "query-finding"
        assert back["repeated_class_id"] == n1.evidence["repeated_class_id"]
        assert back["query_class_ids"] == n1.query_class_ids


def test_profile_recorded_at_another_time_is_not_linked(con: duckdb.DuckDBPyConnection) -> None:
    ingest_path(con, str(PG_LOG))
    long_ago = dt.datetime(2001, 1, 1, 12, 0, 0)
    rec = Recording(
        idle=True, rate_hz=100, started_at=long_ago, ended_at=long_ago + dt.timedelta(seconds=3)
    )
    ingest_profile(con, str(RAW), recording=rec)
    (n1,), profile, notes = analyze(con)
    (lk,) = n1.links
    assert lk["profile_id"] is None and lk["match"] is None
    assert "another time" in lk["reason"]
    assert len(notes) == 1 and "not linked" in notes[0]
    assert all(not f.links for f in profile)


def test_profile_without_database_waits_says_so(con: duckdb.DuckDBPyConnection, write) -> None:
    ingest_path(con, str(PG_LOG))
    ingest_profile(con, write("cpu.txt", "<module> (app.py:1);work (app.py:2) 50\n"))
    (n1,), _profile, notes = analyze(con)
    (lk,) = n1.links
    assert "db-wait found nothing" in lk["reason"]
    assert notes and "\n" not in notes[0]


def test_same_tables_other_sql_links_as_a_table_match(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    src = tmp_path / "report.py"
    src.write_text(
        "def orders_of(conn, uid):\n"
        "    return conn.execute(\n"
        "        'SELECT o.id, o.total, o.status FROM shop.orders o WHERE o.user_id = %s',\n"
        "        (uid,),\n"
        "    ).fetchall()\n"
    )
    wait = (
        "Connection.execute (psycopg/connection.py:302);Connection.wait (psycopg/connection.py:495)"
    )
    (tmp_path / "p.txt").write_text(
        f"<module> ({src}:9);orders_of ({src}:2);{wait} 80\n<module> ({src}:9) 20\n"
    )
    ingest_path(con, str(PG_LOG))
    ingest_profile(con, str(tmp_path / "p.txt"))
    (n1,), _profile, notes = analyze(con)
    (lk,) = n1.links
    assert (lk["match"], lk["function"], lk["line"]) == ("tables", "orders_of", 2)
    assert notes == []


def test_no_profiles_no_links(con: duckdb.DuckDBPyConnection) -> None:
    ingest_path(con, str(PG_LOG))
    (n1,), _profile, notes = analyze(con)
    assert n1.links == [] and notes == []
