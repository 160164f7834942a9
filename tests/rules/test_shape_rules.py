"""The statement-shape rules (select-star, or-to-in, function-on-column, leading-wildcard,
deep-offset, unbounded-result) on the real sample logs and on hand-written statements."""

from __future__ import annotations

import doctest
import re
from pathlib import Path
from types import ModuleType

import pytest
from sqlglot import exp

from perftui.ingest.driver import ingest_path
from perftui.rules import (
    deep_offset,
    function_on_column,
    leading_wildcard,
    or_to_in,
    select_star,
    sqltext,
    unbounded_result,
)
from perftui.rules.base import Finding, Workload
from perftui.rules.schema_info import Index, SchemaInfo
from perftui.store import schema
from tests.conftest import sample

SHAPE_RULES = (
    select_star,
    or_to_in,
    function_on_column,
    leading_wildcard,
    deep_offset,
    unbounded_result,
)
PK_LOOKUP = "SELECT id, name, email FROM users WHERE id ="
# Values the sample workload binds; none may appear in a fix.
LOGGED_VALUES = ("books", "games", "electronics", "@example", "2026-01-05", "49900", "50000")


def _ingest(path: Path, db: Path, **kw) -> Workload:
    con = schema.connect(db)
    ingest_path(con, str(path))
    return Workload(con, **kw)


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Workload:
    return _ingest(sample("postgresql.log"), tmp_path_factory.mktemp("pg") / "t.duckdb")


@pytest.fixture(scope="module")
def maria(tmp_path_factory: pytest.TempPathFactory) -> Workload:
    return _ingest(sample("mariadb-slow.log"), tmp_path_factory.mktemp("maria") / "t.duckdb")


def _class_id(wl: Workload, statement_start: str) -> str:
    """The one class whose sample is, or else starts with, ``statement_start``."""
    ids = [c.class_id for c in wl.classes if c.sample == statement_start] or [
        c.class_id for c in wl.classes if (c.sample or "").startswith(statement_start)
    ]
    assert len(ids) == 1, f"expected one class starting {statement_start!r}, got {ids}"
    return ids[0]


def _findings(wl: Workload, rule: ModuleType, statement_start: str) -> list[Finding]:
    cid = _class_id(wl, statement_start)
    return [f for f in rule.detect(wl) if cid in f.query_class_ids]


def _one(wl: Workload, rule: ModuleType, statement_start: str) -> Finding:
    found = _findings(wl, rule, statement_start)
    assert len(found) == 1, f"{rule.RULE_ID}: {len(found)} findings for {statement_start!r}"
    f = found[0]
    assert f.rule == rule.RULE_ID
    assert f.impact_ms > 0 and f.tables and f.columns is not None
    assert all(cid in f.detail for cid in f.query_class_ids), f.detail
    assert not any(v in f.fix for v in LOGGED_VALUES), f.fix
    return f


# --------------------------------------------------------------------------- real logs


@pytest.mark.parametrize("wl_name, ph", [("pg", "$1"), ("maria", "?")])
def test_select_star(wl_name: str, ph: str, request: pytest.FixtureRequest) -> None:
    wl: Workload = request.getfixturevalue(wl_name)
    f = _one(wl, select_star, "SELECT * FROM products")
    assert f.tables == ["products"] and f.severity in ("low", "medium")
    assert "columns the code" in f.fix and "COL.001" in f.detail
    known = Workload(wl.con, schema=SchemaInfo({"products": ["id", "name", "category", "price"]}))
    f = _one(known, select_star, "SELECT * FROM products")
    assert f"SELECT id, name, category, price FROM products WHERE category = {ph}" in f.fix
    assert f.columns == ["id", "name", "category", "price"]


@pytest.mark.parametrize("wl_name, values", [("pg", "$1, $2, $3"), ("maria", "?, ?, ?")])
def test_or_to_in(wl_name: str, values: str, request: pytest.FixtureRequest) -> None:
    wl: Workload = request.getfixturevalue(wl_name)
    f = _one(wl, or_to_in, "SELECT id, name FROM products WHERE category = 'books' OR")
    assert f.tables == ["products"] and f.columns == ["category"]
    assert f.fix.startswith(f"SELECT id, name FROM products WHERE category IN ({values})")
    assert "ARG.008" in f.detail and f.evidence["alternatives"] == [3]


