"""PostgreSQL stderr parser: message assembly, folding, accounting, and the real sample logs."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perftui.ingest import postgres_csv, postgres_json, postgres_stderr
from perftui.ingest.formats import ParseOptions
from perftui.ingest.pg_prefix import compile_prefix
from perftui.ingest.records import CONNECT, DISCONNECT, ERROR, MESSAGE, QUERY, Entry, Reject
from tests.ingest.feeding import MYSQL_SLOW, PYSPY, lines_of, run

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "postgres"
SAMPLES = ROOT / "sample_logs"
CUSTOM = "%n %-6p|%e|%q%u@%d/%a "

Parsed = tuple[dict[int, Entry], list[Reject]]  # entries by first line, rejects


INTERLEAVED = lines_of(FIXTURES / "interleaved.log")


def parse(
    lines: list[str], prefix: str | None = None, batch: int = 0
) -> tuple[list[Entry], list[Reject]]:
    """Parse with stderr's make(), in batches of ``batch`` lines (0 = one batch)."""
    return run(postgres_stderr.make(lines[:400], ParseOptions(prefix=prefix)), lines, batch)


def by_line(entries: list[Entry]) -> dict[int, Entry]:
    return {e.line_start: e for e in entries}


# --- hand-made fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def interleaved() -> Parsed:
    entries, rejects = parse(INTERLEAVED)
    return by_line(entries), rejects


def test_interleaved_kinds(interleaved: Parsed) -> None:
    entries, _ = interleaved
    assert [(line, e.kind) for line, e in entries.items()] == [
        (1, MESSAGE),
        (2, CONNECT),
        (3, CONNECT),
        (6, QUERY),
        (7, QUERY),
        (11, QUERY),
        (16, ERROR),
        (19, QUERY),
        (26, CONNECT),
        (27, ERROR),
        (29, MESSAGE),
        (30, MESSAGE),
        (33, MESSAGE),
        (34, QUERY),
        (37, DISCONNECT),
        (38, QUERY),
        (39, DISCONNECT),
    ]


def test_extended_protocol_folds_parse_bind_execute(interleaved: Parsed) -> None:
    e = interleaved[0][6]  # parse, bind + DETAIL, execute + DETAIL, with pid 202 in between
    assert (e.duration_ms, e.parse_ms, e.bind_ms) == (0.03, 0.05, 0.08)
    assert e.query == "SELECT * FROM orders WHERE id = $1"
    assert e.params == "$1 = '42'" and e.statement_name is None and e.n_lines == 5
    named = interleaved[0][34]  # bind _pg3_0 + DETAIL, execute without DETAIL
    assert named.statement_name == "_pg3_0" and named.params == "$1 = '7'"
    assert (named.bind_ms, named.parse_ms, named.n_lines) == (0.02, None, 3)


def test_parse_never_executed_is_its_own_entry(interleaved: Parsed) -> None:
    e = interleaved[0][38]
    assert e.kind == QUERY and e.statement_name == "s1" and e.duration_ms == 0.01
    assert e.parse_ms == 0.01 and e.extra == {"phase": "parse"}


def test_multi_line_statement(interleaved: Parsed) -> None:
    e = interleaved[0][7]
    assert e.query == "SELECT count(*)\n  FROM orders\n WHERE status = 'new'"
    assert e.duration_ms == 1.5 and e.n_lines == 3 and e.session == "202"


def test_log_statement_and_duration_fold(interleaved: Parsed) -> None:
    e = interleaved[0][11]
    assert e.query == "UPDATE orders SET status = 'old' WHERE id = 7"
    assert e.duration_ms == 2.25 and e.n_lines == 2


def test_error_carries_detail_and_statement(interleaved: Parsed) -> None:
    e = interleaved[0][16]
    assert e.severity == "ERROR" and e.query == "INSERT INTO orders (id) VALUES (7)"
    assert e.message == (
        'duplicate key value violates unique constraint "orders_pkey"\n'
        "DETAIL: Key (id)=(7) already exists."
    )
    fatal = interleaved[0][27]
    assert fatal.kind == ERROR and fatal.severity == "FATAL" and fatal.user == "eve"


