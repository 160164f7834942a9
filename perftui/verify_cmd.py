"""``perftui verify``: prove the advisor's index findings with HypoPG on a PostgreSQL server.

``perftui verify --db PATH --dsn postgresql://… [--allow-literals] [--format text|json]
[--schema DDL]`` runs the index-type rules (missing-index, function-on-column,
leading-wildcard) over the store, EXPLAINs their statements without and with each suggested
index as a hypothetical one (nothing is created for real; see ``perftui.rules.verify``), stores
the outcome in the DuckDB table ``index_verifications`` and prints it.

Errors are one line (bad DSN, no server, locked store) and never show the DSN's password.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
from collections import Counter
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from perftui.rules.base import Finding, Workload
from perftui.rules.schema_info import SchemaInfo
from perftui.rules.schema_load import dsn_kind, load_ddl_file, load_dsn, redact_dsn, scrub
from perftui.rules.verify import VERIFIABLE_RULES, VerifyResult, verify_findings
from perftui.store import schema as store_schema
from perftui.textsafe import clean, safe_text

EXIT_OK, EXIT_INPUT = 0, 2
INDEX_RULE_MODULES = ("missing_index", "function_on_column", "leading_wildcard")

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS index_verifications (
    rule         VARCHAR NOT NULL,
    table_name   VARCHAR,
    ddl          VARCHAR NOT NULL,
    class_ids    VARCHAR[],
    cost_before  DOUBLE,
    cost_after   DOUBLE,
    saving       DOUBLE,
    uses_index   BOOLEAN,
    verified     BOOLEAN,
    message      VARCHAR,
    verified_at  TIMESTAMP
)
"""


