"""Statements sqlglot cannot (or should not try to) parse: each becomes a query class with
``parse_error``, in bounded time, and the advisor gets through the rest of the run.

The bounds live in ``perftui.rules.parsing``: a length cap, a bracket-nesting pre-check, a
backtracking budget (nested ``ARRAY[`` / ``STRUCT(`` made sqlglot take exponential time), and a
tree-depth and chain-length check after parsing (the rules and sqlglot's generator recurse).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from rich.console import Console
from sqlglot import exp

from perftui.report import model, render_markdown, render_text
from perftui.rules import parsing, registry
from perftui.rules.base import Workload
from tests.hardening.checks import run_cli

# Statements that must end up as a class with parse_error, in either dialect.
UNPARSEABLE: dict[str, str] = {
    "vendor syntax (QuestDB)": "SELECT * FROM orders SAMPLE BY 1s FILL(NULL) ALIGN TO CALENDAR",
    "vendor syntax (Oracle)": "SELECT * FROM orders CONNECT_BY_ROOT PRIOR id = parent_id START",
    "truncated subquery": "SELECT a, b FROM orders WHERE a = (SELECT max(",
    "truncated string": "INSERT INTO orders (a, b) VALUES ('x",
    "100k-element IN list": "SELECT * FROM orders WHERE id IN ("
    + ",".join(map(str, range(100_000)))
    + ")",
    "500-deep nested subqueries": "SELECT * FROM "
    + "(SELECT * FROM " * 500
    + "orders"
    + ") x" * 500,
    "500-deep IN subqueries": "SELECT * FROM orders WHERE id IN "
    + "(SELECT id FROM orders WHERE id IN " * 500
    + "(1)"
    + ")" * 500,
    "40-deep ARRAY[ (exponential backtracking)": "SELECT ARRAY["
    + "ARRAY[" * 40
    + "1"
    + "]" * 40
    + "] FROM orders",
    "40-deep STRUCT( (exponential backtracking)": "SELECT "
    + "STRUCT(" * 40
    + "1"
    + ")" * 40
    + " FROM orders",
    "5000 casts (tree depth)": "SELECT x" + "::int" * 5000 + " FROM orders",
    "5000 JSON arrows (tree depth)": "SELECT * FROM orders WHERE data" + "->'a'" * 5000 + " = 'x'",
    "5000 ORs (chain length)": "SELECT * FROM orders WHERE "
    + " OR ".join(f"id = {i}" for i in range(5000)),
    "garbage": " ".join(["FOO BAR BAZ"] * 1000),
}

# Big but sane statements: parsed, and every rule runs on them within the time bound.
PARSEABLE = {
    "30k-element IN list": "SELECT * FROM orders WHERE user_id IN ("
    + ",".join(map(str, range(30_000)))
    + ")",
    "900 ANDs": "SELECT * FROM orders WHERE " + " AND ".join(f"c{i} = {i}" for i in range(900)),
    "900 ORs on one column": "SELECT * FROM orders WHERE "
    + " OR ".join(f"status = 's{i}'" for i in range(900)),
    "900-branch UNION ALL": " UNION ALL ".join(
        f"SELECT id FROM orders WHERE id = {i}" for i in range(900)
    ),
    "900-piece LIKE concatenation": "SELECT * FROM orders WHERE name LIKE "
    + " || ".join(["'%a'"] * 900),
    "40-deep nested subqueries": "SELECT * FROM "
    + "(SELECT * FROM " * 40
    + "orders WHERE a = 1 AND b = 2"
    + ") x" * 40
    + " WHERE id = 5",
    "3000-WHEN CASE": "SELECT CASE "
    + " ".join(f"WHEN a = {i} THEN {i}" for i in range(3000))
    + " END FROM orders",
}

PARSE_SECONDS = 5.0  # any one statement, parse and checks included
RUN_SECONDS = 60.0  # ingest + analyze of a log holding every statement above


def pg_log(statements: list[str]) -> bytes:
    """A PostgreSQL stderr log (the Debian prefix) running each statement six times."""
    out = []
    for i, sql in enumerate(statements):
        for k in range(6):
            out.append(
                f"2026-11-24 09:31:{10 + k:02d}.{i:03d} UTC [{2000 + i}] app@shop LOG:  "
                f"duration: {1.5 + k} ms  statement: {sql}"
            )
    return ("\n".join(out) + "\n").encode()


def mysql_log(statements: list[str]) -> bytes:
    """A MariaDB slow log running each statement six times."""
    out = []
    for i, sql in enumerate(statements):
        for k in range(6):
            out += [
                "# Time: 261124  9:31:10",
                f"# User@Host: app[app] @ localhost []  Id: {100 + i}",
                f"# Query_time: 0.00{k + 1}  Lock_time: 0.000000 Rows_sent: 1  Rows_examined: 9",
                f"SET timestamp={1795512670 + k};",
                sql + ";",
            ]
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
@pytest.mark.parametrize("label", list(UNPARSEABLE))
def test_unparseable_statement_is_an_error_value_in_bounded_time(label: str, dialect: str) -> None:
    parsing.parse_statement.cache_clear()
    start = time.perf_counter()
    parsed = parsing.parse_statement(UNPARSEABLE[label], dialect)
    assert time.perf_counter() - start < PARSE_SECONDS
    assert parsed.expression is None and parsed.error, parsed


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
@pytest.mark.parametrize("label", list(PARSEABLE))
def test_big_statement_parses_in_bounded_time(label: str, dialect: str) -> None:
    parsing.parse_statement.cache_clear()
    start = time.perf_counter()
    parsed = parsing.parse_statement(PARSEABLE[label], dialect)
    assert time.perf_counter() - start < PARSE_SECONDS
    assert parsed.error is None and parsed.expression is not None
    assert "orders" in parsed.tables


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
def test_ingest_and_analyze_give_parse_errors_not_crashes(tmp_path: Path, dialect: str) -> None:
    """Through the command (JSON), then the other renderers on the same store."""
    sane = PARSEABLE["40-deep nested subqueries"]
    statements = [*UNPARSEABLE.values(), sane]
    log = tmp_path / "hostile.log"
    log.write_bytes(pg_log(statements) if dialect == "postgres" else mysql_log(statements))
    db = tmp_path / "store.duckdb"
    parsing.parse_statement.cache_clear()
    start = time.perf_counter()
    code, out, err = run_cli("analyze", str(log), "--db", str(db), "--format", "json")
    assert code == 0 and "Traceback" not in err, err
    assert json.loads(out)["query_classes"]
    with duckdb.connect(str(db)) as con:
        report = model.build(con)
        assert render_markdown.render(report)
        render_text.render(report, Console(file=io.StringIO(), width=200))
        rows = con.execute(
            "SELECT e.query, c.parsed, c.parse_error FROM query_classes c"
            " JOIN (SELECT DISTINCT class_id, query FROM entries) e USING (class_id)"
        ).fetchall()
    assert time.perf_counter() - start < RUN_SECONDS
    errors = {query: error for query, parsed, error in rows if parsed}
    assert len(errors) == len(rows)  # every class was looked at once
    for label, sql in UNPARSEABLE.items():
        assert errors.get(sql), label
    assert errors.get(sane, "missing") is None


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
def test_every_rule_on_statements_at_the_bounds(tmp_path: Path, dialect: str) -> None:
    """Just inside the bounds, each rule takes bounded time and never recurses too deep."""
    log = tmp_path / "big.log"
    statements = list(PARSEABLE.values())
    log.write_bytes(pg_log(statements) if dialect == "postgres" else mysql_log(statements))
    db = tmp_path / "store.duckdb"
    assert run_cli("ingest", str(log), "--db", str(db))[0] == 0
    parsing.parse_statement.cache_clear()
    with duckdb.connect(str(db)) as con:
        workload = Workload(con)
        assert workload.classes
        for module in registry.rules():
            start = time.perf_counter()
            list(module.detect(workload))
            assert time.perf_counter() - start < RUN_SECONDS / 4, module.RULE_ID


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
@pytest.mark.parametrize("kind", parsing.FLAT_CHAINS, ids=lambda k: k.__name__)
def test_flat_chains_stay_iterative_in_sqlglot(kind: type[exp.Expression], dialect: str) -> None:
    """``tree_depth`` counts a chain of these once because sqlglot generates and copies them
    without recursing; a sqlglot upgrade that changes that must fail here, not in a user's run."""
    links = parsing.MAX_CHAIN
    if issubclass(kind, exp.SetOperation):
        node: exp.Expression = exp.select("1")
        for _ in range(links):
            node = exp.Union(this=node, expression=exp.select("1"), distinct=False)
    else:
        node = exp.column("a")
        for i in range(links):
            node = kind(this=node, expression=exp.column(f"b{i}"))
    glot = parsing.sqlglot_dialect(dialect)
    assert node.copy().sql(dialect=glot)
    assert parsing.tree_depth(node)[1] == links  # the chain's operators