def test_function_on_column_postgres(pg: Workload) -> None:
    f = _one(pg, function_on_column, "SELECT id, name FROM users WHERE lower(email)")
    assert (f.tables, f.columns, f.evidence["expression"]) == (["users"], ["email"], "lower(email)")
    assert "CREATE INDEX ON users((lower(email)));" in f.fix
    for start in (
        "SELECT id, user_id, total FROM orders WHERE created_at::date",
        "SELECT id, user_id, total FROM orders WHERE date_trunc(",
    ):
        f = _one(pg, function_on_column, start)
        assert (f.tables, f.columns) == (["orders"], ["created_at"])
        assert "created_at >= $1 AND created_at < $1 + INTERVAL '1 DAY'" in f.fix
        assert "CREATE INDEX ON orders(created_at);" in f.fix


def test_function_on_column_mariadb(maria: Workload) -> None:
    f = _one(maria, function_on_column, "SELECT id, name FROM users WHERE lower(email)")
    assert (f.columns, f.evidence["expression"]) == (["email"], "lower(email)")
    # MariaDB has no functional index: a generated column, and the statement using it.
    assert "ADD COLUMN email_lower VARCHAR(255) GENERATED ALWAYS AS (LOWER(email)) VIRTUAL" in f.fix
    assert "SELECT id, name FROM users WHERE email_lower = ?" in f.fix
    assert "CREATE INDEX" not in f.fix.split("DAY")[-1]  # no MySQL 8 functional index DDL
    f = _one(maria, function_on_column, "SELECT id, user_id, total FROM orders WHERE date(")
    assert f.evidence["expression"] == "date(created_at)"
    assert "created_at >= ? AND created_at < ? + INTERVAL '1' DAY" in f.fix


def test_leading_wildcard(pg: Workload, maria: Workload) -> None:
    start = "SELECT id, email FROM users WHERE email LIKE"
    f = _one(pg, leading_wildcard, start)
    assert (f.tables, f.columns, f.evidence["operator"]) == (["users"], ["email"], "LIKE")
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm;" in f.fix
    assert "USING gin(email gin_trgm_ops)" in f.fix
    f = _one(maria, leading_wildcard, start)
    assert f.evidence["pattern_shape"] == "suffix"
    assert "GENERATED ALWAYS AS (REVERSE(email))" in f.fix
    assert "WHERE email_reversed LIKE CONCAT(REVERSE(?), '%')" in f.fix


@pytest.mark.parametrize("wl_name, ph", [("pg", "$1"), ("maria", "?")])
def test_deep_offset(wl_name: str, ph: str, request: pytest.FixtureRequest) -> None:
    wl: Workload = request.getfixturevalue(wl_name)
    f = _one(wl, deep_offset, "SELECT id, user_id, total FROM orders ORDER BY id LIMIT 50")
    assert (f.tables, f.columns) == (["orders"], ["id"])
    assert f.evidence["max_offset"] == 50_000 and f.severity == "medium"
    assert f"SELECT id, user_id, total FROM orders WHERE id > {ph} ORDER BY id LIMIT 50" in f.fix
    assert "OFFSET" not in f.fix and "CLA.003" in f.detail
    f = _one(wl, deep_offset, "SELECT id, name FROM products ORDER BY id LIMIT 20")
    assert f.evidence["max_offset"] == 1800 and f.evidence["deep_executions"] == 8
    assert f.impact_ms < sum(c.total_ms for c in wl.classes if c.class_id in f.query_class_ids)


def test_unbounded_result(pg: Workload, maria: Workload) -> None:
    f = _one(maria, unbounded_result, "SELECT id, email FROM users")
    assert f.evidence["max_rows"] == 20_000 and f.evidence["rows_source"] == ["rows_sent"]
    assert "SELECT id, email FROM users WHERE id > ? ORDER BY id LIMIT 1000" in f.fix
    # No rows_sent in PostgreSQL logs, and this statement was not auto_explained: skipped.
    assert _findings(pg, unbounded_result, "SELECT id, email FROM users") == []