def index_findings(workload: Workload) -> list[Finding]:
    """The index-type findings: through the registry, or module by module while some rule
    modules do not exist yet."""
    from perftui.rules import registry

    try:
        return registry.run(workload, only=set(VERIFIABLE_RULES))
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("perftui.rules."):
            raise
    found: list[Finding] = []
    for name in INDEX_RULE_MODULES:
        try:
            module = importlib.import_module(f"perftui.rules.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"perftui.rules.{name}":
                continue
            raise
        found.extend(module.detect(workload))
    found.sort(key=lambda f: -f.impact_ms)
    return found


def store_results(con: duckdb.DuckDBPyConnection, results: list[VerifyResult]) -> None:
    """Write results into ``index_verifications``, replacing earlier rows for the same DDL."""
    con.execute(TABLE_DDL)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        for r in results:
            con.execute("DELETE FROM index_verifications WHERE ddl = ?", [r.ddl])
            con.execute(
                "INSERT INTO index_verifications VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    r.rule,
                    r.table,
                    r.ddl,
                    r.class_ids,
                    r.cost_before,
                    r.cost_after,
                    r.saving,
                    r.uses_index,
                    r.verified,
                    r.message,
                    now,
                ],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def _dialect_of(f: Finding, workload: Workload) -> str:
    if f.evidence.get("dialect"):
        return str(f.evidence["dialect"])
    kinds = {workload.by_id[c].dialect for c in f.query_class_ids if c in workload.by_id}
    return "mysql" if kinds == {"mysql"} else "postgres"


def _schema(args: argparse.Namespace, con: duckdb.DuckDBPyConnection) -> SchemaInfo:
    path = getattr(args, "schema", None)
    if path:
        rows = con.execute("SELECT dialect, count(*) FROM query_classes GROUP BY 1").fetchall()
        dialect = max(rows, key=lambda r: r[1])[0] if rows else "postgres"
        return load_ddl_file(path, dialect)
    return load_dsn(args.dsn)


def verify(args: argparse.Namespace) -> tuple[list[VerifyResult], list[str]]:
    """Run the index rules on the store and verify their findings; returns the results and
    notes (skipped findings). Raises ValueError / StoreError with a one-line message."""
    dsn = getattr(args, "dsn", None)
    if not dsn:
        raise ValueError("verify needs --dsn postgresql://user@host/db (HypoPG runs there)")
    if dsn_kind(dsn) != "postgres":
        raise ValueError(
            f"{redact_dsn(dsn)}: verify needs a PostgreSQL DSN (postgresql://…); HypoPG is"
            " PostgreSQL-only"
        )
    db = str(args.db)
    if db != ":memory:" and not Path(db).exists():
        raise store_schema.StoreError(f"{db}: no such perftui database (run `perftui ingest`)")
    con = store_schema.connect(db)
    try:
        workload = Workload(con, schema=_schema(args, con))
        findings = index_findings(workload)
        pg = [f for f in findings if _dialect_of(f, workload) == "postgres"]
        notes = []
        if len(pg) < len(findings):
            notes.append(
                f"{len(findings) - len(pg)} MySQL/MariaDB finding(s) not verified:"
                " HypoPG is PostgreSQL-only"
            )
        results = verify_findings(
            pg,
            dsn,
            allow_literals=bool(getattr(args, "allow_literals", False)),
            samples={c.class_id: c.sample for c in workload.classes if c.sample},
            dialects={c.class_id: c.dialect for c in workload.classes},
            weights={c.class_id: float(c.count) for c in workload.classes},
            min_cost=workload.thresholds.index_min_cost,
            min_saving=workload.thresholds.index_min_saving,
        )
        if results:
            store_results(con, results)
        return results, notes
    except duckdb.Error as exc:
        raise store_schema.StoreError(f"{db}: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


def run(args: argparse.Namespace) -> int:
    """``perftui verify``: 0 when it ran (whatever the verdicts), 2 on bad input."""
    dsn = getattr(args, "dsn", None) or ""
    try:
        results, notes = verify(args)
    except (ValueError, store_schema.StoreError) as exc:
        _say(str(exc), dsn)
        return EXIT_INPUT
    except Exception as exc:  # never a traceback, never the password
        _say(f"verify failed: {type(exc).__name__}: {exc}", dsn)
        return EXIT_INPUT
    for note in notes:
        _say(note, dsn)
    if getattr(args, "format", "text") == "json":
        payload = {
            "dsn": redact_dsn(dsn),
            "results": [r.to_dict() for r in results],
        }
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        return EXIT_OK
    out = Console(highlight=False)
    if not results:
        out.print("No index findings to verify.")
        return EXIT_OK
    out.print(render_table(results, dsn))
    counts = Counter(r.verified for r in results)
    out.print(
        f"{counts[True]} of {len(results)} index suggestion(s) verified with HypoPG on"
        f" {clean(redact_dsn(dsn))} (nothing was created; every transaction was rolled back)."
    )
    return EXIT_OK


def _say(text: str, dsn: str) -> None:
    """One line on stderr, the DSN's password scrubbed, terminal controls removed."""
    line = scrub(text, dsn) if dsn else text
    sys.stderr.write(clean(f"perftui: {line}", one_line=True) + "\n")


def render_table(results: list[VerifyResult], dsn: str) -> Table:
    """One row per suggestion: verdict, costs, the index tried, and why."""
    table = Table(title=f"Index verification on {clean(redact_dsn(dsn))}", show_lines=True)
    table.add_column("ok", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("index tried (HypoPG)", ratio=2)
    table.add_column("cost before", justify="right", no_wrap=True)
    table.add_column("cost after", justify="right", no_wrap=True)
    table.add_column("saving", justify="right", no_wrap=True)
    table.add_column("message", ratio=3)
    for r in results:
        table.add_row(
            "✓" if r.verified else "✗",
            r.rule,
            safe_text(r.hypo_ddl or r.ddl),
            "" if r.cost_before is None else f"{r.cost_before:,.1f}",
            "" if r.cost_after is None else f"{r.cost_after:,.1f}",
            "" if r.saving is None else f"{r.saving * 100:.0f} %",
            safe_text(r.message),
        )
    return table
