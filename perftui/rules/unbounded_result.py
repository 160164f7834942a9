"""unbounded-result: a SELECT without LIMIT/FETCH whose executions return many rows.

Every row is produced, sent and usually held by the client at once, so the cost grows with the
table rather than with what one screen shows. Row counts per execution:

* MySQL / MariaDB: the slow log's ``Rows_sent``;
* PostgreSQL logs carry no row count. When auto_explain logged a plan with the statement, its top
  node's ``actual … rows=N`` is used, else the planner's estimate ``rows=N`` (reported as an
  estimate, severity low). A PostgreSQL class without a plan is skipped: nothing says how many
  rows it returned.

Aggregate-only selects (``count(*)`` without GROUP BY: one row) are never reported. The fix is
the statement as a keyset page when a sort key is known (its ORDER BY, a unique index from the
schema, or an ``id`` column), else the advice to add one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlglot import exp

from perftui.rules import sqltext
from perftui.rules.base import Finding, Workload

RULE_ID = "unbounded-result"

# The first match in a plan is its top node (text and JSON auto_explain formats).
_ACTUAL = r'(?:\(actual(?: time=[0-9.]+\.\.[0-9.]+)? rows=|"Actual Rows": )([0-9]+)'
_ESTIMATE = r'(?:\(cost=[0-9.]+\.\.[0-9.]+ rows=|"Plan Rows": )([0-9]+)'

# Times are round(fsum(…), 3) like the class totals: independent of the order of rows.
_SQL = """
WITH r AS (
    SELECT class_id, duration_ms, rows_sent,
           TRY_CAST(nullif(regexp_extract(plan, ?, 1), '') AS BIGINT) AS actual,
           TRY_CAST(nullif(regexp_extract(plan, ?, 1), '') AS BIGINT) AS estimate
    FROM entries e
    WHERE e.kind = 'query' AND e.class_id IN (SELECT unnest(?::VARCHAR[])) {window}
), k AS (
    SELECT class_id, duration_ms, coalesce(rows_sent, actual, estimate) AS n,
           CASE WHEN rows_sent IS NOT NULL THEN 'rows_sent'
                WHEN actual IS NOT NULL THEN 'plan actual rows'
                WHEN estimate IS NOT NULL THEN 'plan estimate' END AS source
    FROM r
)
SELECT class_id, count(n), max(n), quantile_disc(n, 0.95),
       count(*) FILTER (WHERE n >= ?),
       round(coalesce(fsum(duration_ms) FILTER (WHERE n >= ?), 0), 3),
       list(DISTINCT source ORDER BY source) FILTER (WHERE source IS NOT NULL)
FROM k GROUP BY class_id HAVING max(n) >= ?
"""


def unbounded_select(tree: exp.Expression | None) -> bool:
    """A SELECT that reads a table, has no LIMIT/FETCH and is not aggregate-only.

    >>> unbounded_select(exp.maybe_parse("SELECT id FROM t")), unbounded_select(
    ...     exp.maybe_parse("SELECT count(*) FROM t"))
    (True, False)
    """
    if not isinstance(tree, exp.Select) or tree.args.get("limit") or tree.args.get("into"):
        return False
    if not sqltext.from_items(tree):
        return False
    return bool(tree.args.get("group")) or not all(e.find(exp.AggFunc) for e in tree.expressions)


def _sort_key(select: exp.Select, workload: Workload) -> list[tuple[exp.Column, bool]] | None:
    """The ORDER BY, else a unique index of the only table, else its ``id``; None if unknown."""
    if select.args.get("order"):
        return sqltext.order_columns(select) or None
    items = sqltext.from_items(select)
    if len(items) != 1 or not isinstance(items[0], exp.Table):
        return None
    table = sqltext.table_name(items[0])
    for idx in workload.schema.indexes_of(table):
        if idx.unique and all(re.fullmatch(r"\w+", c) for c in idx.columns):
            return [(exp.column(sqltext.ident(c)), False) for c in idx.columns]
    selected = {(sqltext.column_name(e.unalias()) or "").lower() for e in select.expressions}
    known = {c.lower() for c in workload.schema.columns_of(table) or []}
    if "id" in selected or "id" in known:
        return [(exp.column("id"), False)]
    return None


def detect(workload: Workload) -> Iterable[Finding]:
    candidates = {}
    for c in workload.classes:
        parsed = workload.parsed(c)
        if unbounded_select(parsed.expression):
            candidates[c.class_id] = (c, parsed)
    if not candidates:
        return
    limit = workload.thresholds.unbounded_rows
    wsql, wparams = workload.window.where("e")
    rows = workload.con.execute(
        _SQL.format(window=wsql),
        [_ACTUAL, _ESTIMATE, list(candidates), *wparams, limit, limit, limit],
    ).fetchall()
    for class_id, known, max_rows, p95_rows, big_n, big_ms, sources in rows:
        c, parsed = candidates[class_id]
        estimate_only = list(sources) == ["plan estimate"]
        keys = _sort_key(parsed.expression, workload)
        page = exp.Literal.number(limit)
        fix = (keys and sqltext.keyset_fix(c, parsed.expression, workload, page, keys)) or (
            "Add ORDER BY on a unique key (the primary key) and LIMIT, then fetch the next page"
            " with WHERE key > <last key seen>."
        )
        fix += (
            "\n-- If the client really needs every row, stream it (server-side cursor /"
            " unbuffered result) instead of loading it all at once."
        )
        severity = sqltext.time_severity(big_ms, workload, cap="low" if estimate_only else "high")
        tables = list(parsed.tables)
        what = "estimated by the planner" if estimate_only else "returned"
        yield Finding(
            rule=RULE_ID,
            severity=severity,
            title=f"Unbounded SELECT on {', '.join(tables)} ({what} up to {max_rows:,} rows)",
            detail=(
                f"No LIMIT, and {big_n} of {known} executions with a known row count"
                f" ({', '.join(sources)}) {what} {limit:,}+ rows (max {max_rows:,}, p95"
                f" {p95_rows:,}), {big_ms:.1f} ms in those executions; {sqltext.describe(c)}."
            ),
            fix=fix,
            impact_ms=big_ms,
            query_class_ids=[c.class_id],
            tables=tables,
            columns=[k.name for k, _ in keys or []],
            evidence={
                "threshold": limit,
                "rows_source": list(sources),
                "executions_with_rows": known,
                "large_executions": big_n,
                "max_rows": max_rows,
                "p95_rows": p95_rows,
                "large_ms": round(big_ms, 3),
            },
        )