@pytest.mark.parametrize("wl_name", ["pg", "maria"])
def test_pk_lookup_is_clean(wl_name: str, request: pytest.FixtureRequest) -> None:
    wl: Workload = request.getfixturevalue(wl_name)
    for rule in SHAPE_RULES:
        assert _findings(wl, rule, PK_LOOKUP) == [], rule.RULE_ID


@pytest.mark.parametrize("wl_name", ["pg", "maria"])
def test_every_finding_is_complete(wl_name: str, request: pytest.FixtureRequest) -> None:
    wl: Workload = request.getfixturevalue(wl_name)
    for rule in SHAPE_RULES:
        for f in rule.detect(wl):
            assert f.rule == rule.RULE_ID and f.severity in ("low", "medium", "high")
            assert f.query_class_ids and f.tables and f.fix and f.impact_ms > 0
            assert f.to_dict()["rule"] == rule.RULE_ID


# --------------------------------------------------------------------------- hand-written logs

MYSQL8_HEADER = (
    "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\n"
    "Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\n"
    "Time                 Id Command    Argument\n"
)


def _mysql_log(tmp_path: Path, statements: list[tuple[str, int]]) -> Workload:
    """A MySQL 8 slow log of (statement, rows_sent), 10 ms each, ingested into a fresh store."""
    text = MYSQL8_HEADER
    for i, (sql, rows) in enumerate(statements):
        text += (
            f"# Time: 2026-01-05T10:00:{i:02d}.000000Z\n"
            "# User@Host: app[app] @ localhost []  Id:     5\n"
            "# Query_time: 0.010000  Lock_time: 0.000000"
            f" Rows_sent: {rows}  Rows_examined: {rows}\n"
            f"SET timestamp={1767607200 + i};\n{sql};\n"
        )
    path = tmp_path / "slow.log"
    path.write_text(text)
    return _ingest(path, tmp_path / "t.duckdb")


def _all(wl: Workload) -> list[Finding]:
    return [f for rule in SHAPE_RULES for f in rule.detect(wl)]


def test_edge_cases_report_nothing(tmp_path: Path) -> None:
    wl = _mysql_log(
        tmp_path,
        [
            ("SELECT id FROM users WHERE status = 'a' OR email = 'b'", 5),  # two columns
            ("SELECT id FROM users WHERE name LIKE 'abc%'", 5),  # prefix: index-friendly
            ("SELECT count(*) FROM orders", 5000),  # one row, whatever Rows_sent says
            ("SELECT status, count(*) FROM orders GROUP BY status LIMIT 5000", 5000),
            ("SELECT id FROM users WHERE lower('ABC') = name", 1),  # function on a value
            ("SELECT id, name FROM users ORDER BY id LIMIT 20 OFFSET 900", 20),  # shallow
            ("SELEC broken statement", 0),  # parse error: skipped silently
        ],
    )
    assert _all(wl) == []


def test_mysql8_gets_a_functional_index(tmp_path: Path) -> None:
    wl = _mysql_log(tmp_path, [("SELECT u.id FROM users u WHERE LOWER(u.email) = 'x@y.z'", 1)])
    (f,) = function_on_column.detect(wl)
    assert "CREATE INDEX idx_users_lower_email ON users((lower(email)));" in f.fix
    assert "GENERATED" not in f.fix and "x@y.z" not in f.fix
    assert (f.tables, f.columns, f.evidence["expression"]) == (["users"], ["email"], "lower(email)")


def test_contains_search_gets_fulltext_on_mysql(tmp_path: Path) -> None:
    wl = _mysql_log(tmp_path, [("SELECT id FROM notes WHERE body LIKE '%secret%'", 3)])
    (f,) = leading_wildcard.detect(wl)
    assert f.evidence["pattern_shape"] == "contains"
    assert "ADD FULLTEXT INDEX" in f.fix and "MATCH(body) AGAINST(? IN BOOLEAN MODE)" in f.fix
    assert "secret" not in f.fix and "secret" not in f.detail


def test_or_to_in_in_a_join_with_aliases(tmp_path: Path) -> None:
    sql = (
        "SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id"
        " WHERE o.status = 'paid' AND (u.status = 'vip' OR u.status = 'gold' OR u.status IN"
        " ('x'))"
    )
    wl = _mysql_log(tmp_path, [(sql, 3)])
    (f,) = or_to_in.detect(wl)
    assert (f.tables, f.columns) == (["users"], ["status"])
    assert "o.status = ? AND (u.status IN (?, ?, ?))" in f.fix


