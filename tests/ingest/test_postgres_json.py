"""PostgreSQL jsonlog parser: records, rejects, sniffing."""

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


EDGE = lines_of(FIXTURES / "edge-cases.json")


def parse(lines: list[str], batch: int = 0) -> tuple[list[Entry], list[Reject]]:
    return run(postgres_json.make(lines[:400], ParseOptions()), lines, batch)


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
        (9, ERROR, 1),
        (10, QUERY, 2),
        (13, DISCONNECT, 1),
    ]


def test_fields(edge: Parsed) -> None:
    entries, _ = edge
    connect = entries[2]
    assert (connect.user, connect.db, connect.host, connect.app) == (
        "alice",
        "shop",
        "10.0.0.5",
        "web",
    )
    assert connect.extra == {
        "session_id": "6742f0a0.c9",
        "backend_type": "not initialized",
        "port": "50001",
    }
    execute = entries[4]
    assert (execute.duration_ms, execute.parse_ms, execute.bind_ms) == (0.03, 0.05, 0.08)
    assert execute.params == "$1 = '42'" and execute.session == "201"
    error = entries[9]
    assert error.query == "INSERT INTO orders (id) VALUES (7)"
    assert error.extra["sqlstate"] == "23505" and error.severity == "ERROR"
    plan = entries[10]
    assert plan.query == "SELECT * FROM orders\n  WHERE id = 42" and plan.duration_ms == 0.26
    assert plan.plan == (
        "Index Scan using orders_pkey on orders  (cost=0.29..8.30 rows=1 width=40)\n"
        "  Index Cond: (id = 42)"
    )
    assert entries[13].duration_ms == 900.0


def test_rejects(edge: Parsed) -> None:
    _, rejects = edge
    assert [(r.line_no, r.reason) for r in rejects] == [
        (6, "not a JSON object"),
        (8, "not a jsonlog record"),
        (12, "blank line"),
        (14, "not a JSON object"),  # the truncated last line
    ]


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_batching_does_not_change_entries(batch: int) -> None:
    assert parse(EDGE, batch=batch) == parse(EDGE)


def test_crlf_line_ends() -> None:
    assert parse([line + "\r" for line in EDGE]) == parse(EDGE)


def test_sniff_scores() -> None:
    assert postgres_json.sniff(EDGE) > 0.7
    for other in (
        lines_of(FIXTURES / "interleaved.log"),
        lines_of(FIXTURES / "edge-cases.csv"),
        MYSQL_SLOW,
        PYSPY,
        ['{"a": 1}', "[1]"],
    ):
        assert postgres_json.sniff(other) < 0.2
    assert postgres_json.sniff([]) == 0.0


def test_real_json_sniffs_and_parses_cleanly() -> None:
    path = SAMPLES / "postgresql.json"
    if not path.exists():
        pytest.skip(f"{path} not generated yet (scripts/generate_sample_logs.py writes it)")
    lines = lines_of(path)
    assert postgres_json.sniff(lines[:400]) == 1.0
    assert postgres_stderr.sniff(lines[:400]) == 0.0 and postgres_csv.sniff(lines[:400]) == 0.0
    entries, rejects = parse(lines, batch=101)
    assert not rejects and any(e.plan for e in entries)