def test_auto_explain_plan_joins_its_statement(interleaved: Parsed) -> None:
    e = interleaved[0][19]
    assert e.query == "SELECT * FROM orders\n  WHERE id = 42"
    assert e.plan == (
        "Index Scan using orders_pkey on orders  (cost=0.29..8.30 rows=1 width=40)\n"
        "  Index Cond: (id = 42)"
    )
    assert e.duration_ms == 0.26 and e.n_lines == 7


def test_connections(interleaved: Parsed) -> None:
    entries = interleaved[0]
    alice = entries[2]
    assert (alice.user, alice.db, alice.app, alice.host) == ("alice", "shop", "web", "10.0.0.5")
    assert alice.n_lines == 2 and alice.extra == {"port": "50001"}
    assert entries[3].host == "[local]"
    received_only = entries[26]
    assert received_only.n_lines == 1 and received_only.user is None
    assert entries[37].duration_ms == 700.0 and entries[39].duration_ms == 900.0
    # who a session is (from its connection lines) fills what the prefix lacks
    assert entries[6].app == "web" and entries[6].host == "10.0.0.5"


def test_messages_orphans_and_rejects(interleaved: Parsed) -> None:
    entries, rejects = interleaved
    assert entries[1].message == "checkpoint starting: time" and entries[1].user is None
    orphan = entries[30]
    assert orphan.severity == "DETAIL" and orphan.kind == MESSAGE
    assert entries[33].severity == "WARNING"
    assert [(r.line_no, r.reason) for r in rejects] == [
        (31, "no log_line_prefix match"),
        (32, "continuation without a message"),
        (40, "no log_line_prefix match"),  # the truncated last line
    ]


def test_timestamps(interleaved: Parsed) -> None:
    assert interleaved[0][1].ts == pytest.approx(1795514400.0)
    assert interleaved[0][39].ts == pytest.approx(1795514401.0)


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 16])
def test_batching_does_not_change_entries(batch: int) -> None:
    assert parse(INTERLEAVED, batch=batch) == parse(INTERLEAVED)


def test_crlf_line_ends() -> None:
    assert parse([line + "\r" for line in INTERLEAVED]) == parse(INTERLEAVED)


def test_pending_line_is_the_oldest_open_line() -> None:
    lines = INTERLEAVED
    parser = postgres_stderr.make(lines, ParseOptions())
    parser.feed(lines[:5], 1)
    assert parser.pending_line == 1  # the checkpointer's message may still get a DETAIL
    parser.feed(lines[5:28], 6)
    done = {e.line_start for e in parser.entries}
    assert parser.pending_line == min(set(range(1, 29)) - done - {31, 32})
    parser.finish()
    assert parser.pending_line is None


@pytest.mark.parametrize(
    "name",
    [
        "prefix-pgbadger.log",
        "prefix-rds.log",
        "prefix-tpid.log",
        "prefix-mpid.log",
        "prefix-tpidline.log",
        "prefix-appuserdb.log",
        "prefix-session.log",
        "prefix-redhat.log",
        "prefix-custom.log",
    ],
)
def test_prefix_variants_give_the_same_entries(name: str) -> None:
    prefix = CUSTOM if name == "prefix-custom.log" else None
    entries, rejects = parse(lines_of(FIXTURES / name), prefix=prefix)
    assert not rejects
    assert [e.kind for e in entries] == [MESSAGE, CONNECT, QUERY, QUERY, ERROR, DISCONNECT]
    connect, first, multi, error, gone = entries[1:]
    assert (connect.user, connect.db, connect.app, connect.host) == (
        "alice",
        "shop",
        "web",
        "10.0.0.5",
    )
    assert first.query == "SELECT * FROM orders WHERE id = 42" and first.duration_ms == 12.5
    assert (first.user, first.db) == ("alice", "shop")
    assert multi.query == "SELECT id\n  FROM users\n WHERE name = 'x'" and multi.n_lines == 3
    assert error.message == 'relation "nope" does not exist'
    assert error.query == "SELECT * FROM nope" and error.extra["position"] == "15"
    assert gone.duration_ms == 1900.0
    assert int(gone.ts) == 1795514402
    if name == "prefix-session.log":
        assert first.session == "6742f0a0.c9"
    elif name != "prefix-redhat.log":
        assert first.session == "201"


