"""The compiled slow-log parser against the Python one: same lines in, equal tables and rejects.

``FastMySQLSlowParser`` (``perftui/ingest/_mysql_slow_fast.pyx``) must produce exactly what
``writer.to_arrow`` makes of ``MySQLSlowParser``'s entries, whatever the input and however it is
batched, settled or taken. Every test feeds both parsers the same decoded lines the same way and
compares at every ``take_table``. Without the compiled module these tests skip, unless
PERFTUI_REQUIRE_NATIVE=1 (CI), which makes the skip a failure.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perftui.ingest import formats, mysql_slow
from perftui.ingest.formats import ParseOptions
from perftui.ingest.mysql_slow import MySQLSlowParser
from perftui.ingest.records import Reject
from perftui.ingest.sources import (
    HEAD_BYTES,
    OpenSource,
    _decode,
    byte_batches,
    line_batches,
    open_source,
    sample_lines,
)
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
from tests.ingest.test_mysql_slow import FIXTURE_LINES, LINE_POOL

FAST = ("perftui.ingest._mysql_slow_fast", "FastMySQLSlowParser")


def fast_parser(**kwargs: int):
    """A new compiled parser; skips (fails with PERFTUI_REQUIRE_NATIVE=1) when not built."""
    return compiled(*FAST)(**kwargs)


def differential(
    lines: list[str],
    batches: Iterable[int] = (),
    *,
    settles: dict[int, int] | None = None,
    take_every: int = 1,
    text_limit: int | None = None,
) -> int:
    """``feed_both`` with a new Python parser and a new compiled one; the entry count."""
    py = MySQLSlowParser()
    fast = fast_parser() if text_limit is None else fast_parser(text_limit=text_limit)
    assert fast.name == py.name == "mysql-slow"
    return feed_both(py, fast, lines, batches, settles=settles, take_every=take_every)


# -- inputs ---------------------------------------------------------------------------------------


def _slow_logs() -> list[Path]:
    """Every real sample log that is detected as a slow log."""
    found = []
    for path in sorted(p for p in SAMPLE_LOGS.iterdir() if p.is_file()):
        src = open_source(str(path))
        try:
            fmt, _score = formats.detect(sample_lines(src.head))
        finally:
            src.close()
        if fmt is not None and fmt.name == "mysql-slow":
            found.append(path)
    return found


SLOW_LOGS = _slow_logs()

# Hand-made inputs of the Python parser's tests (tests/ingest/test_mysql_slow.py), and lines
# that take each fallback from the compiled fast paths back to the Python code.
HAND_MADE: dict[str, list[str]] = {
    "mariadb 10.0 explain block": [
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
    ],
    "use db carries over": [
        "# User@Host: a[a] @ localhost []  Id:     1",
        "# Query_time: 0.1  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0",
        "use alpha;",
        "SELECT 1;",
        "# User@Host: b[b] @ localhost []  Id:     2",
        "# Query_time: 0.1  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0",
        "use `be``ta`;",
        "SELECT 2;",
        "# User@Host: a[a] @ localhost []  Id:     1",
        "# Query_time: 0.1  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0",
        "SELECT 3;",
    ],
    "unparsable values": [
        "# Time: margdl 11:48:27",
        "# User@Host: ??? broken",
        "# Query_time: lots  Lock_time: 0.0 Rows_sent: many  Rows_examined: 1",
        "# Rows_affected: x  Bytes_sent: 12",
        "SET timestamp=soon;",
        "SELECT 1;",
    ],
    "numbers Python reads differently from C": [
        "# User@Host: a[a] @ h []",
        "# Thread_id: \u0661\u0662  Schema: s\u00e9  QC_hit: No",  # Arabic-Indic digits
        "# Query_time: 1_0.5  Lock_time: +0.5 Rows_sent: \u0663  Rows_examined: 0_1",
        "# Rows_affected: \u0664  Bytes_sent: 99999999999999999999",
        "SET timestamp= 1795512682 ;",
        "SELECT 'é' ;  ",
        "# User@Host: a[a] @ h []",
        "# Query_time: 1e999  Lock_time: nan Rows_sent: 99999999999999999999  Rows_examined: -1",
        "# Rows_affected: 123456789012345678901  Bytes_sent: 9223372036854775807",
        "SET timestamp=1e300;",
        "SELECT 1",
        "# User@Host: a[a] @ h []",
        "# Query_time: -0.0  Lock_time: 0x1p3 Rows_sent: 9223372036854775808  Rows_examined: 1",
        "# Rows_affected: 0000000000000000000001  Bytes_sent: 1",
        "SET timestamp=-0.0;",
        "SELECT 2;",
        "# User@Host: a[a] @ h []",
        "# Query_time: .5  Lock_time: 5. Rows_sent: 1  Rows_examined: 1 Thread_id: 9 Errno: 0",
        "SET timestamp=.;",
        "SELECT 3;",
        "# Query_time: 0.1  Lock_time: 0.1 Rows_sent: 1  Rows_examined: 1 Extra_field:",
        "SET insert_id=5,timestamp=1700000000.25;",
        "SELECT 4;",
        # Well-formed lines (the C fast paths) with numbers only Python reads right.
        "# Query_time: 1_5  Lock_time: 2_0.5 Rows_sent: 1_0  Rows_examined: 9999999999999999999",
        "# Rows_affected: 9999999999999999999  Bytes_sent: 1000000000000000000",
        "SET timestamp=1_700_000_000;",
        "SELECT 5;",
        "# Query_time: 1.5  Lock_time: 0.5 Rows_sent: 1  Rows_examined: 1",
        "SET timestamp=17_00;",
        "SELECT 5;",
        "# Query_time: 0.1  Lock_time: 0.1 Rows_sent: 999999999999999999  Rows_examined: 12",
        "# Rows_affected: 9223372036854775807  Bytes_sent: 9223372036854775808",
        "SET timestamp=17000000000000000000000000000000000000000000000000000000000000000000000;",
        "SELECT 6;",
    ],
    "whitespace Python splits on": [
        "# User@Host: a[a] @ h []",
        "# Thread_id: 1\x1cSchema: s\x1fQC_hit: No\x0b",
        "# Query_time:\x1c0.5\x1dLock_time: 0.1\x1e Rows_sent: 1\x0c Rows_examined: 2\r",
        "# Rows_affected: 1\x0bBytes_sent: 2\x1c\r",
        "SET timestamp=1700000000;\r",
        "\x1c SELECT 1 \x1c; \x0b",
        "# User@Host: a[a] @ h []",
        "# Thread_id: 1\u00a0Schema: s\u2028QC_hit: No\u3000",
        "# Query_time: 0.5\u00a0 Lock_time: 0.1 Rows_sent: 1 Rows_examined: 2\u2029 X: y",
        "# Rows_affected: 1\u00a0Bytes_sent: 2\u0085",
        "SELECT 2;\u00a0",
    ],
    "extra values JSON has to escape": [
        "# User@Host: a[a] @ h []",
        '# Thread_id: 1  Schema: s  QC_hit: a"b\\c\x01\x1b\x7f\u00e9\U0001f600',
        "# Query_time: 0.5  Lock_time: 0.1 Rows_sent: 1  Rows_examined: 2",
        '# Full_scan: "  Full_join: \\  Tmp_table: \x08\x02  Filesort: \u0394',
        "SELECT 1;",
    ],
    "header lines of every shape": [
        "# Time: 261124  9:31:22 # User@Host: [SQL_SLAVE] @  [] # Thread_id: 5  Schema: x",
        "# Thread_id: 74  Schema:   QC_hit: No",
        "# Thread_id: 74  Schema: shop  QC_hit: No  trailing",
        "# Thread_id: 74 Schema: QC_hit: No",
        "# Query_time: 0.1  Lock_time: 0.0",
        "# Rows_affected: 1  Bytes_sent: 2 3",
        "# Rows_affected: 1 Bytes_sent: ",
        "# Full_scan: Yes  Full_join: No",
        "# explain: id\tselect_type\ttable",
        "#",
        "# No InnoDB statistics available for this query",
        "# " + "x" * 70 + ": too far for a header name",
        "SET last_insert_id=1,insert_id=2,timestamp=3;",
        "use ;",
        "SELECT 1;",
        "# administrator command: Quit;",
        "SET timestamp=1;",
        "# administrator command: Ping",
        "# Schema: crm  Last_errno: 0  Killed: 0",
        "Time                 Id Command    Argument",
        "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:",
        "Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock",
        "# Query_time: 0.1  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0",
        "SELECT 'started with:';",
        "TCP Port: 3306, Named Pipe: MySQL",
        "",
        "   ",
    ],
}


# -- tests ----------------------------------------------------------------------------------------


def test_the_real_slow_logs_are_found() -> None:
    assert [p.name for p in SLOW_LOGS] == ["mariadb-slow.log"]


@pytest.mark.parametrize("path", SLOW_LOGS, ids=lambda p: p.name)
def test_real_logs_as_the_driver_batches_them(path: Path) -> None:
    lines = decoded_lines(path)
    assert differential(lines, [1000] * (len(lines) // 1000)) > 100
    assert differential(lines, take_every=10**9) > 100  # one table at the end


@pytest.mark.parametrize("path", SLOW_LOGS, ids=lambda p: p.name)
def test_real_logs_fed_one_line_at_a_time(path: Path) -> None:
    """Every line boundary is a batch boundary: all state is carried across ``feed`` calls."""
    lines = decoded_lines(path)
    differential(lines, [1] * len(lines), take_every=97)


@pytest.mark.parametrize("path", SLOW_LOGS, ids=lambda p: p.name)
def test_real_logs_with_random_batches_settles_and_takes(path: Path) -> None:
    lines = decoded_lines(path)
    rng = random.Random(1234)
    for _ in range(5):
        sizes = [rng.randint(0, 300) for _ in range(len(lines) // 50)]
        ends, total = [], 0
        for size in sizes:
            total += size
            ends.append(total)
        settles = {i: rng.randint(1, ends[i] + 2) for i in range(len(sizes)) if rng.random() < 0.3}
        differential(lines, sizes, settles=settles, take_every=rng.randint(1, 20))


@pytest.mark.parametrize("limit", [1, 40, 1000, 100_000])
def test_text_beyond_one_chunk_continues_in_the_next(limit: int) -> None:
    """Text that int32 offsets cannot address (2 GiB in a column) is cut into chunks, as
    ``pa.array`` does in ``to_arrow``: shown with small limits."""
    lines = decoded_lines(SLOW_LOGS[0])
    differential(lines, [500] * (len(lines) // 500), text_limit=limit)
    fast = fast_parser(text_limit=limit)
    fast.feed(lines, 1)
    fast.finish()
    assert_text_chunks_within(fast.take_table(0), limit)


@pytest.mark.parametrize("name", sorted(FIXTURE_LINES))
def test_fixtures_split_at_every_line(name: str) -> None:
    lines = FIXTURE_LINES[name]
    differential(lines)
    differential(lines, [1] * len(lines))
    for cut in range(len(lines) + 1):
        differential(lines, [cut], settles={0: cut + 1})


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_hand_made_inputs(name: str) -> None:
    lines = HAND_MADE[name]
    differential(lines)
    for cut in range(len(lines) + 1):
        differential(lines, [cut], settles={0: cut})


def test_extra_is_stored_as_the_json_python_writes() -> None:
    """The compiled parser writes ``extra`` as JSON bytes itself; the differential tests hold it
    equal to ``json.dumps``, and this one that the escapes are really exercised."""
    parser = MySQLSlowParser()
    parser.feed(HAND_MADE["extra values JSON has to escape"], 1)
    parser.finish()
    (text,) = to_arrow(parser.entries, 0).column("extra").to_pylist()
    assert '"QC_hit":"a\\"b\\\\c\\u0001\\u001b\x7f\u00e9\U0001f600"' in text
    assert '"Full_scan":"\\""' in text and '"Tmp_table":"\\b\\u0002"' in text
    assert json.loads(text)["Filesort"] == "\u0394"


def test_huge_lines() -> None:
    big_values = ", ".join(f"({i}, 'x')" for i in range(120_000))
    lines = [
        "# User@Host: a[a] @ localhost []",
        "# Query_time: 9.0  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0",
        "SET timestamp=1700000000;",
        f"INSERT INTO t VALUES {big_values};",
        "z" * 1_500_000,
        "# User@Host: a[a] @ localhost []",
        "# Query_time: 0.5  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0",
        "# " + "y" * 1_500_000,
        "# Full_scan: " + "w" * 600,  # longer than the per-text cache takes
        "# Full_scan: " + "w" * 600,
        "SELECT 1;",
        "x" * 1_000_000 + "é",
    ]
    differential(lines)
    differential(lines, [1] * len(lines))


def test_take_table_forgets_what_it_returned() -> None:
    fast = fast_parser()
    fast.feed(FIXTURE_LINES["mysql56_classic.log"], 1)
    fast.finish()
    assert fast.entry_count == 4
    assert fast.take_table(10)["entry_no"].to_pylist() == [10, 11, 12, 13]
    assert fast.entry_count == 0
    assert_same_table(to_arrow([], 14), fast.take_table(14))
    assert not hasattr(fast, "entries")  # the columnar parser has no Entry objects to give


# -- hypothesis: mutated logs ---------------------------------------------------------------------

SLOW_SAMPLE = DATA["mariadb-slow.log"]
# Lines that exercise the fast paths' edges, on top of every fixture line.
EDGE_LINES = [line for lines in HAND_MADE.values() for line in lines] + [
    _decode(raw) for raw in JUNK_LINES
]
POOL = sorted(set(LINE_POOL) | set(EDGE_LINES))
# Characters a mutation inserts: whitespace Python's split/strip/regexes treat specially,
# separators of the header syntax, replacement characters from bad UTF-8 / NUL, non-ASCII digits.
NOISE = list(" \t\r\x0b\x0c\x1c\x1f;#:`[]@.-+_0123456789eE\ufffd\u00a0\u2028\u0663é\u3000")


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    lines=st.lists(mutated_line(POOL, NOISE), max_size=80),
    cuts=st.lists(st.integers(0, 30), max_size=6),
    settle_at=st.integers(0, 90),
    take_every=st.integers(1, 4),
)
def test_mutated_lines(lines: list[str], cuts: list[int], settle_at: int, take_every: int) -> None:
    differential(lines, cuts, settles={0: settle_at}, take_every=take_every)


@settings(
    max_examples=60,
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(mutations(), min_size=1, max_size=3), batch=st.integers(1, 2000))
def test_mutated_real_log(steps: list, batch: int) -> None:
    """The hardening suite's byte mutations (truncation, junk and other formats' lines, invalid
    UTF-8, NUL, CR, duplicated headers, reordered and cut lines), decoded as the driver does."""
    data = SLOW_SAMPLE
    for mutate in steps:
        data = mutate(data)
    lines = split_lines(_decode(data))
    differential(lines, [batch] * (len(lines) // batch), settles={1: batch + 1})


# -- the log's bytes: feed_bytes against the decoded lines ------------------------------------


def _in_memory(data: bytes) -> OpenSource:
    """``data`` as ``open_source`` opens a plain file (its head read ahead), whatever its first
    bytes look like (a mutation can put a compression magic number there)."""
    return OpenSource(
        "slow.log", io.BytesIO(data[HEAD_BYTES:]), data[:HEAD_BYTES], None, None, None
    )


def bytes_differential(data: bytes, batch_bytes: int) -> int:
    """The Python parser fed the lines ``line_batches`` decodes from ``data``, the compiled one
    fed ``byte_batches``' raw pieces through ``feed_bytes``, both in batches of ``batch_bytes``
    bytes: rejects, pending line and entry count equal after every batch, tables at the end."""
    py, fast = MySQLSlowParser(), fast_parser()
    pending: list = []
    for lines, batch in zip(
        line_batches(_in_memory(data), batch_bytes=batch_bytes),
        byte_batches(_in_memory(data), batch_bytes=batch_bytes),
        strict=True,
    ):
        assert lines.end_offset == batch.end_offset
        py.feed(lines.lines, lines.first_line_no)
        line_no = lines.first_line_no
        for piece, start, end in batch.pieces:
            line_no += fast.feed_bytes(piece, start, end, line_no)
        assert line_no == lines.first_line_no + len(lines.lines)
        pending += py.entries
        py.entries.clear()
        assert fast.rejects == py.rejects
        assert fast.pending_line == py.pending_line
        assert fast.entry_count == len(pending)
    py.finish()
    fast.finish()
    pending += py.entries
    assert fast.rejects == py.rejects
    assert_same_table(to_arrow(sorted(pending, key=lambda e: e.line_start), 0), fast.take_table(0))
    return len(pending)


@pytest.mark.parametrize("batch_bytes", [7, 4096, 1 << 22])
@pytest.mark.parametrize("path", SLOW_LOGS, ids=lambda p: p.name)
def test_real_logs_as_bytes(path: Path, batch_bytes: int) -> None:
    """Block ends cut lines anywhere (7 bytes: nearly every line is joined from pieces)."""
    assert bytes_differential(path.read_bytes(), batch_bytes) > 100


# Bytes that the lines' decoding changes or that take the str path: CRLF and lone CR, NUL,
# invalid and multi-byte UTF-8 in every kind of line, a statement of ASCII and non-ASCII
# lines, a last line without LF (its CR stays).
RAW_EDGES = [
    b"# User@Host: a[a] @ h []\r\n"
    b"# Query_time: 0.5  Lock_time: 0.1 Rows_sent: 1  Rows_examined: 2\r\n"
    b"SET timestamp=1700000000;\r\nSELECT 1;\r\r\n\r\n",
    b"# User@Host: a[a] @ h\xff []\n# Thread_id: 7  Schema: s\xc3\xa9  QC_hit: No\n"
    b"# Query_time: 0.5  Lock_time: 0.1 Rows_sent: 1\x00  Rows_examined: 2\n"
    b"SET timestamp=17000\x0000;\nSELECT 'caf\xc3\xa9'\n  FROM t\x00\n WHERE x = '\xe2\x82'\n;\n",
    b"# User@Host: a[a] @ h []\n# Query_time: 0.5  Lock_time: 0.1 Rows_sent: 1  Rows_examined: 2\n"
    b"use `d\xc3\xa9`;\nSELECT\r1 \x1c;\n\x00\n# Time: 261124  9:31:22\r\nSELECT 2;\r",
    b"junk \xff\n\x00\n\r\n# \xc3\xa9: x\n/usr/sbin/mariadbd, Version: 10.11 started with:\r\n",
    b"\n\n# administrator command: Quit\xc3\xa9;\n",
]


@pytest.mark.parametrize("batch_bytes", [1, 5, 1 << 20])
@pytest.mark.parametrize("data", RAW_EDGES)
def test_raw_bytes_the_decoding_changes(data: bytes, batch_bytes: int) -> None:
    bytes_differential(data, batch_bytes)
    bytes_differential(SLOW_SAMPLE[:3000] + data + SLOW_SAMPLE[:3000], batch_bytes)


@settings(
    max_examples=60,
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(mutations(), min_size=1, max_size=3), batch=st.integers(1, 5000))
def test_mutated_real_log_as_bytes(steps: list, batch: int) -> None:
    """The hardening suite's byte mutations, read as bytes by the compiled parser."""
    data = SLOW_SAMPLE
    for mutate in steps:
        data = mutate(data)
    bytes_differential(data, batch)


