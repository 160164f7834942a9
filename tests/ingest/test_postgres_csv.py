"""PostgreSQL csvlog parser: multi-line records, broken ones, column counts, sniffing."""

from __future__ import annotations

from pathlib import Path

import pytest

from perftui.ingest import postgres_csv, postgres_json, postgres_stderr
from perftui.ingest.formats import ParseOptions
from perftui.ingest.records import CONNECT, DISCONNECT, ERROR, MESSAGE, QUERY, Entry, Reject
from tests.ingest.feeding import MYSQL_SLOW, PYSPY, lines_of, run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "postgres"
SAMPLES = Path(__file__).resolve().parent.parent.parent / "sample_logs"

Parsed = tuple[dict[int, Entry], list[Reject]]  # entries by first line, rejects


EDGE = lines_of(FIXTURES / "edge-cases.csv")


def parse(lines: list[str], batch: int = 0) -> tuple[list[Entry], list[Reject]]:
    return run(postgres_csv.make(lines[:400], ParseOptions()), lines, batch)


@pytest.fixture(scope="module")
def edge() -> Parsed:
    entries, rejects = parse(EDGE)
    return {e.line_start: e for e in entries}, rejects


def test_entries(edge: Parsed) -> None:
    entries, _ = edge
    assert [(line, e.kind, e.n_lines) for line, e in entries.items()] == [
        (1, MESSAGE, 1),
        (2, CONNECT, 2),
        (4, QUERY, 3),
        (5, QUERY, 3),
        (10, ERROR, 1),
        (13, QUERY, 7),
        (20, ERROR, 1),
        (21, DISCONNECT, 1),
        (23, QUERY, 1),
    ]


def test_fields_from_columns(edge: Parsed) -> None:
    entries, _ = edge
    connect = entries[2]
    assert (connect.user, connect.db, connect.host, connect.app) == (
        "alice",
        "shop",
        "10.0.0.5",
        "web",
    )
    assert connect.session == "201" and connect.extra["session_id"] == "6742f0a0.c9"
    assert entries[1].extra["backend_type"] == "checkpointer"
    assert entries[1].ts == pytest.approx(1795514400.0)


def test_multi_line_records(edge: Parsed) -> None:
    entries, _ = edge
    assert entries[5].query == "SELECT count(*)\n  FROM orders\n WHERE status = 'new'"
    plan = entries[13]  # auto_explain record (5 lines) + its statement record (2 lines)
    assert plan.query == "SELECT * FROM orders\n  WHERE id = 42" and plan.duration_ms == 0.26
    assert plan.plan.startswith("Index Scan using orders_pkey")


def test_extended_protocol_and_errors(edge: Parsed) -> None:
    entries, _ = edge
    execute = entries[4]
    assert (execute.duration_ms, execute.parse_ms, execute.bind_ms) == (0.03, 0.05, 0.08)
    assert execute.params == "$1 = '42'"
    error = entries[10]
    assert error.query == "INSERT INTO orders (id) VALUES (7)"
    assert error.message.endswith("\nDETAIL: Key (id)=(7) already exists.")
    assert error.extra["sqlstate"] == "23505"
    pg13 = entries[20]  # a 24-column row
    assert pg13.message == 'column "nickname" does not exist' and pg13.extra["position"] == "8"


def test_broken_records_are_rejected_line_by_line(edge: Parsed) -> None:
    _, rejects = edge
    assert [(r.line_no, r.reason) for r in rejects] == [
        (11, "broken csv record (unterminated quote)"),
        (12, "broken csv record (unterminated quote)"),
        (22, "broken csv record"),
    ]
    assert rejects[1].raw == "FROM nowhere"


def test_truncated_last_record_is_kept(edge: Parsed) -> None:
    assert edge[0][23].query == "SELECT 42" and edge[0][23].duration_ms == 0.5


def test_truncated_record_without_message_is_rejected() -> None:
    entries, rejects = parse(['2026-11-24 10:00:01.000 UTC,"alice","sh'])
    assert not entries and rejects[0].reason == "truncated csv record"


@pytest.mark.parametrize("batch", [1, 2, 3, 5])
def test_batching_does_not_change_entries(batch: int) -> None:
    assert parse(EDGE, batch=batch) == parse(EDGE)


def test_crlf_line_ends() -> None:
    assert parse([line + "\r" for line in EDGE]) == parse(EDGE)


def test_pending_line_points_at_an_open_record() -> None:
    parser = postgres_csv.make(EDGE, ParseOptions())
    parser.feed(EDGE[:4], 1)
    assert parser.pending_line == 4  # a parse, waiting for its execute
    parser.feed(EDGE[4:6], 5)  # line 5 opens a three-line record
    assert parser.pending_line == 4
    parser.feed(EDGE[6:], 7)
    assert parser.pending_line == 23  # the last record, unterminated so far
    parser.finish()
    assert parser.pending_line is None


def test_huge_field() -> None:
    query = "SELECT '" + "x" * 300_000 + "'"
    line = (
        '2026-11-24 10:00:00.201 UTC,"bob","shop",202,"[local]",6742f0a0.ca,3,"SELECT",'
        "2026-11-24 10:00:00 UTC,3/1,0,LOG,00000,"
        f'"duration: 1.000 ms  statement: {query}",,,,,,,,,"psql","client backend",,0'
    )
    entries, _ = parse([line])
    assert entries[0].query == query


def test_sniff_scores() -> None:
    assert postgres_csv.sniff(EDGE) > 0.8
    for other in (
        lines_of(FIXTURES / "interleaved.log"),
        lines_of(FIXTURES / "edge-cases.json"),
        MYSQL_SLOW,
        PYSPY,
    ):
        assert postgres_csv.sniff(other) < 0.2
    assert postgres_csv.sniff([]) == 0.0


def test_real_csv_sniffs_and_parses_cleanly() -> None:
    path = SAMPLES / "postgresql.csv"
    if not path.exists():
        pytest.skip(f"{path} not generated yet (scripts/generate_sample_logs.py writes it)")
    lines = lines_of(path)
    assert postgres_csv.sniff(lines[:400]) == 1.0
    assert postgres_stderr.sniff(lines[:400]) < 0.2 and postgres_json.sniff(lines[:400]) == 0.0
    entries, rejects = parse(lines, batch=97)
    assert not rejects and any(e.plan for e in entries)
