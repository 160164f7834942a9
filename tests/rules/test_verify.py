"""HypoPG verification of index findings, and ``perftui verify``.

The live tests copy the shop's ``orders`` table (generated data) into a schema of our own and
point the DSN's search_path at it; afterwards no index exists for real, HypoPG was not left
installed, and a new session has no hypothetical index.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb
import pytest

from perftui import verify_cmd
from perftui.ingest.driver import ingest_path
from perftui.rules import missing_index, verify
from perftui.rules.base import Finding, Workload
from perftui.rules.verify import explainable, hypo_ddl, verify_findings
from perftui.store import schema
from perftui.store.results import first
from tests.conftest import sample

OWN = "perftui_test_verify"
SECRET = "hunter2-Sekr1t"
COMPOSITE = "SELECT id, total, created_at FROM orders WHERE user_id ="


def _finding(rule: str, **evidence) -> Finding:
    return Finding(
        rule=rule,
        severity="high",
        title="t",
        detail="d",
        fix="f",
        impact_ms=1.0,
        query_class_ids=["C1"],
        tables=[evidence.pop("table", "orders")],
        columns=evidence.pop("columns", []),
        verified=False,
        evidence=evidence,
    )


# --------------------------------------------------------------------------- offline


def test_explainable_parameterises_literals_and_drops_comments() -> None:
    text, n = explainable(
        "/* app */ SELECT id FROM orders WHERE user_id = 42 AND status = 'pending'"
        " AND created_at > '2026-01-01'::date ORDER BY created_at DESC LIMIT 5",
        "postgres",
        literals=False,
    )
    assert "42" not in text and "pending" not in text and "2026" not in text
    assert "app" not in text and n == 3 and "$3" in text and "LIMIT 5" in text
    text, n = explainable("SELECT id FROM orders WHERE user_id = 42", "postgres", literals=True)
    assert text == "SELECT id FROM orders WHERE user_id = 42" and n == 0
    # The statement's own parameters are kept (and counted), literals still replaced.
    text, n = explainable("SELECT id FROM t WHERE a = $1 AND b = 'x'", "postgres", literals=False)
    assert n == 2 and "'x'" not in text
    # MySQL statements are transpiled.
    text, _ = explainable("SELECT `id` FROM t WHERE a = 'x' LIMIT 2, 3", "mysql", literals=False)
    assert "`" not in text and "$1" in text


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; DROP TABLE orders",
        "DROP TABLE orders",
        "CREATE INDEX ON orders (a)",
        "VACUUM orders",
        "COMMIT",
        "SELECT FROM WHERE (",
    ],
)
def test_explainable_refuses_anything_but_one_query(sql: str) -> None:
    with pytest.raises(ValueError):
        explainable(sql, "postgres", literals=True)


def test_hypothetical_ddl_per_rule() -> None:
    mi = _finding(
        "missing-index",
        table="shop.orders",
        index_columns=["user_id", "status"],
        ddl="CREATE INDEX CONCURRENTLY idx_x ON shop.orders(user_id, status);",
        dialect="postgres",
    )
    assert hypo_ddl(mi) == "CREATE INDEX ON shop.orders(user_id, status)"
    my = _finding(
        "missing-index",
        index_columns=["user_id"],
        ddl="ALTER TABLE orders ADD INDEX idx_u (user_id, created_at DESC);",
        dialect="mysql",
    )
    assert hypo_ddl(my) == "CREATE INDEX ON orders(user_id, created_at DESC)"
    assert hypo_ddl(_finding("missing-index", index_columns=["a"])) == "CREATE INDEX ON orders(a)"
    fn = _finding("function-on-column", table="users", expression="LOWER(email)")
    assert hypo_ddl(fn) == "CREATE INDEX ON users((lower(email)))"
    lw = _finding("leading-wildcard", table="users", columns=["email"], expression="email")
    assert hypo_ddl(lw) == "CREATE INDEX ON users USING gin(email gin_trgm_ops)"
    assert hypo_ddl(_finding("missing-index")) is None


def test_non_postgres_dsn_is_refused() -> None:
    with pytest.raises(ValueError, match="PostgreSQL") as info:
        verify_findings([_finding("missing-index", index_columns=["a"])], f"mysql://u:{SECRET}@h/d")
    assert SECRET not in str(info.value)
    assert verify_findings([_finding("select-star")], "mysql://x") == []


# --------------------------------------------------------------------------- live PostgreSQL


def _with_search_path(dsn: str, *schemas: str) -> str:
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}options=-csearch_path%3D{'%2C'.join(schemas)}"


def _extensions(dsn: str) -> set[str]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT extname FROM pg_extension").fetchall()}


@pytest.fixture(scope="module")
def own_orders(pg_dsn: str):
    """A copy of the shop's orders table, 60k generated rows, no secondary index."""
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {OWN} CASCADE")
        conn.execute(f"CREATE SCHEMA {OWN}")
        conn.execute(
            f"""CREATE TABLE {OWN}.orders (
                    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    user_id integer NOT NULL, status text NOT NULL,
                    total numeric(12,2) NOT NULL, created_at timestamp NOT NULL);
                INSERT INTO {OWN}.orders (user_id, status, total, created_at)
                    SELECT 1 + (g * 7919) % 20000,
                           (ARRAY['pending','paid','shipped','shipped','cancelled'])[1 + g % 5],
                           (g % 500) + 0.99,
                           timestamp '2025-01-01' + (g % 365) * interval '1 day'
                    FROM generate_series(1, 60000) g;
                ANALYZE {OWN}.orders;"""
        )
        try:
            yield _with_search_path(pg_dsn, OWN)
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {OWN} CASCADE")