def test_unbounded_with_schema_key_and_postgres_plan(tmp_path: Path) -> None:
    log = tmp_path / "pg.log"
    log.write_text(
        "2026-01-05 10:00:01.000 UTC [123] app@shop LOG:  duration: 50.000 ms  plan:\n"
        "\tQuery Text: SELECT email FROM users\n"
        "\tSeq Scan on users  (cost=0.00..100.00 rows=20000 width=30)"
        " (actual time=0.010..5.000 rows=20000 loops=1)\n"
        "2026-01-05 10:00:00.000 UTC [123] app@shop LOG:  duration: 5.000 ms  execute <unnamed>:"
        " SELECT id FROM users WHERE email ILIKE $1\n"
        "2026-01-05 10:00:00.000 UTC [123] app@shop DETAIL:  parameters: $1 = '%@example.org'\n"
    )
    info = SchemaInfo(
        {"users": ["user_no", "email"]}, {"users": [Index("users", "users_pk", ("user_no",), True)]}
    )
    wl = _ingest(log, tmp_path / "t.duckdb", schema=info)
    (f,) = unbounded_result.detect(wl)
    assert f.evidence["rows_source"] == ["plan actual rows"] and f.columns == ["user_no"]
    assert "SELECT email FROM users WHERE user_no > $1 ORDER BY user_no LIMIT 1000" in f.fix
    assert "users_pk already leads with (user_no)" in f.fix
    (f,) = leading_wildcard.detect(wl)  # the pattern only exists in the bind parameters
    assert f.evidence["operator"] == "ILIKE" and "gin_trgm_ops" in f.fix


# --------------------------------------------------------------------------- sqltext helpers


def _parse(sql: str, dialect: str = "mysql") -> exp.Expression:
    return exp.maybe_parse(sql, dialect=sqltext.glot(dialect))


def test_placeholderize_keeps_structure_and_hides_values() -> None:
    tree = _parse(
        "SELECT substring(name, 1, 3), 'label' FROM t WHERE a IN (1, -2) AND b = 'x'"
        " AND ts > NOW() - INTERVAL 1 DAY ORDER BY 1 LIMIT 10 OFFSET 20"
    )
    out = sqltext.render(sqltext.placeholderize(tree), "mysql")
    assert out == (
        "SELECT SUBSTRING(name, 1, 3), ? FROM t WHERE a IN (?, ?) AND b = ?"
        " AND ts > NOW() - INTERVAL '1' DAY ORDER BY 1 LIMIT 10 OFFSET 20"
    )
    assert "LIMIT ? OFFSET ?" in sqltext.placeholderize(tree, keep_limit=False).sql("mysql")
    assert tree.sql("mysql").count("'x'") == 1  # the memoised tree is never modified


def test_render_numbers_postgres_placeholders_after_existing_parameters() -> None:
    sql = "SELECT a FROM t WHERE a = $1 AND b = 'x' AND c BETWEEN d AND e"
    tree = sqltext.placeholderize(_parse(sql, "postgres"))
    for col in [c for c in tree.find_all(exp.Column) if c.name in ("d", "e")]:
        col.replace(sqltext.placeholder(slot=7))  # one value bound twice
    assert sqltext.render(tree, "postgres") == (
        "SELECT a FROM t WHERE a = $1 AND b = $2 AND c BETWEEN $3 AND $3"
    )


def test_keyset_page_keeps_the_where_clause() -> None:
    tree = _parse("SELECT id FROM t WHERE a = 1 OR b = 2 ORDER BY id DESC LIMIT 20 OFFSET 5000")
    keys = sqltext.order_columns(tree)
    page = sqltext.keyset_page(sqltext.placeholderize(tree), keys, exp.Literal.number(20), "mysql")
    assert sqltext.render(page, "mysql") == (
        "SELECT id FROM t WHERE (a = ? OR b = ?) AND id < ? ORDER BY id DESC LIMIT 20"
    )
    mixed = _parse("SELECT id FROM t ORDER BY a, b DESC")
    assert sqltext.keyset_page(mixed, sqltext.order_columns(mixed), page, "mysql") is None


