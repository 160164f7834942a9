"""Broken and hostile logs: the real samples, mutated, must never crash ``perftui ingest``.

Hypothesis mutates the committed logs (truncation at any byte, junk lines, invalid UTF-8, NUL
bytes, CRLF, duplicated headers, reordered lines, huge lines, the other database's log). Each
run must end with the exit code the README documents (0, or 2 with one ``perftui:`` line for
input perftui cannot read), no traceback, and every line read in exactly one entry's
``n_lines`` or one reject: ``sources.lines == sum(entries.n_lines) + sources.reject_lines``.
Most runs are in-process (``perftui.cli.main``) for speed; a few are real subprocesses.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from perftui.store.results import first
from tests.conftest import sample
from tests.hardening.checks import (
    assert_clean_failure,
    assert_reconciles,
    file_lines,
    run_cli,
    run_subprocess,
)

LOGS = ("postgresql.log", "postgresql.csv", "postgresql.json", "mariadb-slow.log")
PROFILE = "profile-shop.pyspy.txt"
SAMPLES = (*LOGS, PROFILE)
DATA = {name: sample(name).read_bytes() for name in SAMPLES}
# The format each sample must be read as: a mutation may make it unreadable, never another one.
FORMATS = {
    "postgresql.log": "postgres-stderr",
    "postgresql.csv": "postgres-csv",
    "postgresql.json": "postgres-json",
    "mariadb-slow.log": "mysql-slow",
    PROFILE: "pyspy-raw",
}

# Lines that look like one format's lines but are broken, plus terminal and markup noise.
JUNK_LINES = [
    b"",
    b"\t continuation of nothing",
    b"# Time: not a time",
    b"# User@Host: [] @  []",
    b"# Query_time: 1e999  Lock_time: nan Rows_sent: 99999999999999999999  Rows_examined: -1",
    b"SET timestamp=1e300;",
    b"use ;",
    b"/usr/sbin/mariadbd, Version: 10.11 (Debian). started with:",
    b"Time                 Id Command    Argument",
    b"2026-11-24 09:31:06.128 UTC [1] LOG:  duration: nan ms  statement: SELECT 1",
    b"2026-11-24 09:31:06.128 UTC [1] ERROR:  syntax error at character 99999999999",
    b"9999-99-99 99:99:99.999 UTC [1] LOG:  duration: 1 ms  statement: SELECT 1",
    b'{"timestamp":"2026-11-24 09:31:06.128 UTC","error_severity":"LOG","pid":[1]}',
    b'{"timestamp":17,"error_severity":"LOG"}',
    b"{",
    b'2026-11-24 09:31:06.128 UTC,"u","d",1,"h:1",x,1,"",2026,,,LOG,00000,"unterminated',
    b"main (a.py:1);f (b.py:2) \xc2\xb2",
    b"main (a.py:1);f (b.py:2) 99999999999999999999999",
    b"main (a.py:99999999999);f (b.py:-3) 5",
    b"[bold red]markup[/] \x1b]0;title\x07 \x1b[2J",
    b"\xff\xfe\x00\x00",
]
JUNK = st.one_of(
    st.sampled_from(JUNK_LINES),
    st.binary(max_size=120).filter(lambda b: not b.startswith(b"process ")),
)
BAD_BYTES = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80\x80"])

MUTATION_SETTINGS = settings(
    max_examples=60,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Mutation = Callable[[bytes], bytes]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    """One way to break a log; composed below, so several can hit the same file."""
    kind = draw(
        st.sampled_from(
            ["truncate", "junk", "bad_utf8", "nul", "crlf", "dup_headers", "reorder", "cut_line"]
        )
    )
    if kind == "truncate":
        fraction = draw(st.floats(0, 1))
        return lambda d: d[: int(len(d) * fraction)]
    if kind == "junk":
        inserts = draw(st.lists(st.tuples(st.floats(0, 1), JUNK), min_size=1, max_size=8))

        def junk(d: bytes) -> bytes:
            lines = _lines(d)
            for where, line in inserts:
                lines.insert(int(len(lines) * where), line)
            return b"\n".join(lines)

        return junk
    if kind in ("bad_utf8", "nul"):
        pieces = BAD_BYTES if kind == "bad_utf8" else st.sampled_from([b"\x00", b"\x00" * 7])
        inserts = draw(st.lists(st.tuples(st.floats(0, 1), pieces), min_size=1, max_size=6))

        def insert_bytes(d: bytes) -> bytes:
            for where, piece in inserts:
                at = int(len(d) * where)
                d = d[:at] + piece + d[at:]
            return d

        return insert_bytes
    if kind == "crlf":
        every = draw(st.integers(1, 5))

        def crlf(d: bytes) -> bytes:
            lines = _lines(d)
            return b"\n".join(s + b"\r" if i % every == 0 else s for i, s in enumerate(lines))

        return crlf
    if kind == "dup_headers":
        count, where = draw(st.integers(1, 12)), draw(st.floats(0, 1))

        def dup(d: bytes) -> bytes:
            lines = _lines(d)
            at = int(len(lines) * where)
            return b"\n".join(lines[:at] + lines[:count] + lines[at:])

        return dup
    if kind == "reorder":
        seed, start, size = (
            draw(st.integers(0, 2**32)),
            draw(st.floats(0, 1)),
            draw(st.integers(2, 200)),
        )

        def reorder(d: bytes) -> bytes:
            lines = _lines(d)
            at = int(len(lines) * start)
            window = lines[at : at + size]
            random.Random(seed).shuffle(window)
            return b"\n".join(lines[:at] + window + lines[at + size :])

        return reorder
    # cut_line: drop the end of one line (a write cut short, then the log went on)
    where, keep = draw(st.floats(0, 1)), draw(st.floats(0, 1))

    def cut_line(d: bytes) -> bytes:
        lines = _lines(d)
        i = int((len(lines) - 1) * where)
        lines[i] = lines[i][: int(len(lines[i]) * keep)]
        return b"\n".join(lines)

    return cut_line


def ingest_and_check(data: bytes, name: str, *extra: str, same_format: bool = False) -> int:
    """Ingest ``data`` into a fresh store; assert the documented outcome; return the exit code.
    ``same_format``: the sample must still be read as its own format (inserted junk may look
    like another format's first lines, so the mutation tests leave it out)."""
    with tempfile.TemporaryDirectory() as tmp:
        path, db = Path(tmp) / name, Path(tmp) / "store.duckdb"
        path.write_bytes(data)
        code, _out, err = run_cli("ingest", str(path), "--db", str(db), *extra)
        assert "Traceback" not in err, err
        if code != 0:
            assert_clean_failure(code, err)
            if db.exists():
                with duckdb.connect(str(db), read_only=True) as con:
                    stored = first(con.execute("SELECT count(*) FROM sources"))[0]
                assert stored == 0, err
            return code
        if not data:
            assert "empty" in err
            return code
        assert_reconciles(db, data)
        if same_format:
            assert f"as {FORMATS[name]}" in err, err
        return code


@MUTATION_SETTINGS
@given(name=st.sampled_from(SAMPLES), steps=st.lists(mutations(), min_size=1, max_size=3))
def test_mutated_samples_are_accounted_for(name: str, steps: list[Mutation]) -> None:
    data = DATA[name]
    for mutate in steps:
        data = mutate(data)
    event(f"exit code {ingest_and_check(data, name)}")


@settings(max_examples=25, deadline=timedelta(seconds=10))
@given(name=st.sampled_from(SAMPLES), cut=st.integers(0, 2**31))
def test_truncation_at_any_byte(name: str, cut: int) -> None:
    data = DATA[name]
    data = data[: cut % (len(data) + 1)]
    code = ingest_and_check(data, name)
    if file_lines(data) > 5 and name in LOGS:
        assert code == 0  # a few whole lines are enough to recognise the format


@pytest.mark.parametrize("name", SAMPLES)
def test_every_line_crlf_with_nul_and_invalid_utf8(name: str) -> None:
    data = DATA[name].replace(b"\n", b"\r\n")
    mid = len(data) // 2
    data = data[:mid] + b"\x00\xff\xfe\xc3" + data[mid:]
    assert ingest_and_check(data, name, same_format=True) == 0


_STAMP = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?|(?<=SET timestamp=)\d+")


@pytest.mark.parametrize("name", LOGS)
def test_reordered_timestamps_keep_every_entry(name: str) -> None:
    """Every timestamp moved to another line (time runs back and forth, sessions interleave
    out of order): the same entries as the original, every line accounted for."""
    data = DATA[name]
    stamps = _STAMP.findall(data)
    random.Random(7).shuffle(stamps)
    shuffled = iter(stamps)
    mixed = _STAMP.sub(lambda _m: next(shuffled), data)
    assert mixed != data
    with tempfile.TemporaryDirectory() as tmp:
        counts = []
        for i, variant in enumerate((data, mixed)):
            path, db = Path(tmp) / f"{i}-{name}", Path(tmp) / f"{i}.duckdb"
            path.write_bytes(variant)
            code, _out, err = run_cli("ingest", str(path), "--db", str(db))
            assert code == 0 and f"as {FORMATS[name]}" in err, err
            assert_reconciles(db, variant)
            with duckdb.connect(str(db), read_only=True) as con:
                counts.append(first(con.execute("SELECT count(*), sum(n_lines) FROM entries")))
    assert counts[0] == counts[1]


def _one_mb_line(name: str, size: int) -> bytes:
    """A line of ``size`` bytes shaped like the format's own lines (a giant statement)."""
    body = b"SELECT * FROM orders WHERE id IN (" + b"1," * (size // 2) + b"1)"
    if name == "postgresql.log":
        head = b"2026-11-24 09:31:07.000 UTC [10060] app@shop LOG:  duration: 1.5 ms  statement: "
        return head + body
    if name == "postgresql.json":
        return (
            b'{"timestamp":"2026-11-24 09:31:07.000 UTC","pid":10060,"error_severity":"LOG",'
            b'"message":"duration: 1.5 ms  statement: ' + body + b'"}'
        )
    if name == "postgresql.csv":
        return (
            b'2026-11-24 09:31:07.000 UTC,"app","shop",10060,"127.0.0.1:1",6b05595a.2749,1,"",'
            b'2026-11-24 09:31:06 UTC,1/1,0,LOG,00000,"duration: 1.5 ms  statement: '
            + body
            + b'",,,,,,,,,"psql","client backend",,0'
        )
    if name == "mariadb-slow.log":
        return body + b";"
    return b";".join([b"f (app.py:1)"] * (size // 13)) + b" 3"


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("shape", ["entry", "junk"])
def test_one_megabyte_line(name: str, shape: str) -> None:
    """A 1 MB line in the middle: as an entry of the format, or as junk."""
    lines = _lines(DATA[name])
    at = min(40, len(lines) // 2)
    big = _one_mb_line(name, 1 << 20) if shape == "entry" else b"x" * (1 << 20)
    data = b"\n".join([*lines[:at], big, *lines[at:]])
    with tempfile.TemporaryDirectory() as tmp:
        path, db = Path(tmp) / name, Path(tmp) / "store.duckdb"
        path.write_bytes(data)
        code, _out, err = run_cli("ingest", str(path), "--db", str(db))
        assert code == 0 and f"as {FORMATS[name]}" in err, err
        assert_reconciles(db, data)
        with duckdb.connect(str(db), read_only=True) as con:
            longest = first(
                con.execute(
                    "SELECT coalesce(max(length(query)), 0) FROM entries WHERE kind = 'query'"
                )
            )[0]
            raw = first(con.execute("SELECT coalesce(max(length(raw)), 0) FROM rejects"))[0]
    if shape == "entry" and name in LOGS:
        assert longest > 1 << 20  # read as the giant statement it is
    if shape == "junk" and name in LOGS and name != "mariadb-slow.log":  # (statements absorb)
        assert raw == 4096  # rejected, stored cut to 4096 characters


@pytest.mark.slow
def test_fifty_megabyte_line_then_analyze(tmp_path: Path) -> None:
    """A 50 MB statement: ingested as one entry, fingerprinted, its class reported (the
    parse is refused by size, not attempted)."""
    lines = _lines(DATA["postgresql.log"])
    data = b"\n".join([*lines[:20], _one_mb_line("postgresql.log", 50 << 20), *lines[20:]])
    path, db = tmp_path / "big.log", tmp_path / "store.duckdb"
    path.write_bytes(data)
    code, _out, err = run_cli("ingest", str(path), "--db", str(db))
    assert code == 0, err
    assert_reconciles(db, data)
    code, _out, err = run_cli("analyze", "--db", str(db), "--format", "json")
    assert code == 0 and "Traceback" not in err
    with duckdb.connect(str(db), read_only=True) as con:
        errors = con.execute(
            "SELECT parse_error FROM query_classes WHERE parse_error LIKE 'statement longer%'"
        ).fetchall()
    assert errors


@pytest.mark.parametrize(
    ("name", "forced"),
    [
        ("postgresql.log", "mysql-slow"),
        ("mariadb-slow.log", "postgres-stderr"),
        ("postgresql.csv", "postgres-json"),
        ("postgresql.json", "postgres-csv"),
        ("mariadb-slow.log", "postgres-csv"),
    ],
)
def test_other_databases_log_with_forced_format_is_refused(name: str, forced: str) -> None:
    """``--log-format`` that does not match the content: exit 2, one line, nothing stored."""
    assert ingest_and_check(DATA[name], name + ".other", "--log-format", forced) == 2


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("postgresql.log", "mariadb-slow.log"),
        ("mariadb-slow.log", "postgresql.log"),
        ("postgresql.csv", "postgresql.json"),
        ("postgresql.json", "mariadb-slow.log"),
        (PROFILE, "postgresql.log"),
    ],
)
def test_a_log_of_the_other_database_appended(first: str, second: str) -> None:
    """One file holding two databases' logs: read as the first, the rest rejected or absorbed,
    every line still accounted for."""
    ingest_and_check(DATA[first] + DATA[second], "mixed.log")


@given(
    name=st.sampled_from(LOGS),
    junk=st.lists(st.sampled_from(JUNK_LINES), min_size=1, max_size=20),
    fmt=st.sampled_from(["json", "markdown", "text"]),
)
@settings(max_examples=8, deadline=timedelta(seconds=10))
def test_mutated_logs_analyze(name: str, junk: list[bytes], fmt: str) -> None:
    """The advisor and the renderers get through what broken logs leave in the store."""
    lines = _lines(DATA[name])
    step = max(1, len(lines) // (len(junk) + 1))
    for i, line in enumerate(junk, 1):
        lines.insert(i * step, line)
    data = b"\n".join(lines)
    with tempfile.TemporaryDirectory() as tmp:
        path, db = Path(tmp) / name, Path(tmp) / "store.duckdb"
        path.write_bytes(data)
        code, out, err = run_cli("analyze", str(path), "--db", str(db), "--format", fmt)
        assert code == 0 and out and "Traceback" not in err, err
        assert_reconciles(db, data)


# --- real processes: what a user sees -------------------------------------------------------


def test_subprocess_broken_log_exits_zero_and_reconciles(tmp_path: Path) -> None:
    lines = _lines(DATA["mariadb-slow.log"])
    lines[100:100] = [b"\x00\xff junk", b"# Query_time: x", b"[bold]x[/bold]\x1b[2J"]
    data = b"\r\n".join(lines)
    path, db = tmp_path / "slow.log", tmp_path / "store.duckdb"
    path.write_bytes(data)
    proc = run_subprocess("ingest", str(path), "--db", str(db))
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
    assert b"lines read" in proc.stderr
    assert_reconciles(db, data)


def test_subprocess_stdin_truncated_json(tmp_path: Path) -> None:
    data = DATA["postgresql.json"][:100_003]
    db = tmp_path / "store.duckdb"
    proc = run_subprocess("ingest", "-", "--db", str(db), stdin=data)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
    assert_reconciles(db, data)


@pytest.mark.parametrize(
    "data",
    [b"\x00" * 5000, bytes(range(256)) * 40, b"2", b"\xff\xfe" * 100],
    ids=["nul", "binary", "one-byte", "bad-utf8"],
)
def test_subprocess_unreadable_input_is_one_line(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "input.log"
    path.write_bytes(data)
    proc = run_subprocess("ingest", str(path), "--db", str(tmp_path / "store.duckdb"))
    assert_clean_failure(proc.returncode, proc.stderr.decode())


def test_subprocess_other_database_forced_format(tmp_path: Path) -> None:
    proc = run_subprocess(
        "ingest",
        str(sample("postgresql.log")),
        "--log-format",
        "mysql-slow",
        "--db",
        str(tmp_path / "store.duckdb"),
    )
    assert_clean_failure(proc.returncode, proc.stderr.decode())
    assert "does not match" in proc.stderr.decode()
