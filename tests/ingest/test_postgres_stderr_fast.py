"""The compiled stderr parser against the Python one: same lines in, equal tables and rejects.

``FastPostgresStderrParser`` (``perftui/ingest/_postgres_stderr_fast.pyx``) must produce exactly
what the driver stores of ``PostgresStderrParser``'s entries (``writer.to_arrow`` of them sorted
by line_start), whatever the input and however it is batched, settled, swept or taken. Every
test feeds both parsers the same decoded lines the same way and compares at every
``take_table``. Without the compiled module these tests skip, unless PERFTUI_REQUIRE_NATIVE=1
(CI), which makes the skip a failure.
"""

from __future__ import annotations

import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perftui.ingest import formats, postgres_stderr
from perftui.ingest.formats import ParseOptions
from perftui.ingest.pg_prefix import PREFIX_WINDOW, Prefix, compile_prefix
from perftui.ingest.postgres_stderr import PostgresStderrParser
from perftui.ingest.records import Reject
from perftui.ingest.sources import _decode, open_source, sample_lines
from perftui.store.writer import to_arrow
from tests.conftest import SAMPLE_LOGS
from tests.hardening.test_hostile_input import DATA, JUNK_LINES, mutations
from tests.ingest.differential import (
    assert_same_table,
    assert_text_chunks_within,
    compiled,
    decoded_lines,
    feed_both,
    mutated_line,
    split_lines,
)
from tests.ingest.feeding import lines_of
from tests.ingest.test_pg_prefix import CUSTOM, VARIANTS

FAST = ("perftui.ingest._postgres_stderr_fast", "FastPostgresStderrParser")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "postgres"
DEBIAN = "%m [%p] %q%u@%d "


def fast_parser(prefix: Prefix, **kwargs: int):
    """A new compiled parser; skips (fails with PERFTUI_REQUIRE_NATIVE=1) when not built."""
    return compiled(*FAST)(prefix, **kwargs)


def differential(
    lines: list[str],
    prefix: str = DEBIAN,
    batches: list[int] | tuple[int, ...] = (),
    *,
    settles: dict[int, int] | None = None,
    take_every: int = 1,
    text_limit: int | None = None,
) -> int:
    """``feed_both`` with a new Python parser and a new compiled one; the entry count."""
    compiled = compile_prefix(prefix)
    py = PostgresStderrParser(compiled)
    kwargs = {} if text_limit is None else {"text_limit": text_limit}
    fast = fast_parser(compiled, **kwargs)
    assert fast.name == py.name == "postgres-stderr"
    assert fast.prefix == py.prefix == prefix
    return feed_both(py, fast, lines, batches, settles=settles, take_every=take_every)


# -- inputs ---------------------------------------------------------------------------------------


def _stderr_logs() -> dict[str, str]:
    """Every real sample log detected as a stderr log, with the prefix the driver would use."""
    found = {}
    for path in sorted(p for p in SAMPLE_LOGS.iterdir() if p.is_file()):
        src = open_source(str(path))
        try:
            sample = sample_lines(src.head)
        finally:
            src.close()
        fmt, _score = formats.detect(sample)
        if fmt is not None and fmt.name == "postgres-stderr":
            found[path.name] = postgres_stderr.make(sample, ParseOptions()).prefix
    return found


STDERR_LOGS = _stderr_logs()

# Hand-made fixtures of tests/ingest/test_pg_prefix.py and test_postgres_stderr.py, each with
# the prefix it was written with.
FIXTURE_PREFIXES = {**VARIANTS, "prefix-custom.log": CUSTOM}
FIXTURE_LINES = {name: lines_of(FIXTURES / name) for name in FIXTURE_PREFIXES}

P = "2026-11-24 10:00:00.000 UTC [7] u@d "
A = "2026-11-24 10:00:00.000 UTC [1] u@d "
B = "2026-11-24 10:00:00.000 UTC [2] u@d "
C = "2026-11-24 10:00:00.000 UTC [{}] "

