"""deep-offset: ``LIMIT n OFFSET m`` paging with a large ``m`` (soar / pt-query-advisor CLA.003).

The server produces and throws away all ``m`` skipped rows for every page, so page k costs k
pages of work and reading everything is quadratic. Keyset ("seek") pagination remembers the last
sort key and asks for the rows after it: every page is one index range read. The offsets come
from ``entries.offset_value`` (kept per execution at ingest; the fingerprint hides them).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp

from perftui.rules import sqltext
from perftui.rules.base import Finding, Workload, severity_rank

RULE_ID = "deep-offset"
DEFAULT_PAGE = 100  # page size for the rewrite when the statement has OFFSET but no LIMIT

# Times are round(fsum(…), 3) like the class totals: independent of row order, so a finding
# that covers the same executions as another one ranks equal to it every run.
_SQL = """
SELECT class_id, count(*),
       count(*) FILTER (WHERE offset_value > ?),
       round(coalesce(fsum(duration_ms) FILTER (WHERE offset_value > ?), 0), 3),
       max(offset_value), quantile_disc(offset_value, 0.95), max(limit_value)
FROM entries e
WHERE e.kind = 'query' AND e.class_id IS NOT NULL AND e.offset_value IS NOT NULL {window}
GROUP BY class_id
HAVING count(*) FILTER (WHERE offset_value > ?) > 0
"""


def detect(workload: Workload) -> Iterable[Finding]:
    limit = workload.thresholds.deep_offset
    wsql, wparams = workload.window.where("e")
    rows = workload.con.execute(
        _SQL.format(window=wsql), [limit, limit, *wparams, limit]
    ).fetchall()
    for class_id, n, deep_n, deep_ms, max_offset, p95_offset, max_limit in rows:
        c = workload.by_id.get(class_id)
        parsed = workload.parsed(c) if c is not None else None
        if c is None or parsed is None or parsed.expression is None:
            continue
        page = exp.Literal.number(max_limit or DEFAULT_PAGE)
        fix = sqltext.keyset_fix(c, parsed.expression, workload, page) or (
            "Page by key instead of OFFSET: ORDER BY a unique key (the primary key) and ask for"
            " the rows after the last key of the previous page (WHERE key > ? … LIMIT n)."
        )
        severity = sqltext.time_severity(deep_ms, workload)
        if max_offset >= 10 * limit and severity_rank(severity) < severity_rank("medium"):
            severity = "medium"
        select = parsed.expression if isinstance(parsed.expression, exp.Select) else None
        order = [k.name for k, _ in sqltext.order_columns(select)] if select else []
        tables = list(parsed.tables)
        yield Finding(
            rule=RULE_ID,
            severity=severity,
            title=f"Deep OFFSET paging (up to {max_offset:,}) on {', '.join(tables) or '?'}",
            detail=(
                f"OFFSET above {limit:,} in {deep_n} of {n} paged executions, up to"
                f" {max_offset:,} (p95 {p95_offset:,}), {deep_ms:.1f} ms in those executions;"
                f" {sqltext.describe(c)}. The server reads and discards every skipped row, so"
                " each page costs more than the last (soar CLA.003)."
            ),
            fix=fix,
            impact_ms=deep_ms,
            query_class_ids=[c.class_id],
            tables=tables,
            columns=order,
            evidence={
                "threshold": limit,
                "paged_executions": n,
                "deep_executions": deep_n,
                "deep_ms": round(deep_ms, 3),
                "max_offset": max_offset,
                "p95_offset": p95_offset,
                "order_by": order,
            },
        )