def test_user_prefix_overrides_detection() -> None:
    lines = lines_of(FIXTURES / "prefix-mpid.log")
    parser = postgres_stderr.make(lines, ParseOptions(prefix="%m [%p] %q%u@%d "))
    assert parser.prefix == "%m [%p] %q%u@%d "


def test_make_rejects_a_prefix_that_matches_nothing() -> None:
    lines = lines_of(FIXTURES / "prefix-pgbadger.log")
    with pytest.raises(ValueError, match=r"matches none of the first lines.*detected") as info:
        postgres_stderr.make(lines, ParseOptions(prefix="%m [%p] "))
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="no known log_line_prefix") as info:
        postgres_stderr.make(lines_of(FIXTURES / "prefix-custom.log"), ParseOptions())
    assert "1795514400.000 100" in str(info.value) and "\n" not in str(info.value)


def test_make_on_empty_input() -> None:
    parser = postgres_stderr.make([], ParseOptions())
    parser.feed([], 1)
    parser.finish()
    assert parser.entries == [] and parser.pending_line is None


def test_log_statement_extended_protocol_and_duration_only() -> None:
    p = "2026-11-24 10:00:00.000 UTC [7] u@d "
    entries, rejects = parse(
        [
            p + "LOG:  duration: 0.010 ms  parse <unnamed>: SELECT $1",
            p + "LOG:  duration: 0.020 ms  bind <unnamed>: SELECT $1",
            p + "DETAIL:  parameters: $1 = 'a'",
            p + "LOG:  execute <unnamed>: SELECT $1",
            p + "DETAIL:  parameters: $1 = 'a'",
            p + "LOG:  duration: 0.500 ms",
            p + "LOG:  duration: 0.700 ms",  # nothing to fold into
            p + "LOG:  execute S_1/C_2: SELECT 2",
            p + "LOG:  duration: 0.100 ms  execute fetch from S_1/C_2: SELECT 2",
        ]
    )
    assert not rejects
    first, lone, logged, fetch = entries
    assert (first.duration_ms, first.parse_ms, first.bind_ms) == (0.5, 0.01, 0.02)
    assert first.params == "$1 = 'a'" and first.n_lines == 6
    assert lone.kind == MESSAGE and lone.duration_ms == 0.7
    assert logged.statement_name == "S_1" and logged.duration_ms is None
    assert fetch.statement_name == "S_1" and fetch.extra == {"phase": "fetch"}


def test_plan_before_log_statement_duration() -> None:
    p = "2026-11-24 10:00:00.000 UTC [7] u@d "
    entries, _ = parse(
        [
            p + "LOG:  statement: SELECT f()",
            p + "LOG:  duration: 0.100 ms  plan:",
            "\tQuery Text: SELECT * FROM inner_t",  # a nested statement: not this one
            "\tSeq Scan on inner_t  (cost=0.00..1.00 rows=1 width=4)",
            p + "LOG:  duration: 0.300 ms  plan:",
            "\tQuery Text: SELECT f()",
            "\tResult  (cost=0.00..0.26 rows=1 width=4)",
            p + "LOG:  duration: 0.400 ms",
        ]
    )
    inner, outer = sorted(entries, key=lambda e: e.line_start, reverse=True)
    assert outer.query == "SELECT f()" and outer.duration_ms == 0.4 and outer.n_lines == 5
    assert outer.plan == "Result  (cost=0.00..0.26 rows=1 width=4)"
    assert inner.query == "SELECT * FROM inner_t" and inner.duration_ms == 0.1
    assert inner.plan.startswith("Seq Scan on inner_t")