@pytest.fixture(scope="module")
def pg_workload(tmp_path_factory) -> Workload:
    con = schema.connect(tmp_path_factory.mktemp("verify") / "t.duckdb")
    ingest_path(con, str(sample("postgresql.log")))
    return Workload(con)


def _orders_finding(w: Workload) -> Finding:
    (composite,) = [c.class_id for c in w.classes if (c.sample or "").startswith(COMPOSITE)]
    (f,) = [f for f in missing_index.detect(w) if composite in f.query_class_ids]
    return f


@pytest.mark.parametrize("allow_literals", [False, True])
def test_suggested_index_halves_the_cost_and_nothing_persists(
    pg_dsn: str, own_orders: str, pg_workload: Workload, allow_literals: bool
) -> None:
    import psycopg

    before_ext = _extensions(pg_dsn)
    f = _orders_finding(pg_workload)
    (r,) = verify_findings(
        [f],
        own_orders,
        allow_literals=allow_literals,
        samples={c.class_id: c.sample for c in pg_workload.classes},
        weights={c.class_id: c.count for c in pg_workload.classes},
    )
    assert r.hypo_ddl == "CREATE INDEX ON orders(user_id, status, created_at)"
    assert r.cost_before is not None and r.cost_before >= 100, r.message
    assert r.saving is not None and r.saving >= 0.5, r.message
    assert r.uses_index and r.verified, r.message
    assert f.verified is True and f.evidence["verification"]["verified"] is True
    composite = next(p for p in r.plans if p.class_id == f.query_class_ids[0])
    assert composite.cost_after < composite.cost_before * 0.5
    expected_mode = "literals" if allow_literals else "prepare_generic"
    if psycopg.connect(pg_dsn).info.server_version >= 160000 and not allow_literals:
        expected_mode = "generic_plan"
    assert composite.mode == expected_mode
    # The revenue report joins tables our schema does not have: reported, not fatal.
    assert "does not exist" in r.message or len(r.plans) == len(f.query_class_ids)
    # Nothing was created for real: no index but the primary key, HypoPG not left behind …
    with psycopg.connect(pg_dsn) as conn:
        names = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s", [OWN]
            ).fetchall()
        }
        assert names == {"orders_pkey"}
    assert _extensions(pg_dsn) == before_ext
    # … and a new session has no hypothetical index.
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        assert first(conn.execute("SELECT count(*) FROM hypopg_list_indexes"))[0] == 0
        conn.rollback()


def test_useless_index_is_not_verified(own_orders: str) -> None:
    f = _finding("missing-index", index_columns=["total"], dialect="postgres")
    (r,) = verify_findings(
        [f], own_orders, samples={"C1": "SELECT id FROM orders WHERE status = 'paid'"}
    )
    assert r.cost_before and r.cost_before >= 100
    assert not r.verified and not r.uses_index and "does not use the index" in r.message
    assert f.verified is False


def test_expression_index_and_trigram(own_orders: str) -> None:
    samples = {"C1": "SELECT id FROM orders WHERE date_trunc('day', created_at) = '2025-02-01'"}
    fn = _finding("function-on-column", expression="date_trunc('day', created_at)")
    (r,) = verify_findings([fn], own_orders, samples=samples, allow_literals=True)
    assert r.verified and r.uses_index, r.message
    lw = _finding("leading-wildcard", columns=["status"], expression="status")
    (r,) = verify_findings(
        [lw], own_orders, samples={"C1": "SELECT id FROM orders WHERE status LIKE '%ending'"}
    )
    assert not r.verified
    # Either pg_trgm is missing, or HypoPG cannot plan GIN: in both cases it says why.
    assert "pg_trgm" in r.message or "gin" in r.message


