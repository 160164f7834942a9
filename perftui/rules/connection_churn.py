"""connection-churn: a new connection for every statement or two, instead of a pool.

Opening a connection costs a TCP (and often TLS) handshake, authentication and, on PostgreSQL, a
forked backend: typically milliseconds, far more than a point lookup. PostgreSQL shows it
directly (``log_connections`` / ``log_disconnections``); MySQL/MariaDB slow logs show it as
``administrator command: Quit`` entries or as many thread ids with very few statements each.
Connections are counted per log in DuckDB (``sessions.connections_cte``); transaction control
and session setup (SET NAMES…) do not count as statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from perftui.rules.base import Finding, Workload
from perftui.rules.sessions import connections_cte, short, unique
from perftui.store.queries import ClassStats

RULE_ID = "connection-churn"

TOP_CLASSES = 5  # classes named in the finding (those run most often by short connections)


def detect(workload: Workload) -> Iterator[Finding]:
    """One finding per log whose connections run too few statements each to pay for setup."""
    t = workload.thresholds
    by_id = workload.by_id
    for row in _sources(workload):
        if row["connections"] < t.churn_min_connections:
            continue
        if float(row["median_statements"]) > t.churn_statements_per_connection:
            continue
        yield _finding(workload, row, _short_classes(workload, row["source_id"]), by_id)


_SEGMENTS = """
    seg AS (
        SELECT source_id, conn_no,
               count(*) FILTER (WHERE kind = 'query' AND NOT is_control) AS stmts,
               round(coalesce(fsum(duration_ms) FILTER (WHERE kind = 'query'), 0), 3) AS query_ms,
               count(*) FILTER (WHERE kind = 'connect') AS connects,
               count(*) FILTER (WHERE kind = 'disconnect') AS disconnects,
               count(*) FILTER (WHERE is_end AND kind = 'admin') AS quits,
               max(duration_ms) FILTER (WHERE kind = 'disconnect') AS session_ms,
               min(ts) FILTER (WHERE kind = 'connect') AS connect_ts,
               min(ts) FILTER (WHERE kind = 'query') AS first_query_ts,
               min(ts) AS first_ts, max(ts) AS last_ts
        FROM conn GROUP BY source_id, conn_no
        HAVING count(*) FILTER (WHERE kind IN ('query', 'connect')) > 0
    )"""


def _sources(workload: Workload) -> list[dict[str, Any]]:
    """Per log: connections, statements per connection, session times, rate and peak.
    Statement times are ``round(fsum(…), 3)`` and means ``fsum / count``: a float ``sum`` or
    ``avg`` depends on the order rows reach it (which the engine does not fix), so its last
    bit, and a rounded figure in the report, could differ run to run."""
    t = workload.thresholds
    cte, params = connections_cte(workload)
    sql = f"""
    WITH {cte}, {_SEGMENTS},
    peak AS (
        SELECT source_id, max(open_now) AS peak
        FROM (SELECT source_id,
                     sum(delta) OVER (PARTITION BY source_id ORDER BY at_ts, delta
                                      ROWS UNBOUNDED PRECEDING) AS open_now
              FROM (SELECT source_id, first_ts AS at_ts, 1 AS delta FROM seg
                    WHERE first_ts IS NOT NULL
                    UNION ALL
                    SELECT source_id, last_ts, -1 FROM seg WHERE last_ts IS NOT NULL))
        GROUP BY source_id
    )
    SELECT s.source_id, s.path, s.dialect, count(*) AS connections,
           median(stmts) AS median_statements, avg(stmts) AS mean_statements,
           sum(stmts) AS statements, count(*) FILTER (WHERE stmts <= ?) AS short_connections,
           round(coalesce(fsum(query_ms) FILTER (WHERE stmts <= ?), 0), 3) AS short_ms,
           sum(connects) AS connect_entries, sum(disconnects) AS disconnect_entries,
           sum(quits) AS quit_entries,
           fsum(session_ms) / nullif(count(session_ms), 0) AS mean_session_ms,
           1000 * fsum(epoch(first_query_ts) - epoch(connect_ts))
               FILTER (WHERE first_query_ts >= connect_ts)
               / nullif(count(*) FILTER (WHERE first_query_ts >= connect_ts), 0)
               AS mean_setup_ms,
           1000 * coalesce(fsum(epoch(first_query_ts) - epoch(connect_ts))
               FILTER (WHERE stmts <= ? AND first_query_ts >= connect_ts), 0) AS short_setup_ms,
           epoch(max(last_ts)) - epoch(min(first_ts)) AS span_s,
           any_value(p.peak) AS peak
    FROM seg JOIN sources s USING (source_id) LEFT JOIN peak p USING (source_id)
    GROUP BY s.source_id, s.path, s.dialect ORDER BY s.source_id
    """
    limit = t.churn_statements_per_connection
    params += [limit, limit, limit]
    cur = workload.con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _short_classes(workload: Workload, source_id: int) -> list[tuple[str, int]]:
    """The classes short-lived connections ran, most frequent first."""
    cte, params = connections_cte(workload)
    sql = f"""
    WITH {cte}, {_SEGMENTS}
    SELECT c.class_id, count(*) AS n
    FROM conn c JOIN seg USING (source_id, conn_no)
    WHERE c.source_id = ? AND seg.stmts <= ? AND c.kind = 'query' AND NOT c.is_control
    GROUP BY c.class_id ORDER BY n DESC, c.class_id LIMIT ?
    """
    params += [source_id, workload.thresholds.churn_statements_per_connection, TOP_CLASSES]
    return [(r[0], int(r[1])) for r in workload.con.execute(sql, params).fetchall()]


def _finding(
    workload: Workload,
    row: dict[str, Any],
    classes: list[tuple[str, int]],
    by_id: dict[str, ClassStats],
) -> Finding:
    t = workload.thresholds
    connections = int(row["connections"])
    median = float(row["median_statements"])
    span = float(row["span_s"] or 0.0)
    rate = connections / span if span > 0 else None
    short_n = int(row["short_connections"])
    impact = float(row["short_ms"]) + float(row["short_setup_ms"])
    if (rate is not None and rate >= 10) or connections >= 1000:
        severity = "high"
    elif rate is not None and rate < 1 / 60:
        severity = "low"  # a few cron-like connections spread over hours
    else:
        severity = "medium"
    dialect = row["dialect"]
    how = _how_seen(row, dialect)
    names = [
        f"{cid} (`{short(by_id[cid].fingerprint, 50) if cid in by_id else cid}`, {n}×)"
        for cid, n in classes
    ]
    detail = (
        f"{row['path']}: {connections} connections ({how}) ran a median of {median:g} "
        f"statement(s) each (mean {float(row['mean_statements']):.1f}); {short_n} of them ran "
        f"≤ {t.churn_statements_per_connection:g}."
        + (f" {rate:.2f} connections per second over {span:.1f} s." if rate is not None else "")
        + (
            f" Mean session time {float(row['mean_session_ms']):.1f} ms."
            if row["mean_session_ms"] is not None
            else ""
        )
        + (
            f" Connect to first statement: {float(row['mean_setup_ms']):.1f} ms on average."
            if row["mean_setup_ms"] is not None
            else ""
        )
        + (f" Short connections mostly ran: {'; '.join(names)}." if names else "")
    )
    evidence = {
        "source_id": int(row["source_id"]),
        "path": row["path"],
        "connections": connections,
        "statements": int(row["statements"] or 0),
        "median_statements_per_connection": median,
        "mean_statements_per_connection": round(float(row["mean_statements"]), 3),
        "short_connections": short_n,
        "connect_entries": int(row["connect_entries"] or 0),
        "disconnect_entries": int(row["disconnect_entries"] or 0),
        "quit_entries": int(row["quit_entries"] or 0),
        "mean_session_ms": _round(row["mean_session_ms"]),
        "mean_connect_to_first_statement_ms": _round(row["mean_setup_ms"]),
        "connections_per_second": round(rate, 3) if rate is not None else None,
        "span_s": round(span, 3),
        "peak_concurrent_connections": int(row["peak"]) if row["peak"] is not None else None,
        "statements_ms_in_short_connections": round(float(row["short_ms"]), 3),
        "setup_ms_in_short_connections": round(float(row["short_setup_ms"]), 3),
        "classes": dict(classes),
        "min_connections": t.churn_min_connections,
        "statements_per_connection_threshold": t.churn_statements_per_connection,
    }
    class_ids = [cid for cid, _ in classes]
    tables = unique(tb for cid in class_ids if cid in by_id for tb in by_id[cid].tables)
    return Finding(
        rule=RULE_ID,
        severity=severity,
        title=f"Connection churn: {connections} connections, median {median:g} statement(s) each",
        detail=detail,
        fix=_fix(dialect, row["peak"]),
        impact_ms=impact,
        query_class_ids=class_ids,
        tables=tables,
        columns=[],
        evidence=evidence,
    )


def _how_seen(row: dict[str, Any], dialect: str) -> str:
    if row["connect_entries"] or row["disconnect_entries"]:
        return (
            f"{int(row['connect_entries'] or 0)} connection and "
            f"{int(row['disconnect_entries'] or 0)} disconnection lines"
        )
    if row["quit_entries"]:
        return f"{int(row['quit_entries'])} `administrator command: Quit` entries"
    return "distinct thread ids" if dialect == "mysql" else "distinct session ids"


def _round(value: Any) -> float | None:
    return round(float(value), 3) if value is not None else None


def _fix(dialect: str, peak: Any) -> str:
    size = max(5, min(int(peak or 0), 50))
    lines = [
        "Reuse connections through a pool instead of connecting per statement:",
        f"  SQLAlchemy: `create_engine(url, pool_size={size}, max_overflow={size}, "
        "pool_pre_ping=True, pool_recycle=1800)`, one engine per process created at start-up "
        f"(the log shows at most {int(peak or 0)} connection(s) open at once).",
    ]
    if dialect == "postgres":
        lines += [
            f"  psycopg 3: `psycopg_pool.ConnectionPool(conninfo, min_size=2, max_size={size}, "
            "max_idle=300)` and `with pool.connection() as conn:` per unit of work.",
            "  Many processes or short-lived workers (serverless, CGI, cron): PgBouncer in front, "
            "`pool_mode = transaction`, `default_pool_size = 20`, `max_client_conn = 1000`, "
            "and point the application at it.",
        ]
    else:
        lines += [
            "  PyMySQL/mysqlclient without SQLAlchemy: `dbutils.pooled_db.PooledDB(pymysql, "
            f"maxconnections={size}, ping=1)`; keep pool_recycle below the server's "
            "`wait_timeout`.",
            "  Server side: `thread_cache_size` ≥ the peak concurrent connections (check that "
            "`Threads_created` stops growing in SHOW GLOBAL STATUS); ProxySQL multiplexes "
            "connections from many short-lived clients.",
        ]
    return "\n".join(lines)