def test_predicates_table_of_and_sole_column() -> None:
    tree = _parse(
        "SELECT 1 FROM orders o JOIN users u ON u.id = o.user_id"
        " WHERE lower(u.email) = 'x' AND o.id IN (SELECT order_id FROM items WHERE qty > 1)"
    )
    kinds = sorted(p.key for p in sqltext.predicates(tree))
    assert kinds == ["eq", "eq", "gt", "in"]
    fn = tree.find(exp.Lower)
    col = sqltext.sole_column(fn)
    assert col is not None and col.name == "email"
    assert sqltext.table_name(sqltext.table_of(col)) == "users"
    qty = next(c for c in tree.find_all(exp.Column) if c.name == "qty")
    assert sqltext.table_name(sqltext.table_of(qty)) == "items"
    ambiguous = _parse("SELECT 1 FROM a JOIN b ON a.id = b.id WHERE x = 1").find(exp.EQ, bfs=False)
    x = next(c for c in ambiguous.root().find_all(exp.Column) if c.name == "x")
    assert sqltext.table_of(x) is None
    info = SchemaInfo({"a": ["id"], "b": ["id", "x"]})
    assert sqltext.table_name(sqltext.table_of(x, info)) == "b"
    assert sqltext.expression_sql(fn, "postgres") == "lower(email)"


def test_ddl_builders_quote_identifiers() -> None:
    table = exp.to_table("Order Items")
    ddl = sqltext.create_index(table, [exp.column(sqltext.ident("order"))], "postgres")
    assert ddl == 'CREATE INDEX ON "Order Items"("order");'
    ddl = sqltext.create_index(
        exp.to_table("t"), [_parse("LOWER(x)")], "mysql", name=sqltext.index_name("t", "lower", "x")
    )
    assert ddl == "CREATE INDEX idx_t_lower_x ON t((lower(x)));"


def test_rule_helpers_on_hand_written_statements() -> None:
    assert list(or_to_in.same_column_chains(_parse("SELECT 1 FROM t WHERE a = 1 OR b = 1"))) == []
    chains = list(or_to_in.same_column_chains(_parse("SELECT 1 FROM t WHERE 1 = a OR a = 2")))
    assert [(col.name, len(v)) for _, col, v in chains] == [("a", 2)]
    assert (
        list(leading_wildcard.leading_wildcards(_parse("SELECT 1 FROM t WHERE a LIKE 'x%'"), []))
        == []
    )
    tree = _parse("SELECT 1 FROM t WHERE a LIKE $1", "postgres")
    hits = list(leading_wildcard.leading_wildcards(tree, [{1: "%x%"}]))
    assert [(c.name, shape) for _, c, shape in hits] == [("a", "contains")]
    assert not unbounded_result.unbounded_select(_parse("SELECT count(*), max(id) FROM t"))
    assert unbounded_result.unbounded_select(_parse("SELECT status, count(*) FROM t GROUP BY 1"))
    assert not unbounded_result.unbounded_select(_parse("SELECT 1"))
    assert not unbounded_result.unbounded_select(
        _parse("SELECT a FROM t FETCH FIRST 5 ROWS ONLY", "postgres")
    )
    assert function_on_column.is_day_truncation(_parse("DATE(created_at)"))
    assert not function_on_column.is_day_truncation(_parse("YEAR(created_at)"))
    assert [
        f.sql()
        for f, _ in function_on_column.wrapped_columns(
            _parse("SELECT 1 FROM t WHERE CAST(a AS CHAR) = '1' AND b = 1")
        )
    ] == ["CAST(a AS CHAR)"]
    assert re.fullmatch(r"idx_[a-z_]+", sqltext.index_name("shop.Users", "LOWER", "e-mail").this)


@pytest.mark.parametrize("module", [sqltext, *SHAPE_RULES], ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    assert doctest.testmod(module).failed == 0


def test_placeholderize_keeps_numbered_parameters() -> None:
    import sqlglot

    from perftui.rules.sqltext import placeholderize

    tree = sqlglot.parse_one("SELECT a FROM t WHERE b = $1 AND c = 5", read="postgres")
    out = placeholderize(tree)
    assert out.find(sqlglot.exp.Parameter).sql("postgres") == "$1"
    assert "5" not in out.sql("postgres")