def test_nesting_depth_ignores_brackets_in_strings() -> None:
    assert parsing.nesting_depth("SELECT '((((((' || x FROM t WHERE (a = 1)") == 1
    assert parsing.nesting_depth("SELECT " + "(" * 60 + "1" + ")" * 60) == 60


# --- the app's pretty-printer ---------------------------------------------------------------

# Fingerprints the Query detail screen may be asked to lay out; 40-deep ARRAY[ once took sqlglot
# minutes (exponential backtracking), so each runs in a child process the test can kill.
HOSTILE_FINGERPRINTS = {
    label: UNPARSEABLE[label]
    for label in (
        "40-deep ARRAY[ (exponential backtracking)",
        "40-deep STRUCT( (exponential backtracking)",
        "500-deep nested subqueries",
        "5000 casts (tree depth)",
        "5000 ORs (chain length)",
        "100k-element IN list",
    )
} | {
    "18-deep ARRAY[ of ?+ lists": "SELECT ARRAY[" + "ARRAY[" * 18 + "?+" + "]" * 18 + "] FROM t",
    "1 MB statement": "SELECT * FROM orders WHERE note = ? " + "AND a = ? " * 100_000,
}
PRETTY_SECONDS = 2.0
_PRETTY_CHILD = """
import json, sys, time
from perftui.tui.data import pretty_sql
sql = sys.stdin.read()
start = time.perf_counter()
out = pretty_sql(sql, sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - start, "out": out}))
"""


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
@pytest.mark.parametrize("label", list(HOSTILE_FINGERPRINTS))
def test_pretty_sql_gives_up_on_hostile_fingerprints_in_bounded_time(
    label: str, dialect: str
) -> None:
    """The app shows such a fingerprint unformatted, quickly, instead of hanging its worker."""
    sql = HOSTILE_FINGERPRINTS[label]
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PRETTY_CHILD, dialect],
            input=sql,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"pretty_sql still running after 30 s on {label}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["seconds"] < PRETTY_SECONDS, result["seconds"]
    assert result["out"] == sql  # the fingerprint as stored


def test_pretty_sql_still_lays_out_ordinary_fingerprints() -> None:
    from perftui.tui.data import pretty_sql

    out = pretty_sql("SELECT a, b FROM orders WHERE id IN (?+) AND c = ?", "postgres")
    assert "\n" in out and "?+" in out and "orders" in out