# Inline inputs of test_postgres_stderr.py and test_pg_prefix.py, and lines that take each
# fallback from the compiled fast paths (the plain statement, millisecond stamps) back to the
# Python code: (prefix, lines).
HAND_MADE: dict[str, tuple[str, list[str]]] = {
    "extended protocol and duration only": (
        DEBIAN,
        [
            P + "LOG:  duration: 0.010 ms  parse <unnamed>: SELECT $1",
            P + "LOG:  duration: 0.020 ms  bind <unnamed>: SELECT $1",
            P + "DETAIL:  parameters: $1 = 'a'",
            P + "LOG:  execute <unnamed>: SELECT $1",
            P + "DETAIL:  parameters: $1 = 'a'",
            P + "LOG:  duration: 0.500 ms",
            P + "LOG:  duration: 0.700 ms",
            P + "LOG:  execute S_1/C_2: SELECT 2",
            P + "LOG:  duration: 0.100 ms  execute fetch from S_1/C_2: SELECT 2",
        ],
    ),
    "plan before log_statement duration": (
        DEBIAN,
        [
            P + "LOG:  statement: SELECT f()",
            P + "LOG:  duration: 0.100 ms  plan:",
            "\tQuery Text: SELECT * FROM inner_t",
            "\tSeq Scan on inner_t  (cost=0.00..1.00 rows=1 width=4)",
            P + "LOG:  duration: 0.300 ms  plan:",
            "\tQuery Text: SELECT f()",
            "\tResult  (cost=0.00..0.26 rows=1 width=4)",
            P + "LOG:  duration: 0.400 ms",
        ],
    ),
    "plans and statements in every order": (
        DEBIAN,
        [
            P + "LOG:  duration: 0.300 ms  plan:",
            "\tQuery Text: SELECT 1",
            "\tResult  (cost=0.00..0.01 rows=1 width=4)",
            P + "LOG:  duration: 0.400 ms  statement: SELECT 1",
            P + "LOG:  duration: 0.300 ms  plan:",
            "\tQuery Text: SELECT 2",
            "\tResult  (cost=0.00..0.01 rows=1 width=4)",
            P + "LOG:  duration: 0.100 ms  statement: SELECT 2",
            P + "LOG:  duration: 0.300 ms  plan:",
            '\t{"Query Text": "SELECT 3", "Plan": {}}',
            P + "LOG:  duration: 0.900 ms  statement: SELECT 4",
            P + "LOG:  duration: 0.200 ms  parse s1: SELECT 5",
            P + "LOG:  duration: 0.900 ms  statement: SELECT 6",
            P + "LOG:  duration: 0.200 ms  bind s2: SELECT 7",
            P + "LOG:  duration: 0.900 ms  statement: SELECT 8",
            P + "LOG:  statement: SELECT 9",
            P + "LOG:  duration: 0.900 ms  statement: SELECT 10",
            P + "LOG:  execute s3: SELECT 11",
            P + "LOG:  duration: 0.900 ms  statement: SELECT 12",
        ],
    ),
    "connection message variants": (
        "%m [%p] ",
        [
            C.format(1) + "LOG:  connection received: host=10.0.0.1 port=5000",
            C.format(1) + 'LOG:  connection authenticated: identity="bob" method=scram-sha-256'
            " (/etc/postgresql/15/main/pg_hba.conf:99)",
            C.format(1) + "LOG:  connection authorized: user=bob database=shop"
            " application_name=pgAdmin 4 - DB:shop SSL enabled (protocol=TLSv1.3,"
            " cipher=TLS_AES_256_GCM_SHA384, bits=256)",
            C.format(1) + "LOG:  duration: 1.000 ms  statement: SELECT 1",
            C.format(2) + "LOG:  replication connection authorized: user=repl"
            " application_name=walreceiver",
            C.format(3) + "LOG:  connection authorized: user=carol database=shop",
            C.format(3) + "LOG:  duration: 2.000 ms  statement: SELECT 2",
            C.format(3) + "LOG:  disconnection: session time: 26:03:07.250 user=carol"
            " database=shop host=[local]",
            C.format(3) + "LOG:  duration: 3.000 ms  statement: SELECT 3",
            C.format(4) + "LOG:  connection received: host=[local]",
            C.format(4) + "LOG:  duration: 4.000 ms  statement: SELECT 4",
        ],
    ),
    "connections around held folds": (
        DEBIAN,
        [
            C.format(5) + "LOG:  connection received: host=10.0.0.1 port=5000",
            C.format(5) + "LOG:  statement: SELECT 1",
            C.format(5) + "LOG:  duration: 0.300 ms  plan:",
            "\tQuery Text: SELECT 2",
            "\tResult  (cost=0.00..0.01 rows=1 width=4)",
            C.format(5) + "LOG:  connection authorized: user=bob database=shop",
            C.format(5) + "LOG:  duration: 0.200 ms  parse s1: SELECT 3",
            C.format(5) + "LOG:  duration: 0.200 ms  bind s2: SELECT 4",
            C.format(5) + "LOG:  connection authorized: user=again",
            C.format(5) + "LOG:  statement: SELECT 5",
            C.format(5) + "LOG:  connection received: host=10.0.0.2",
            C.format(5) + "LOG:  disconnection: session time: 0:00:01.5 user=bob database=shop"
            " host=10.0.0.1 port=5000",
            C.format(6) + "LOG:  connection received: host=10.0.0.3 port=1",
            C.format(6) + "LOG:  connection authorized: nobody",
            C.format(6) + "LOG:  connection received: host=10.0.0.3 port=2",
            C.format(6) + "LOG:  connection authorized: user=eve database=x",
            C.format(6) + "DETAIL:  an attachment",
            C.format(6) + "LOG:  disconnection: session time: 0:00:01.5",
            C.format(6) + "DETAIL:  an attachment",
            C.format(6) + "LOG:  disconnection: session time: x",
            C.format(6) + "LOG:  disconnection: session time: 0:00:.01.",  # float() refuses it
            C.format(6) + "LOG:  disconnection: session time: 999999999999:59:59.999 user=",
            C.format(6) + "LOG:  disconnection: session time: 1:2:3 user=a database= host=h",
            C.format(7) + "LOG:  connection authorized: user=carol database=shop",
            "\tcontinued",
            C.format(7) + "LOG:  connection received: host=10.0.0.4 port=3",
            C.format(7) + "LOG:  connection authorized: user=carol database=shop",
            "\tcontinued",
            C.format(7) + "FATAL:  disconnection: session time: 0:00:01.5",
            C.format(8) + "LOG:  connection received: host=10.0.0.5 port=3",
            C.format(8) + "LOG:  connection authorized: user=\u00e9 database=\u00e9"
            " application_name=\u00e9 x",
            C.format(8) + "LOG:  disconnection: session time: 0:00:0\u0661.5 user=\u00e9",
            C.format(8) + "LOG:  disconnection: session time: 0:00:01.5 user=\u00e9",
        ],
    ),
    "attachment of another session": (
        DEBIAN,
        [
            A + "ERROR:  boom",
            B + "LOG:  duration: 1.000 ms  statement: SELECT 2",
            B + "LOG:  duration: 2.000 ms  statement: SELECT 3",
            A + "STATEMENT:  SELECT 1",
        ],
    ),
    "every escape": (
        "%a|%u|%d|%r|%b|%p|%P|%m|%n|%s|%i|%e|%c|%l|%v|%x|%Q|%%|%L ",
        [
            "psql|alice|shop|10.0.0.5(50001)|client backend|201|199|2026-11-24 10:00:00.123 UTC|"
            "1795514400.123|2026-11-24 09:59:00 UTC|SELECT|00000|6742f0a0.c9|7|3/12|0|-42|%|::1 "
            "LOG:  statement: SELECT 1",
            "psql|alice|shop|10.0.0.5(50001)|autovacuum|201|199|2026-11-24 10:00:00.124 UTC|"
            "1795514400.124|2026-11-24 09:59:00 UTC|SELECT|42P01|6742f0a0.c9|8|3/12|0|77|%|::1 "
            "LOG:  duration: 1.5 ms  statement: SELECT 2",
            "psql|alice|shop|10.0.0.5(50001)| client backend |201|199|2026-11-24 10:00:00.125 UTC|"
            "1795514400.125|2026-11-24 09:59:00 UTC|SELECT|00000|6742f0a0.c9|9|3/12|0|0|%|::1 "
            "LOG:  duration: 1.5 ms  statement: SELECT 3",
        ],
    ),
    "literal percent and unknown escape": (
        "100%% %Z%m %",
        ["100% 2026-11-24 10:00:00.000 UTC LOG:  duration: 1.0 ms  statement: SELECT 1"],
    ),
    "epoch stamps and %c sessions": (
        "%n [%c] ",
        [
            "1795514400.5 [6742f0a0.c9] LOG:  duration: 1.0 ms  statement: SELECT 1",
            "1795514400 [6742f0a0.c9] LOG:  duration: 1.0 ms  statement: SELECT 1",
            "1795514401.25 [6742f0a0.ca] LOG:  duration: 1.0 ms  statement: SELECT 1",
        ],
    ),
    "stamps the C path must hand back": (
        "%m [%p] ",
        [
            C.format(1) + "LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.250 CET [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.251 CET [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.251 EST [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.25 [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.250 [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.25a UTC [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.2500 UTC [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.123456+00 [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00 +0530 [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.999 +05:30 [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.999 +\u00b2\u00b2 [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.\u0661\u0662\u0663 UTC [1] LOG:  duration: 1 ms  statement: 1",
            "9999-99-99 99:99:99.999 UTC [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "9999-99-99 99:99:99.998 UTC [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.250 UTC [1] LOG:  duration: 1 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.250 UTC [2] LOG:  duration: 1 ms  statement: SELECT 1",
        ],
    ),
    "statements the C path must hand back": (
        DEBIAN,
        [
            P + "LOG:  duration: 1.5 ms  statement: SELECT 'é'",
            P + "LOG:  duration: 1_0.5 ms  statement: SELECT 1",
            P + "LOG:  duration: 1e3 ms  statement: SELECT 1",
            P + "LOG:  duration: nan ms  statement: SELECT 1",
            P + "LOG:  duration: -0.0 ms  statement: SELECT 1",
            P + "LOG:  duration: .5 ms  statement: SELECT 1",
            P + "LOG:  duration: 5. ms  statement: SELECT 1",
            P + "LOG:  duration: . ms  statement: SELECT 1",
            P + "LOG:  duration:  ms  statement: SELECT 1",
            P + "LOG:  duration: \u0661.5 ms  statement: SELECT 1",
            P + "LOG:  duration: 1.5 ms statement: SELECT 1",
            P + "LOG:  duration: 1.5ms  statement: SELECT 1",
            P + "LOG:  duration: 1.5 ms  statement:",
            P + "LOG:  duration: 1.5 ms  statement: ",
            P + "LOG:  duration: 1.5 ms  statement:  \x1c SELECT 1 \x0b\x1f ",
            P + "LOG:  duration: 1.5 ms  statement: SELECT 1\u00a0",
            P + "LOG:  duration: 1.5 ms  statement: SELECT 1 ms  statement: 2",
            P + "LOG:  duration: 1.5 ms  statement: SELECT",
            "\t  1,",
            "\t  2 ",
            P + "LOG:  duration: 1.5 ms  statement: SELECT $1",
            P + "DETAIL:  parameters: $1 = 'a'",
            P + "LOG:  duration: 1.5 ms  statement: SELECT 1",
            P + "LOCATION:  exec_simple_query, postgres.c:1",
            P + "LOG:  duration: 1.5 ms  statement: SELECT 1",
            "\tcontinued",
            P + "HINT:  a hint",
            "\thint continued",
            P + "DETAIL:  one",
            P + "DETAIL:  two",
            P + "WARNING:  duration: 1.5 ms  statement: SELECT 1",
            P + "LOG:  duration: 99999999999999999999999999999999999999999999999999999999999999"
            "9999 ms  statement: SELECT 1",
            P + "LOG:  duration: 1.5 ms",
            P + "LOG:  duration: 1.5 ms  execute <unnamed>: SELECT 1",
            P + "LOG:  duration: 1.5 ms  something else",
            P + "LOG:  duration: 1.5 ms  statement: SELECT 1\r",
            "2026-11-24 10:00:00.000 UTC [7] \u00e9@d LOG:  duration: 1.5 ms  statement: SELECT 1",
            "2026-11-24 10:00:00.000 UTC [7] [unknown]@[unknown] LOG:  duration: 1.5 ms  "
            "statement: SELECT 1",
        ],
    ),
    "rejects": (
        DEBIAN,
        [
            "\tcontinuation of nothing",
            "not a log line",
            "",
            P + "LOG:  statement: SELECT 1",
            "garbage",
            "\tcontinuation after garbage",
            P + "LOG:  duration: 1.0 ms",
            P + "NOTICE:  hi",
        ],
    ),
    "long unmatched lines": (
        DEBIAN,
        [f"2026-11-24 10:00:00.000 UTC [1] {piece * 4_000}" for piece in ("a@b c, ", ":@[")],
    ),
}


# -- tests ----------------------------------------------------------------------------------------


def test_the_real_stderr_logs_are_found() -> None:
    assert STDERR_LOGS == {
        "postgresql-pgbadger-prefix.log": "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
        "postgresql.log": DEBIAN,
        "profile-shop.postgresql.log": DEBIAN,
    }


@pytest.mark.parametrize("name", sorted(STDERR_LOGS))
def test_real_logs_as_the_driver_batches_them(name: str) -> None:
    lines = decoded_lines(SAMPLE_LOGS / name)
    prefix = STDERR_LOGS[name]
    assert differential(lines, prefix, [1000] * (len(lines) // 1000)) > 20
    assert differential(lines, prefix, take_every=10**9) > 20  # one table at the end


@pytest.mark.parametrize("name", sorted(STDERR_LOGS))
def test_real_logs_fed_one_line_at_a_time(name: str) -> None:
    """Every line boundary is a batch boundary: all state is carried across ``feed`` calls."""
    lines = decoded_lines(SAMPLE_LOGS / name)
    differential(lines, STDERR_LOGS[name], [1] * len(lines), take_every=97)


@pytest.mark.parametrize("name", sorted(STDERR_LOGS))
def test_real_logs_with_random_batches_settles_and_takes(name: str) -> None:
    lines = decoded_lines(SAMPLE_LOGS / name)
    rng = random.Random(1234)
    for _ in range(5):
        sizes = [rng.randint(0, 300) for _ in range(len(lines) // 50)]
        ends, total = [], 0
        for size in sizes:
            total += size
            ends.append(total)
        settles = {i: rng.randint(1, ends[i] + 2) for i in range(len(sizes)) if rng.random() < 0.3}
        differential(
            lines, STDERR_LOGS[name], sizes, settles=settles, take_every=rng.randint(1, 20)
        )


@pytest.mark.parametrize("name", sorted(STDERR_LOGS))
def test_real_logs_with_stale_sessions_swept(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sweeps every few lines flush sessions (and their open messages) in the middle of folds;
    both parsers read the two settings from the Python module."""
    monkeypatch.setattr(postgres_stderr, "STALE_LINES", 7)
    monkeypatch.setattr(postgres_stderr, "SWEEP_EVERY", 5)
    lines = decoded_lines(SAMPLE_LOGS / name)
    differential(lines, STDERR_LOGS[name], [3] * (len(lines) // 3), take_every=7)
    differential(lines, STDERR_LOGS[name], [1] * len(lines), take_every=50)


@pytest.mark.parametrize("limit", [1, 40, 1000, 100_000])
def test_text_beyond_one_chunk_continues_in_the_next(limit: int) -> None:
    """Text that int32 offsets cannot address (2 GiB in a column) is cut into chunks, as
    ``pa.array`` does in ``to_arrow``: shown with small limits."""
    lines = decoded_lines(SAMPLE_LOGS / "postgresql.log")
    differential(lines, DEBIAN, [500] * (len(lines) // 500), text_limit=limit)
    fast = fast_parser(compile_prefix(DEBIAN), text_limit=limit)
    fast.feed(lines, 1)
    fast.finish()
    assert_text_chunks_within(fast.take_table(0), limit)


@pytest.mark.parametrize("name", sorted(FIXTURE_LINES))
def test_fixtures_split_at_every_line(name: str) -> None:
    lines, prefix = FIXTURE_LINES[name], FIXTURE_PREFIXES[name]
    differential(lines, prefix)
    differential(lines, prefix, [1] * len(lines))
    differential([line + "\r" for line in lines], prefix, [2] * len(lines))
    for cut in range(len(lines) + 1):
        differential(lines, prefix, [cut], settles={0: cut + 1})
        differential(lines, prefix, [cut, 1], settles={0: cut, 1: cut + 2})


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_hand_made_inputs(name: str) -> None:
    prefix, lines = HAND_MADE[name]
    differential(lines, prefix)
    differential(lines, prefix, take_every=10**9)
    for cut in range(len(lines) + 1):
        differential(lines, prefix, [cut], settles={0: cut})
        differential(lines, prefix, [cut, 1], settles={1: cut + 1})


def test_pending_statements_come_out_in_line_order() -> None:
    """A held ``statement:`` emitted after later lines' entries: the table is ordered by
    line_start (as the driver sorts), not by when the entries were finished."""
    lines = [
        A + "LOG:  statement: SELECT 1",
        B + "LOG:  duration: 1.000 ms  statement: SELECT 2",
        B + "LOG:  duration: 2.000 ms  statement: SELECT 3",
        A + "LOG:  duration: 3.000 ms",
    ]
    fast = fast_parser(compile_prefix(DEBIAN))
    fast.feed(lines, 1)
    fast.finish()
    table = fast.take_table(5)
    assert table["line_start"].to_pylist() == [1, 2, 3]
    assert table["entry_no"].to_pylist() == [5, 6, 7]
    assert table["query"].to_pylist() == ["SELECT 1", "SELECT 2", "SELECT 3"]
    assert differential(lines) == 3


def test_take_table_forgets_what_it_returned() -> None:
    fast = fast_parser(compile_prefix(DEBIAN))
    fast.feed(FIXTURE_LINES["interleaved.log"], 1)
    fast.finish()
    assert fast.entry_count == 17
    assert fast.take_table(10)["entry_no"].to_pylist() == list(range(10, 27))
    assert fast.entry_count == 0
    assert_same_table(to_arrow([], 27), fast.take_table(27))
    assert not hasattr(fast, "entries")  # the columnar parser has no Entry objects to give


def test_rejects_are_reject_objects() -> None:
    fast = fast_parser(compile_prefix(DEBIAN))
    fast.feed(["\tx", "junk"], 1)
    assert fast.rejects == [
        Reject(1, "continuation without a message", "\tx"),
        Reject(2, "no log_line_prefix match", "junk"),
    ]


# -- hypothesis: mutated logs ---------------------------------------------------------------------

STDERR_SAMPLE = DATA["postgresql.log"]
EDGE_LINES = [line for _prefix, lines in HAND_MADE.values() for line in lines] + [
    _decode(raw) for raw in JUNK_LINES
]
POOL = sorted(
    {line for lines in FIXTURE_LINES.values() for line in lines}
    | set(EDGE_LINES)
    | set(decoded_lines(SAMPLE_LOGS / "postgresql.log")[:300])
)
# Characters a mutation inserts: whitespace Python's strip/regexes treat specially, separators
# of the prefixes and messages, replacement characters from bad UTF-8 / NUL, non-ASCII digits.
NOISE = list(" \t\r\x0b\x0c\x1c\x1f:;[]@.,-+_0123456789eE\ufffd\u00a0\u2028\u0663é\u3000")


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    lines=st.lists(mutated_line(POOL, NOISE), max_size=80),
    prefix=st.sampled_from([DEBIAN, "%m [%p] ", "%m [%p] %c %q%u@%d ", CUSTOM]),
    cuts=st.lists(st.integers(0, 30), max_size=6),
    settle_at=st.integers(0, 90),
    take_every=st.integers(1, 4),
)
def test_mutated_lines(
    lines: list[str], prefix: str, cuts: list[int], settle_at: int, take_every: int
) -> None:
    differential(lines, prefix, cuts, settles={0: settle_at}, take_every=take_every)


@settings(
    max_examples=60,
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(mutations(), min_size=1, max_size=3), batch=st.integers(1, 2000))
def test_mutated_real_log(steps: list, batch: int) -> None:
    """The hardening suite's byte mutations (truncation, junk and other formats' lines, invalid
    UTF-8, NUL, CR, duplicated headers, reordered and cut lines), decoded as the driver does."""
    data = STDERR_SAMPLE
    for mutate in steps:
        data = mutate(data)
    lines = split_lines(_decode(data))
    differential(lines, DEBIAN, [batch] * (len(lines) // batch), settles={1: batch + 1})


# -- which parser gets used -----------------------------------------------------------------------


def test_batch_ingest_gets_the_compiled_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_parser(compile_prefix(DEBIAN))  # skips when not compiled
    monkeypatch.delenv("PERFTUI_PURE_PYTHON", raising=False)
    fmt = formats.by_name("postgres-stderr")
    assert fmt.make_fast is postgres_stderr.make_fast
    lines = FIXTURE_LINES["prefix-pgbadger.log"]
    parser = fmt.make_fast(lines, ParseOptions())
    assert isinstance(parser, compiled(*FAST))
    assert parser.prefix == VARIANTS["prefix-pgbadger.log"]
    custom = fmt.make_fast(FIXTURE_LINES["prefix-custom.log"], ParseOptions(prefix=CUSTOM))
    assert isinstance(custom, compiled(*FAST)) and custom.prefix == CUSTOM
    # The tailer and everything that reads ``entries`` uses ``make``: always the Python parser.
    assert isinstance(fmt.make(lines, ParseOptions()), PostgresStderrParser)


def test_make_fast_chooses_and_refuses_prefixes_as_make_does() -> None:
    for lines, options in (
        (FIXTURE_LINES["prefix-pgbadger.log"], ParseOptions(prefix="%m [%p] ")),
        (FIXTURE_LINES["prefix-custom.log"], ParseOptions()),
    ):
        with pytest.raises(ValueError) as slow:
            postgres_stderr.make(lines, options)
        with pytest.raises(ValueError) as fast:
            postgres_stderr.make_fast(lines, options)
        assert str(fast.value) == str(slow.value)
    assert postgres_stderr.make_fast([], ParseOptions()).prefix == DEBIAN


def test_pure_python_environment_variable_selects_the_python_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PERFTUI_PURE_PYTHON", "1")
    parser = postgres_stderr.make_fast([], ParseOptions())
    assert type(parser) is PostgresStderrParser


# -- the Debian prefix matched in C ----------------------------------------------------------

_FRAGMENTS = [
    "2026-11-24 09:31:08.126 UTC",
    "7",
    "٣",
    " ",
    "  ",
    "[",
    "]",
    "@",
    "[unknown]",
    "postgres",
    "test",
    "LOG",
    "CONTEXT",
    "DEBUG1",
    "DEBUG6",
    ":",
    ":  ",
    "a b",
    "é",
    "\t",
    "x" * 2040,
]
_DEBIAN = re.compile(compile_prefix("%m [%p] %q%u@%d ").regex.pattern + "(?P<host>)(?P<app>)")


def _regex_groups(line: str) -> tuple | None:
    """What the parser's regex for Debian's prefix gives: (groups, end) or None."""
    m = _DEBIAN.match(line, 0, PREFIX_WINDOW)
    return None if m is None else (m.groups(), m.end())


def _c_groups(line: str) -> tuple | None:
    return compiled("perftui.ingest._postgres_stderr_fast", "debian_prefix_groups")(line)


# A Debian prefix line part by part, each part valid, nearly valid or pushed past the window.
_PARTS = [
    ["2026-11-24 09:31:08.126 UTC", "7", "٣1", "", "x", "2024 [x", "9" * 2050],
    [" [", "[", "  [", " ]"],
    ["10129", "", "٣", "12a"],
    ["] ", "]", "]  ", " ] "],
    [
        "",
        "postgres@test ",
        "[unknown]@[unknown] ",
        "@ ",
        "u@ ",
        "@d ",
        "a b@c d ",
        "u@d",
        "[unknown]x@y ",
        "u@[unknown]z ",
        "u" * 2030 + "@d ",
        "u@" + "d" * 2030 + " ",
    ],
    ["LOG", "DEBUG1", "DEBUG6", "", "log", "CONTEXT", "LOG1", "L" * 2040],
    [":  ", ": ", ":", ":   "],
    ["duration: 1 ms", "a@b CONTEXT:  x", "", "@ LOG:  ", "x" * 2100],
]
_LINES = st.one_of(
    st.lists(st.sampled_from(_FRAGMENTS), max_size=14).map("".join),
    st.tuples(*(st.sampled_from(p) for p in _PARTS)).map("".join),
)


@settings(max_examples=3000, deadline=None)
@given(_LINES)
def test_debian_prefix_in_c_is_the_regex_or_defers_to_it(line: str) -> None:
    """Where the C scan answers, it is what the regex gives (groups and end, within the
    2048-character window); where it cannot tell it answers None and the regex decides."""
    fast = _c_groups(line)
    if fast is not None:
        assert fast == _regex_groups(line)


def test_debian_prefix_in_c_answers_for_every_line_of_the_real_log() -> None:
    """The sample log has Debian's prefix: every line that is not a continuation is matched in
    C (the regex runs for none of them), with the regex's groups."""
    lines = [s for s in lines_of(SAMPLE_LOGS / "postgresql.log") if not s.startswith("\t")]
    assert len(lines) > 500
    for line in lines:
        fast = _c_groups(line)
        assert fast is not None
        assert fast == _regex_groups(line)