def test_connection_message_variants() -> None:
    p = "2026-11-24 10:00:00.000 UTC [{}] "
    entries, rejects = parse(
        [
            p.format(1) + "LOG:  connection received: host=10.0.0.1 port=5000",
            p.format(1) + 'LOG:  connection authenticated: identity="bob" method=scram-sha-256'
            " (/etc/postgresql/15/main/pg_hba.conf:99)",
            p.format(1) + "LOG:  connection authorized: user=bob database=shop"
            " application_name=pgAdmin 4 - DB:shop SSL enabled (protocol=TLSv1.3,"
            " cipher=TLS_AES_256_GCM_SHA384, bits=256)",
            p.format(2) + "LOG:  replication connection authorized: user=repl"
            " application_name=walreceiver",
            p.format(3) + "LOG:  connection authorized: user=carol database=shop",
            p.format(3) + "LOG:  disconnection: session time: 26:03:07.250 user=carol"
            " database=shop host=[local]",
        ],
        prefix="%m [%p] ",
    )
    assert not rejects
    bob, repl, carol, gone = entries
    assert (bob.user, bob.db, bob.app, bob.host, bob.n_lines) == (
        "bob",
        "shop",
        "pgAdmin 4 - DB:shop",
        "10.0.0.1",
        3,
    )
    assert bob.extra["authenticated"].startswith('identity="bob"')
    assert (repl.kind, repl.user, repl.db, repl.app) == (CONNECT, "repl", None, "walreceiver")
    assert (carol.user, carol.app) == ("carol", None)
    assert gone.duration_ms == (26 * 3600 + 3 * 60 + 7.25) * 1000 and gone.host == "[local]"


def test_attachment_of_another_session_waits_for_its_own() -> None:
    a = "2026-11-24 10:00:00.000 UTC [1] u@d "
    b = "2026-11-24 10:00:00.000 UTC [2] u@d "
    entries, _ = parse(
        [
            a + "ERROR:  boom",
            b + "LOG:  duration: 1.000 ms  statement: SELECT 2",
            b + "LOG:  duration: 2.000 ms  statement: SELECT 3",
            a + "STATEMENT:  SELECT 1",
        ]
    )
    error = next(e for e in entries if e.kind == ERROR)
    assert error.query == "SELECT 1" and error.n_lines == 2


def test_stale_sessions_are_flushed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_stderr, "STALE_LINES", 5)
    monkeypatch.setattr(postgres_stderr, "SWEEP_EVERY", 4)
    a = "2026-11-24 10:00:00.000 UTC [1] u@d "
    b = "2026-11-24 10:00:00.000 UTC [2] u@d "
    lines = [a + "LOG:  statement: SELECT 1"]
    lines += [b + f"LOG:  duration: 1.000 ms  statement: SELECT {i}" for i in range(20)]
    parser = postgres_stderr.make(lines, ParseOptions())
    for i in range(0, len(lines), 4):
        parser.feed(lines[i : i + 4], i + 1)
    assert any(e.line_start == 1 for e in parser.entries)
    assert parser.pending_line == len(lines)


ANY_LINE = st.one_of(
    st.sampled_from(INTERLEAVED),
    st.text(max_size=40).map(lambda t: t.replace("\n", " ").replace("\r", " ")),
)


@settings(max_examples=80, deadline=None)
@given(lines=st.lists(ANY_LINE, max_size=60), batch=st.integers(min_value=1, max_value=9))
def test_any_mix_of_lines_is_accounted_for(lines: list[str], batch: int) -> None:
    run(postgres_stderr.PostgresStderrParser(compile_prefix("%m [%p] %q%u@%d ")), lines, batch)


def test_long_unmatched_lines_stay_linear() -> None:
    """Two neighbouring free-text fields once backtracked quadratically on such lines."""
    junk = [f"2026-11-24 10:00:00.000 UTC [1] {piece * 40_000}" for piece in ("a@b c, ", ":@[")]
    for prefix in ("%m [%p] %q%u@%d ", "%t:%r:%u@%d:[%p]:"):
        parser = postgres_stderr.PostgresStderrParser(compile_prefix(prefix))
        started = time.perf_counter()
        run(parser, junk)
        assert time.perf_counter() - started < 1.0