def test_feed_bytes_refuses_a_range_outside_the_data() -> None:
    fast = fast_parser()
    with pytest.raises(ValueError, match="outside"):
        fast.feed_bytes(b"SELECT 1;\n", 0, 11, 1)
    with pytest.raises(ValueError, match="outside"):
        fast.feed_bytes(b"SELECT 1;\n", 5, 4, 1)


# -- which parser gets used -----------------------------------------------------------------------


def test_batch_ingest_gets_the_compiled_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_parser()  # skips when not compiled
    monkeypatch.delenv("PERFTUI_PURE_PYTHON", raising=False)
    fmt = formats.by_name("mysql-slow")
    assert fmt.make_fast is mysql_slow.make_fast
    assert isinstance(fmt.make_fast([], ParseOptions()), compiled(*FAST))
    # The tailer and everything that reads ``entries`` uses ``make``: always the Python parser.
    assert isinstance(fmt.make([], ParseOptions()), MySQLSlowParser)


def test_pure_python_environment_variable_selects_the_python_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PERFTUI_PURE_PYTHON", "1")
    parser = mysql_slow.make_fast([], ParseOptions())
    assert type(parser) is MySQLSlowParser


def test_only_the_compiled_formats_have_a_fast_parser() -> None:
    assert [f.name for f in formats.all_formats() if f.make_fast is not None] == [
        "postgres-stderr",
        "mysql-slow",
    ]


def test_rejects_are_reject_objects() -> None:
    fast = fast_parser()
    fast.feed(["junk", "", "# comment"], 1)
    assert fast.rejects == [
        Reject(1, "text outside an entry", "junk"),
        Reject(2, "blank line", ""),
        Reject(3, "comment outside an entry", "# comment"),
    ]