def test_statement_errors_are_reported_per_class(own_orders: str) -> None:
    f = _finding("missing-index", index_columns=["user_id"], dialect="postgres")
    f.query_class_ids = ["C1", "C2", "C3"]
    samples = {
        "C1": "SELECT id FROM orders WHERE user_id = 5",
        "C2": "SELECT id FROM no_such_table WHERE user_id = 5",
        "C3": "SELECT 1; DELETE FROM orders",
    }
    (r,) = verify_findings([f], own_orders, samples=samples)
    assert r.verified, r.message
    assert "C2" in r.message and "does not exist" in r.message
    assert "C3" in r.message and "not exactly one statement" in r.message


def test_missing_hypopg_says_how_to_install(own_orders: str, monkeypatch) -> None:
    real = verify._server

    def no_hypopg(dsn: str):
        server = real(dsn)
        server.hypopg = None
        return server

    monkeypatch.setattr(verify, "_server", no_hypopg)
    f = _finding("missing-index", index_columns=["user_id"])
    (r,) = verify_findings([f], own_orders, samples={"C1": "SELECT 1 FROM orders"})
    assert r.message.startswith("install HypoPG: apt-get install postgresql-")
    assert r.message.endswith("-hypopg, then CREATE EXTENSION hypopg")
    assert not r.verified and f.verified is False


# --------------------------------------------------------------------------- perftui verify


def _args(db: Path, dsn: str, fmt: str = "json", **kw) -> argparse.Namespace:
    return argparse.Namespace(
        db=str(db),
        dsn=dsn,
        allow_literals=kw.get("allow_literals", False),
        format=fmt,
        schema=kw.get("schema"),
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    db = tmp_path / "store.duckdb"
    con = schema.connect(db)
    ingest_path(con, str(sample("postgresql.log")))
    con.close()
    return db


def test_verify_command_stores_and_prints(store: Path, own_orders: str, capsys) -> None:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(own_orders)  # the local server trusts 127.0.0.1: any password works
    with_secret = urlunsplit(parts._replace(netloc=f"postgres:{SECRET}@{parts.hostname}:5432"))
    assert verify_cmd.run(_args(store, with_secret)) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    payload = json.loads(out)
    assert "***" in payload["dsn"]
    orders = [r for r in payload["results"] if r["hypo_ddl"] and "user_id, status" in r["hypo_ddl"]]
    assert orders and orders[0]["verified"] is True
    con = duckdb.connect(str(store))
    rows = con.execute(
        "SELECT rule, table_name, ddl, class_ids, cost_before, cost_after, saving, uses_index,"
        " verified, message, verified_at FROM index_verifications"
    ).fetchall()
    con.close()
    assert rows and all(SECRET not in str(r) for r in rows)
    ddls = [r[2] for r in rows]
    assert len(ddls) == len(set(ddls))
    # A second run replaces the rows of the same DDL instead of adding more.
    assert verify_cmd.run(_args(store, own_orders, fmt="text")) == 0
    out, _ = capsys.readouterr()
    assert "Index verification" in out and "verified with HypoPG" in out
    con = duckdb.connect(str(store))
    assert first(con.execute("SELECT count(*) FROM index_verifications"))[0] == len(rows)
    con.close()


@pytest.mark.parametrize(
    ("dsn", "expect"),
    [
        (f"postgresql://postgres:{SECRET}@127.0.0.1:1/test", "cannot connect"),
        (f"mysql://root:{SECRET}@127.0.0.1/test", "PostgreSQL"),
        (f"postgresql://postgres:{SECRET}@[::1/broken", "cannot connect"),
        ("", "needs --dsn"),
    ],
)
def test_verify_command_errors_are_one_line(store: Path, capsys, dsn: str, expect: str) -> None:
    assert verify_cmd.run(_args(store, dsn)) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and expect in err
    assert SECRET not in err and err.startswith("perftui: ")


def test_verify_command_store_errors(tmp_path: Path, store: Path, capsys) -> None:
    dsn = f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"
    assert verify_cmd.run(_args(tmp_path / "nope.duckdb", dsn)) == 2
    assert "no such perftui database" in capsys.readouterr().err
    assert not (tmp_path / "nope.duckdb").exists()
    locker = duckdb.connect(str(store))  # another process holding it is the same lock
    try:
        import subprocess
        import sys

        code = (
            "import argparse, sys; from perftui import verify_cmd; "
            "sys.exit(verify_cmd.run(argparse.Namespace(db=sys.argv[1], dsn=sys.argv[2], "
            "allow_literals=False, format='text', schema=None)))"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code, str(store), dsn], capture_output=True, text=True
        )
    finally:
        locker.close()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "in use by another process" in proc.stderr and SECRET not in proc.stderr
