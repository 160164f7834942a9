"""MySQL / MariaDB / Percona slow-log parser: every variant's fields, edge cases, and the rule that
every input line is counted once (in an entry or as a reject), however the input is batched."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perftui.ingest import formats
from perftui.ingest.formats import ParseOptions
from perftui.ingest.mysql_slow import MySQLSlowParser, make, sniff
from perftui.ingest.records import ADMIN, QUERY, Entry, Reject

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mysql"
SAMPLE = ROOT / "sample_logs" / "mariadb-slow.log"
ALL_FIXTURES = sorted(FIXTURES.glob("*.log"))


def read_lines(path: Path) -> list[str]:
    """Lines as the driver hands them over: no terminators, no phantom line after a final \\n."""
    text = path.read_text()
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


def parse(lines: list[str], batches: list[int] | None = None) -> tuple[list[Entry], list[Reject]]:
    """Parse ``lines``, fed in batches of the given sizes (one batch by default)."""
    p = MySQLSlowParser()
    entries: list[Entry] = []
    rejects: list[Reject] = []
    start = 0
    for size in [*(batches or []), len(lines)]:
        chunk = lines[start : start + size]
        if chunk or start == 0:
            p.feed(chunk, start + 1)
        start += len(chunk)
        entries += p.entries
        rejects += p.rejects
        p.entries.clear()
        p.rejects.clear()
    p.finish()
    return entries + p.entries, rejects + p.rejects


def parse_file(name: str) -> tuple[list[Entry], list[Reject]]:
    return parse(read_lines(FIXTURES / name))


def assert_reconciles(lines: list[str], entries: list[Entry], rejects: list[Reject]) -> None:
    """Every line belongs to exactly one entry or one reject, and entries are contiguous runs."""
    assert sum(e.n_lines for e in entries) + len(rejects) == len(lines)
    owner: dict[int, str] = {}
    for e in entries:
        assert e.n_lines >= 1
        for no in range(e.line_start, e.line_start + e.n_lines):
            assert no not in owner
            owner[no] = "entry"
    for r in rejects:
        assert r.line_no not in owner
        assert r.raw == lines[r.line_no - 1]
        owner[r.line_no] = "reject"
    assert sorted(owner) == list(range(1, len(lines) + 1))
    assert [e.line_start for e in entries] == sorted(e.line_start for e in entries)


def utc(y: int, mo: int, d: int, h: int, mi: int, s: int) -> float:
    return float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))


# -- every fixture ---------------------------------------------------------------------------------


def test_fixtures_present() -> None:
    assert len(ALL_FIXTURES) >= 10


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_every_line_is_counted_once(path: Path) -> None:
    lines = read_lines(path)
    entries, rejects = parse(lines)
    assert entries
    assert_reconciles(lines, entries, rejects)


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_fixtures_are_detected_as_mysql_slow_logs(path: Path) -> None:
    lines = read_lines(path)
    assert sniff(lines) >= 0.8
    fmt, _score = formats.detect(lines)
    assert fmt is not None and fmt.name == "mysql-slow"


# -- the variants ------------------------------------------------------------------------------


def test_mysql56_classic() -> None:
    entries, rejects = parse_file("mysql56_classic.log")
    assert [(r.line_no, r.reason) for r in rejects] == [(i, "server header") for i in (1, 2, 3)]
    assert len(entries) == 4
    first, second, third, fourth = entries
    assert (first.line_start, first.n_lines) == (4, 6)
    assert first.kind == QUERY
    assert first.query == (
        "SELECT sku, qty FROM stock WHERE warehouse_id = 7 ORDER BY qty DESC LIMIT 20"
    )
    assert first.duration_ms == pytest.approx(1250.314)
    assert first.lock_ms == pytest.approx(0.093)
    assert (first.rows_sent, first.rows_examined) == (20, 48211)
    assert (first.user, first.host, first.db) == ("app", "web01.internal", "inventory")
    assert first.session is None  # classic format: no thread id anywhere
    assert first.ts == 1228756872.0  # SET timestamp wins over "# Time:"
    # "SET insert_id=…,timestamp=…;": the id is kept, the db carries over from "use inventory;".
    assert second.ts == 1228756872.0
    assert second.extra == {"insert_id": "5531"}
    assert second.db == "inventory"
    # "# Time: 261124  0:18:24" (YYMMDD, hour padded with a space), no SET timestamp.
    assert third.ts == utc(2026, 11, 24, 0, 18, 24)
    assert (third.session, third.host, third.user) == ("12", "localhost", "report")
    # No "# Time:" of its own: the last one still applies (it is only written when the second
    # changes).
    assert fourth.ts == third.ts
    assert fourth.query == "SELECT COUNT(DISTINCT sku) FROM stock_moves"


def test_mysql57_rfc3339_times_and_ids() -> None:
    entries, _ = parse_file("mysql57_rfc3339.log")
    assert len(entries) == 4
    assert [e.session for e in entries] == ["3", "4", "17", "17"]
    assert entries[0].ts == 1469038405.0
    assert entries[1].ts == pytest.approx(utc(2016, 7, 20, 18, 13, 25) + 0.69988)
    assert entries[1].query == "SHOW INDEX FROM `billing`.`invoices`"
    # +02:00 offset converted to UTC.
    assert entries[2].ts == pytest.approx(utc(2016, 7, 20, 18, 14, 0) + 0.25)
    # "@  [192.168.1.50]": no hostname, so the IP is the host.
    assert entries[2].host == "192.168.1.50"
    assert entries[2].duration_ms == pytest.approx(12500.0)
    assert entries[3].ts == 1469038441.0


def test_mysql80_log_slow_extra_fields() -> None:
    entries, _ = parse_file("mysql80_slow_extra.log")
    assert [e.kind for e in entries] == [QUERY, QUERY, ADMIN]
    e = entries[1]
    assert e.session == "8"  # Thread_id on the Query_time line
    assert e.bytes_sent == 67
    assert (e.rows_sent, e.rows_examined) == (0, 0)
    assert e.duration_ms == pytest.approx(1704.1)
    assert e.extra is not None
    assert e.extra["Errno"] == "1213"
    assert e.extra["Bytes_received"] == "98"
    assert e.extra["Count_hit_tmp_table_size"] == "0"
    assert e.extra["Start"] == "2021-03-03T14:08:29.396100Z"
    assert e.extra["End"] == "2021-03-03T14:08:31.100200Z"
    assert "Thread_id" not in e.extra and "Bytes_sent" not in e.extra
    assert e.db == "shop"
    # MySQL 8 writes SET timestamp before the administrator command.
    quit_ = entries[2]
    assert quit_.query == "administrator command: Quit"
    assert quit_.ts == 1614780512.0


def test_percona_extended_and_innodb_block() -> None:
    entries, rejects = parse_file("percona_extended.log")
    assert rejects == []
    assert len(entries) == 3
    e = entries[0]
    assert (e.line_start, e.n_lines) == (1, 14)
    assert (e.session, e.db) == ("1", "crm")
    assert (e.rows_affected, e.bytes_sent) == (0, 64)
    assert e.extra is not None
    for name, value in {
        "Last_errno": "0",
        "Tmp_tables": "1",
        "InnoDB_trx_id": "1A88583F",
        "QC_Hit": "No",
        "Full_scan": "Yes",
        "Filesort": "Yes",
        "InnoDB_IO_r_ops": "12",
        "InnoDB_IO_r_wait": "0.004310",
        "InnoDB_pages_distinct": "57",
        "Log_slow_rate_type": "query",
        "Log_slow_rate_limit": "10",
    }.items():
        assert e.extra[name] == value, name
    assert e.plan is not None and "Full_scan: Yes" in e.plan and "Filesort: Yes" in e.plan
    # "# Time: … # User@Host: [SQL_SLAVE] @  []" on one line; only the bracketed user name.
    slave = entries[1]
    assert slave.line_start == 15
    assert (slave.user, slave.host, slave.session, slave.db) == ("SQL_SLAVE", None, "10", "crm")
    assert slave.ts == utc(2007, 12, 18, 11, 48, 27)
    assert slave.query == "BEGIN"
    # "# Schema:   Last_errno: 1146": an empty schema is no schema, and the value of the next
    # field is not mistaken for it.
    failed = entries[2]
    assert failed.db is None
    assert failed.extra == {"Last_errno": "1146", "Killed": "0"}


def test_mariadb_rows_affected_and_plans() -> None:
    entries, rejects = parse_file("mariadb_plan.log")
    # The MariaDB header pads "Time  Id Command  Argument" with tabs.
    assert [r.reason for r in rejects] == ["server header"] * 3
    assert len(entries) == 3
    select, update, report = entries
    assert (select.session, select.db) == ("7", "shop")
    assert (select.user, select.host) == ("root", "localhost")
    assert select.extra is not None and select.extra["QC_hit"] == "No"
    assert select.extra["Full_scan"] == "Yes" and select.extra["Priority_queue"] == "No"
    assert select.bytes_sent == 1517
    assert select.plan == (
        "Full_scan: Yes  Full_join: No  Tmp_table: No  Tmp_table_on_disk: No\n"
        "Filesort: No  Filesort_on_disk: No  Merge_passes: 0  Priority_queue: No"
    )
    assert select.ts == 1795479504.0
    assert update.rows_affected == 3
    assert update.plan is None
    assert update.extra == {"QC_hit": "No"}
    # log_slow_verbosity=explain: the "# explain:" rows join the plan, tabs kept.
    assert report.plan is not None
    plan_lines = report.plan.split("\n")
    assert plan_lines[2].startswith("id\tselect_type\ttable\ttype")
    assert plan_lines[3].startswith("1\tSIMPLE\to\tALL")
    assert len(plan_lines) == 5
    assert report.query is not None and report.query.startswith("SELECT o.user_id, count(*)")
    assert report.query.endswith(" LIMIT 10")
    assert report.query.count("\n") == 5
    assert report.host == "web02"
    assert report.extra is not None and report.extra["Tmp_table_sizes"] == "1179584"


def test_mariadb_10_0_explain_block() -> None:
    lines = [
        "# Time: 131017 21:26:02",
        "# User@Host: root[root] @ localhost []",
        "# Thread_id: 2  Schema: dbt3  QC_hit: No",
        "# Query_time: 5.535819  Lock_time: 0.000350  Rows_sent: 1  Rows_examined: 65633",
        "## <explain>",
        "##   id\tselect_type\ttable\ttype\trows\tExtra",
        "##   1\tSIMPLE\tnation\tref\t1\tUsing where; Using index",
        "## </explain>",
        "SET timestamp=1382030762;",
        "select count(*) from customer, nation where c_nationkey = n_nationkey;",
    ]
    entries, rejects = parse(lines)
    assert rejects == [] and len(entries) == 1
    assert entries[0].plan == (
        "id\tselect_type\ttable\ttype\trows\tExtra\n"
        "1\tSIMPLE\tnation\tref\t1\tUsing where; Using index"
    )
    assert entries[0].extra == {"QC_hit": "No"}


def test_administrator_commands() -> None:
    entries, rejects = parse_file("admin_command.log")
    assert rejects == []
    assert [e.kind for e in entries] == [ADMIN] * 3
    assert [e.query for e in entries] == [
        "administrator command: Ping",
        "administrator command: Refresh",
        "administrator command: Quit",
    ]
    assert (entries[0].line_start, entries[0].n_lines) == (1, 1)  # a file starting with one
    assert entries[1].session == "47"
    assert entries[1].db is None  # "Schema: " (empty)
    assert entries[1].extra is not None and entries[1].extra["Rows_read"] == "0"
    assert entries[2].db == "db1"
    assert (entries[2].line_start, entries[2].n_lines) == (9, 5)


def test_server_header_mid_file_is_rejected_and_resets_the_db() -> None:
    entries, rejects = parse_file("header_midfile.log")
    assert [(r.line_no, r.reason) for r in rejects] == [
        (7, "server header"),
        (8, "server header"),
        (9, "server header"),
    ]
    assert [(e.line_start, e.n_lines) for e in entries] == [(1, 6), (10, 5), (15, 5)]
    assert entries[0].query == "select sleep(2) from n"
    assert entries[0].duration_ms == 2000.0  # MySQL 5.0 whole seconds
    # After a restart the server starts over: no "use" yet, so no db.
    assert entries[1].db is None
    assert entries[2].db == "sakila"


def test_multi_line_query_keeps_blank_lines_tabs_and_comments() -> None:
    entries, rejects = parse_file("multiline_query.log")
    assert rejects == []
    assert len(entries) == 2
    assert entries[0].n_lines == 12
    assert entries[0].query == (
        "INSERT INTO daily_totals (day, total)\n"
        "\tSELECT DATE(created_at), SUM(amount)\n"
        "\t  FROM payments\n"
        "\n"
        "# keep: this comment line is part of the statement\n"
        "\t WHERE created_at >= '2023-10-04'\n"
        "\t GROUP BY DATE(created_at)"
    )
    assert entries[1].query == "SELECT 'a;b' AS x,\n       '# not a header' AS y"
    assert [e.db for e in entries] == ["warehouse", "warehouse"]


def test_truncated_last_entry_and_headers_without_query() -> None:
    lines = read_lines(FIXTURES / "truncated_no_newline.log")
    assert not (FIXTURES / "truncated_no_newline.log").read_text().endswith("\n")
    entries, rejects = parse(lines)
    assert rejects == []
    assert len(entries) == 2
    assert entries[0].query is None  # SET timestamp, then the next entry
    assert entries[0].ts == 1795514400.0
    assert entries[0].n_lines == 5
    assert entries[1].query == "SELECT id FROM orders WHERE user_id = 9 AND status IN ('new', 'pa"
    assert entries[1].n_lines == 6


def test_garbage_lines_are_rejects_with_reasons() -> None:
    entries, rejects = parse_file("garbage_lines.log")
    assert [(r.line_no, r.reason) for r in rejects] == [
        (1, "blank line"),
        (2, "text outside an entry"),
        (8, "text outside an entry"),
        (9, "comment outside an entry"),
    ]
    assert [(e.kind, e.line_start, e.n_lines) for e in entries] == [(ADMIN, 3, 5), (QUERY, 10, 4)]
    assert entries[1].query == "SELECT 1"


# -- behaviour across entries and batches ----------------------------------------------------------


def test_use_db_carries_over_for_the_whole_log_not_per_thread() -> None:
    # The server writes "use db;" when the schema differs from the last one *it wrote to the
    # file*, whichever thread that was; so the last "use" applies to every later entry.
    lines = [
        "# User@Host: a[a] @ localhost []  Id:     1",
        "# Query_time: 0.1  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0",
        "use alpha;",
        "SELECT 1;",
        "# User@Host: b[b] @ localhost []  Id:     2",
        "# Query_time: 0.1  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0",
        "use beta;",
        "SELECT 2;",
        "# User@Host: a[a] @ localhost []  Id:     1",
        "# Query_time: 0.1  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0",
        "SELECT 3;",
    ]
    entries, _ = parse(lines)
    assert [e.db for e in entries] == ["alpha", "beta", "beta"]


def test_pending_line_points_at_the_open_entry() -> None:
    lines = read_lines(FIXTURES / "mariadb_plan.log")
    p = MySQLSlowParser()
    assert p.pending_line is None
    p.feed(lines[:16], 1)  # inside the second entry (it starts on line 14)
    assert [e.line_start for e in p.entries] == [4]
    assert p.pending_line == 14
    p.feed(lines[16:], 17)
    p.finish()
    assert p.pending_line is None
    assert [e.line_start for e in p.entries] == [4, 14, 20]


def test_huge_lines_are_handled() -> None:
    big_values = ", ".join(f"({i}, 'x')" for i in range(120_000))  # ~1.5 MB on one line
    lines = [
        "# User@Host: a[a] @ localhost []",
        "# Query_time: 9.0  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0",
        "SET timestamp=1700000000;",
        f"INSERT INTO t VALUES {big_values};",
        "z" * 1_500_000,
        "# User@Host: a[a] @ localhost []",
        "# Query_time: 0.5  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0",
        "# " + "y" * 1_500_000,
        "SELECT 1;",
    ]
    entries, rejects = parse(lines)
    assert_reconciles(lines, entries, rejects)
    assert len(entries) == 2
    assert entries[0].query == f"INSERT INTO t VALUES {big_values};\n" + "z" * 1_500_000
    assert entries[1].query == "SELECT 1"


def test_unparsable_values_do_not_break_the_entry() -> None:
    lines = [
        "# Time: margdl 11:48:27",
        "# User@Host: ??? broken",
        "# Query_time: lots  Lock_time: 0.0 Rows_sent: many  Rows_examined: 1",
        "# Rows_affected: x  Bytes_sent: 12",
        "SET timestamp=soon;",
        "SELECT 1;",
    ]
    entries, rejects = parse(lines)
    assert rejects == []
    assert len(entries) == 1
    e = entries[0]
    assert e.ts is None and e.duration_ms is None and e.rows_sent is None
    assert e.rows_examined == 1 and e.bytes_sent == 12
    assert e.extra is not None
    assert e.extra["Query_time"] == "lots" and e.extra["Rows_affected"] == "x"
    assert e.extra["User@Host"] == "??? broken"
    assert e.query == "SELECT 1"


FIXTURE_LINES = {p.name: read_lines(p) for p in ALL_FIXTURES}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(FIXTURE_LINES)),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=8),
)
def test_batching_does_not_change_the_result(name: str, cuts: list[int]) -> None:
    lines = FIXTURE_LINES[name]
    assert parse(lines, cuts) == parse(lines)


# Lines from every variant, shuffled into arbitrary (often nonsensical) logs.
LINE_POOL = sorted({line for lines in FIXTURE_LINES.values() for line in lines})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(LINE_POOL) | st.text(max_size=30), max_size=60))
def test_any_input_reconciles(lines: list[str]) -> None:
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    entries, rejects = parse(lines)
    assert_reconciles(lines, entries, rejects)


# -- format detection ------------------------------------------------------------------------------


def test_sniff_is_low_for_other_formats() -> None:
    folded = ["main;handle;query 12", "main;handle;render 40", "main;idle 3"]
    pg_stderr = [
        "2026-11-24 09:31:06.131 UTC [10057] postgres@test LOG:  duration: 1.214 ms  "
        "statement: SELECT id FROM users WHERE id = 1",
        "2026-11-24 09:31:06.129 UTC [10057] postgres@test LOG:  connection authorized: user=x",
    ]
    pg_csv = [
        '2026-11-24 09:31:06.131 UTC,"postgres","test",10057,"127.0.0.1:36990",6742f0,1,'
        '"SELECT",2026-11-24 09:31:06 UTC,3/2,0,LOG,00000,"duration: 1.214 ms  statement: '
        'SELECT 1",,,,,,,,,"psql","client backend",,0'
    ]
    pg_json = [
        '{"timestamp":"2026-11-24 09:31:06.131 UTC","user":"postgres","dbname":"test",'
        '"pid":10057,"error_severity":"LOG","message":"duration: 1.214 ms  statement: SELECT 1"}'
    ]
    for sample in (folded, pg_stderr, pg_csv, pg_json, [], ["", "  "]):
        assert sniff(sample) < formats.MIN_SCORE
    for name in ("postgresql.log", "postgresql.csv", "postgresql.json"):
        path = ROOT / "sample_logs" / name
        if path.exists():
            assert sniff(read_lines(path)[:400]) < formats.MIN_SCORE, name


def test_registry_builds_this_parser() -> None:
    fmt = formats.by_name("mysql-slow")
    parser = fmt.make(["# Time: 261124  0:18:24"], ParseOptions())
    assert isinstance(parser, MySQLSlowParser)
    assert parser.name == "mysql-slow"
    assert isinstance(make([], ParseOptions()), MySQLSlowParser)


# -- the real MariaDB log ------------------------------------------------------------------------


@pytest.mark.skipif(
    not SAMPLE.exists(),
    reason="sample_logs/mariadb-slow.log is missing (scripts/generate_sample_logs.py makes it)",
)
def test_real_mariadb_log() -> None:
    lines = read_lines(SAMPLE)
    entries, rejects = parse(lines, [1000] * (len(lines) // 1000))
    assert_reconciles(lines, entries, rejects)
    assert sniff(lines[:400]) >= 0.9
    assert {r.reason for r in rejects} <= {"server header"}
    assert len(entries) > 100
    queries = [e for e in entries if e.kind == QUERY]
    assert all(e.query for e in queries)
    assert all(e.duration_ms is not None and e.ts is not None for e in entries)
    assert all(e.session and e.user and e.host for e in entries)
    assert any(e.plan and "Full_scan:" in e.plan for e in entries)
    assert any(e.rows_affected for e in entries)
    assert any(e.query and "\n" in e.query for e in entries)
    assert {e.db for e in entries} - {None}
