"""missing-index on the real sample logs and on small hand-written MariaDB slow logs."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from perftui.ingest.driver import ingest_path
from perftui.rules import missing_index
from perftui.rules.base import Finding, Workload
from perftui.rules.schema_info import Index, SchemaInfo
from perftui.rules.schema_load import load_ddl
from perftui.store import schema
from tests.conftest import sample

COMPOSITE = "SELECT id, total, created_at FROM orders WHERE user_id ="
PK_LOOKUP = "SELECT id, name, email FROM users WHERE id ="
SHOP_DDL = """
CREATE TABLE users (id integer PRIMARY KEY, email text, name text, status text,
                    created_at timestamp);
CREATE TABLE products (id integer PRIMARY KEY, name text, category text, price numeric);
CREATE TABLE orders (id integer PRIMARY KEY, user_id integer NOT NULL, status text NOT NULL,
                     total numeric(12,2), created_at timestamp);
CREATE TABLE order_items (id integer PRIMARY KEY, order_id integer, product_id integer,
                          qty integer, price numeric);
"""


def _workload(log: Path, db: Path, schema_info: SchemaInfo | None = None) -> Workload:
    con = schema.connect(db)
    ingest_path(con, str(log))
    return Workload(con, schema=schema_info or SchemaInfo())


def _class_ids(w: Workload, start: str) -> list[str]:
    ids = [c.class_id for c in w.classes if (c.sample or "").startswith(start)]
    assert ids, f"no class starts with {start!r}"
    return ids


def _for_class(findings: list[Finding], class_id: str) -> list[Finding]:
    return [f for f in findings if class_id in f.query_class_ids]


def slow_log(entries: list[tuple[str, float, int, int]]) -> str:
    """A MariaDB slow log: (statement, seconds, rows sent, rows examined) per execution."""
    out = [
        "/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-0+deb12u1 (Debian 12). started with:",
        "Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock",
        "Time\t\t    Id Command\tArgument",
        "# Time: 261124  9:31:22",
    ]
    for stmt, secs, sent, examined in entries:
        out += [
            "# User@Host: app[app] @  [127.0.0.1]",
            "# Thread_id: 74  Schema: shop  QC_hit: No",
            f"# Query_time: {secs:.6f}  Lock_time: 0.000010  Rows_sent: {sent}"
            f"  Rows_examined: {examined}",
            "# Rows_affected: 0  Bytes_sent: 100",
            "SET timestamp=1795512682;",
            stmt.rstrip(";") + ";",
        ]
    return "\n".join(out) + "\n"


def _detect(tmp_path: Path, entries, schema_info: SchemaInfo | None = None) -> list[Finding]:
    log = tmp_path / "slow.log"
    log.write_text(slow_log(entries))
    return list(missing_index.detect(_workload(log, tmp_path / "t.duckdb", schema_info)))


# --------------------------------------------------------------------------- real sample logs


@pytest.fixture(scope="module", params=["postgresql.log", "mariadb-slow.log"])
def real(request, tmp_path_factory) -> tuple[Workload, list[Finding]]:
    w = _workload(sample(request.param), tmp_path_factory.mktemp("mi") / "t.duckdb")
    return w, list(missing_index.detect(w))


def test_planted_composite_index_is_suggested(real) -> None:
    w, findings = real
    (composite,) = _class_ids(w, COMPOSITE)
    (f,) = _for_class(findings, composite)
    assert f.rule == "missing-index" and f.verified is False
    assert f.evidence["index_columns"] == ["user_id", "status", "created_at"]
    assert f.columns == ["user_id", "status", "created_at"]
    assert f.evidence["table"] == "orders" and f.tables == ["orders"]
    assert f.evidence["assumed_primary_key"] is True and "assumed `id`" in f.detail
    assert f.severity in ("high", "medium")
    assert f.impact_ms == pytest.approx(sum(w.by_id[i].total_ms for i in f.query_class_ids))
    ddl = f.evidence["ddl"]
    if w.by_id[composite].dialect == "postgres":
        assert ddl == (
            "CREATE INDEX CONCURRENTLY idx_orders_user_id_status_created_at"
            " ON orders(user_id, status, created_at);"
        )
    else:
        assert ddl == (
            "ALTER TABLE orders ADD INDEX idx_orders_user_id_status_created_at"
            " (user_id, status, created_at);"
        )
    assert f.fix.startswith(ddl)
    # The N+1 lookup by user_id is served by the same index's prefix: merged, not repeated.
    (by_user,) = _class_ids(w, "SELECT id, total FROM orders WHERE user_id =")
    assert by_user in f.query_class_ids
    assert [g for g in findings if g is not f and by_user in g.query_class_ids] == []
    # No value from the log leaks into the finding.
    text = f.title + f.detail + f.fix
    assert "pending" not in text and "'" not in f.fix


def test_pk_lookups_get_nothing(real) -> None:
    w, findings = real
    for class_id in _class_ids(w, PK_LOOKUP):
        assert _for_class(findings, class_id) == []
    for f in findings:
        assert f.evidence["index_columns"][:1] != ["id"]


def test_findings_serialise_and_rank(real) -> None:
    _w, findings = real
    assert findings == sorted(findings, key=lambda f: -f.impact_ms)
    for f in findings:
        d = f.to_dict()
        assert d["rule"] == "missing-index" and d["evidence"]["ddl"] in d["fix"]
        assert set(d["evidence"]["per_class"]) == set(f.query_class_ids)
        sqlglot.parse(d["evidence"]["ddl"], read=d["evidence"]["dialect"])


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
def test_existing_index_is_extended_not_duplicated(tmp_path: Path, dialect: str) -> None:
    log = sample("postgresql.log" if dialect == "postgres" else "mariadb-slow.log")
    ddl = SHOP_DDL + "CREATE INDEX idx_orders_user_status ON orders (user_id, status);"
    w = _workload(log, tmp_path / "t.duckdb", load_ddl(ddl, dialect))
    findings = list(missing_index.detect(w))
    (composite,) = _class_ids(w, COMPOSITE)
    hits = _for_class(findings, composite)
    assert len(hits) <= 1
    for f in findings:  # nothing starts with the existing index's columns except an extension
        if f.evidence["index_columns"][:2] == ["user_id", "status"]:
            assert f.evidence["extends_index"] == "idx_orders_user_status"
            assert "DROP INDEX" in f.fix and "idx_orders_user_status" in f.fix
            assert f.title.startswith("Extend index idx_orders_user_status")
    if hits:
        assert hits[0].evidence["index_columns"] == ["user_id", "status", "created_at"]
        assert hits[0].evidence["assumed_primary_key"] is False
    # The lookups by user_id alone are served by the existing index now.
    (by_user,) = _class_ids(w, "SELECT id, total FROM orders WHERE user_id =")
    assert _for_class(findings, by_user) == []


def test_existing_full_index_drops_the_suggestion(tmp_path: Path) -> None:
    ddl = SHOP_DDL + "CREATE INDEX o3 ON orders (status, user_id, created_at);"
    w = _workload(sample("postgresql.log"), tmp_path / "t.duckdb", load_ddl(ddl, "postgres"))
    findings = list(missing_index.detect(w))
    (composite,) = _class_ids(w, COMPOSITE)
    assert _for_class(findings, composite) == []


# --------------------------------------------------------------------------- hand-written logs


def test_no_evidence_no_finding(tmp_path: Path) -> None:
    # Few rows examined per execution, fast: nothing says an index would help.
    found = _detect(tmp_path, [("SELECT a FROM t WHERE b = 1", 0.0002, 5, 50)] * 5)
    assert found == []


def test_range_sort_join_and_aliases(tmp_path: Path) -> None:
    big = 0.004, 2, 50_000
    found = _detect(
        tmp_path,
        [
            (
                "SELECT e.id FROM events e WHERE e.kind = 'x' AND e.ts > '2026-01-01'"
                " AND e.ts < '2026-02-01' ORDER BY e.ts",
                *big,
            ),
            (
                "SELECT id FROM logs WHERE host IN ('a', 'b') AND path LIKE '/api/%'"
                " AND level BETWEEN 1 AND 3",
                *big,
            ),
            (
                "SELECT c.name, i.total FROM customers c JOIN invoices i ON i.customer_id = c.id"
                " WHERE c.id = 7",
                *big,
            ),
            (
                "SELECT id FROM tasks WHERE (state = 'a' OR state = 'b') AND owner = 3"
                " ORDER BY prio DESC, id ASC",
                *big,
            ),
            (
                "SELECT region, count(*) FROM sales WHERE year = 2025 GROUP BY region"
                " ORDER BY region",
                *big,
            ),
            ("UPDATE jobs SET done = 1 WHERE queue = 'q' AND run_at < NOW()", 0.004, 0, 50_000),
        ],
    )
    by_table = {f.evidence["table"]: f for f in found}
    assert by_table["events"].evidence["index_columns"] == ["kind", "ts"]
    assert by_table["logs"].evidence["index_columns"] == ["host", "path"]
    assert by_table["logs"].evidence["range_column"] == "path"
    # JOIN ... ON: the inner side's column; customers.id is the (assumed) primary key.
    assert by_table["invoices"].evidence["index_columns"] == ["customer_id"]
    assert "customers" not in by_table
    # OR of equalities on one column is an IN; mixed sort directions are spelled out.
    tasks = by_table["tasks"]
    assert tasks.evidence["index_columns"] == ["state", "owner", "prio", "id"]
    assert "prio DESC, id)" in tasks.evidence["ddl"]
    # GROUP BY: the ORDER BY sorts groups, not rows, so no sort columns.
    assert by_table["sales"].evidence["index_columns"] == ["year"]
    assert by_table["jobs"].evidence["index_columns"] == ["queue", "run_at"]
    for f in found:
        assert f.evidence["ddl"].startswith(f"ALTER TABLE {f.evidence['table']} ADD INDEX idx_")


def test_prefix_suggestions_merge(tmp_path: Path) -> None:
    big = 0.004, 2, 50_000
    found = _detect(
        tmp_path,
        [
            ("SELECT id FROM t WHERE a = 1", *big),
            ("SELECT id FROM t WHERE a = 1 AND b = 2 ORDER BY c", *big),
            ("SELECT id FROM t WHERE b = 1 AND a = 2", *big),
            ("SELECT id FROM t WHERE c = 5", *big),
        ],
    )
    cols = sorted(tuple(f.evidence["index_columns"]) for f in found)
    assert cols == [("a", "b", "c"), ("c",)]
    merged = next(f for f in found if f.evidence["index_columns"] == ["a", "b", "c"])
    assert len(merged.query_class_ids) == 3


def test_unique_key_point_lookup_and_known_schema(tmp_path: Path) -> None:
    info = SchemaInfo(
        columns={"accounts": ["id", "email", "tenant", "name"]},
        indexes={"accounts": [Index("accounts", "uk", ("tenant", "email"), unique=True)]},
    )
    big = 0.004, 1, 50_000
    found = _detect(
        tmp_path,
        [
            ("SELECT name FROM accounts WHERE email = 'a@b' AND tenant = 3", *big),
            ("SELECT name FROM accounts WHERE id = 5", *big),  # no primary key known here
            ("SELECT name FROM accounts WHERE nickname = 'x'", *big),  # not a column
        ],
        info,
    )
    assert [f.evidence["index_columns"] for f in found] == [["id"]]
    assert found[0].evidence["assumed_primary_key"] is False


def test_index_names_stay_within_limits() -> None:
    name = missing_index.index_name("a_really_long_table_name", [f"column_{i}" for i in range(9)])
    assert len(name) <= 63 and name.startswith("idx_a_really_long_table_name_column_0")
    assert missing_index.index_name("Orders", ["User Id"]) == "idx_orders_user_id"


def test_postgres_like_prefix_gets_pattern_opclass(tmp_path: Path) -> None:
    line = (
        "2026-11-24 09:31:06.{ms:03d} UTC [10057] app@shop LOG:  duration: 4.{ms:03d} ms"
        "  statement: SELECT id FROM docs WHERE owner = {ms} AND path LIKE '/srv/%'"
    )
    log = tmp_path / "postgresql.log"
    log.write_text("\n".join(line.format(ms=i) for i in range(1, 6)) + "\n")
    info = SchemaInfo(columns={"docs": ["id", "owner", "path"]}, rows={"docs": 200_000})
    (f,) = missing_index.detect(_workload(log, tmp_path / "t.duckdb", info))
    assert f.evidence["index_columns"] == ["owner", "path"]
    assert f.evidence["ddl"] == (
        "CREATE INDEX CONCURRENTLY idx_docs_owner_path ON docs(owner, path text_pattern_ops);"
    )
    assert "text_pattern_ops" in f.detail and "a table of ≥ 200,000 rows" in f.detail