# --- sniffing ---------------------------------------------------------------------------------


def test_sniff_scores() -> None:
    assert postgres_stderr.sniff(INTERLEAVED) > 0.9
    for other in (
        lines_of(FIXTURES / "edge-cases.csv"),
        lines_of(FIXTURES / "edge-cases.json"),
        MYSQL_SLOW,
        PYSPY,
    ):
        assert postgres_stderr.sniff(other) < 0.2
    assert postgres_stderr.sniff([]) == 0.0


# --- the real sample logs (one PostgreSQL 15 run, written in all three formats) ----------------


def real(name: str) -> Path:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} not generated yet (scripts/generate_sample_logs.py writes it)")
    return path


def parse_real(module: ModuleType, name: str) -> list[Entry]:
    lines = lines_of(real(name))
    parser = module.make(lines[:400], ParseOptions())
    parser.feed(lines, 1)
    parser.finish()
    assert sum(e.n_lines for e in parser.entries) + len(parser.rejects) == len(lines)
    assert not parser.rejects, parser.rejects[:3]
    return sorted(parser.entries, key=lambda e: e.line_start)


@pytest.fixture(scope="module")
def real_stderr() -> list[Entry]:
    return parse_real(postgres_stderr, "postgresql.log")


def test_real_stderr_detects_debian_prefix() -> None:
    lines = lines_of(real("postgresql.log"))
    assert postgres_stderr.make(lines[:400], ParseOptions()).prefix == "%m [%p] %q%u@%d "


def test_real_three_formats_agree(real_stderr: list[Entry]) -> None:
    def summary(entries: list[Entry]) -> list[tuple]:
        return sorted(
            (
                e.kind,
                e.ts,
                e.duration_ms,
                e.query,
                e.params,
                e.parse_ms,
                e.bind_ms,
                e.plan,
                e.statement_name,
                e.message,
                e.user,
                e.db,
                e.app,
                e.session,
            )
            for e in entries
        )

    csv_entries = parse_real(postgres_csv, "postgresql.csv")
    json_entries = parse_real(postgres_json, "postgresql.json")
    queries = [e for e in real_stderr if e.kind == QUERY]
    assert len(queries) == sum(e.kind == QUERY for e in csv_entries) > 100
    assert summary(real_stderr) == summary(csv_entries) == summary(json_entries)


def test_real_extended_protocol(real_stderr: list[Entry]) -> None:
    executes = [e for e in real_stderr if e.params is not None]
    assert executes, "psycopg's server-side binding should log parameters"
    assert all(e.kind == QUERY and e.duration_ms is not None for e in executes)
    assert any(e.parse_ms is not None and e.bind_ms is not None for e in executes)
    assert any(e.statement_name and e.statement_name.startswith("_pg3_") for e in executes)
    assert not [e for e in real_stderr if e.extra and "phase" in e.extra]


def test_real_plans_errors_and_sessions(real_stderr: list[Entry]) -> None:
    planned = [e for e in real_stderr if e.plan]
    assert planned and all(e.query and "(cost=" in e.plan for e in planned)
    errors = [e for e in real_stderr if e.kind == ERROR]
    assert errors and all(e.query for e in errors)
    kinds = Counter(e.kind for e in real_stderr)
    assert kinds[CONNECT] > 0 and kinds[CONNECT] == kinds[DISCONNECT]
    assert all(e.user and e.db and e.session for e in real_stderr if e.kind != MESSAGE)


def test_real_pgbadger_prefix_log() -> None:
    lines = lines_of(real("postgresql-pgbadger-prefix.log"))
    parser = postgres_stderr.make(lines[:400], ParseOptions())
    assert parser.prefix == "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h "
    entries = parse_real(postgres_stderr, "postgresql-pgbadger-prefix.log")
    assert any(e.kind == QUERY and e.duration_ms is not None for e in entries)
    assert all(e.host for e in entries if e.kind == QUERY)
