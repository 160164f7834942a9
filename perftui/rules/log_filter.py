"""Is the log filtered by duration? Then the sequence rules cannot see what they look for.

N+1 queries and row-by-row writes are made of fast statements, which a log written with
``log_min_duration_statement = 100`` (PostgreSQL) or ``long_query_time = 0.1`` (MySQL) never
contains. A log whose fastest statement took a millisecond or more, among many, was almost
certainly cut that way; the report says so instead of silently finding nothing.
"""

from __future__ import annotations

from perftui.rules.base import Workload

# A full log always has sub-millisecond statements (BEGIN, SET, point lookups).
MIN_FASTEST_MS = 1.0
MIN_TIMED_ENTRIES = 10
# Round values people set the threshold to, to name the likely setting.
_CUTS_MS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000)


def filtering_warnings(workload: Workload) -> list[str]:
    """One warning per source whose statements all took ≥ ``MIN_FASTEST_MS``."""
    wsql, params = workload.window.where("e")
    rows = workload.con.execute(
        f"""SELECT s.path, s.dialect, count(e.duration_ms) AS timed,
                   count(*) - count(e.duration_ms) AS untimed, min(e.duration_ms) AS fastest
            FROM entries e JOIN sources s USING (source_id)
            WHERE e.kind = 'query' {wsql}
            GROUP BY s.source_id, s.path, s.dialect ORDER BY s.source_id""",
        params,
    ).fetchall()
    out = []
    for path, dialect, timed, untimed, fastest in rows:
        # log_statement = 'all' logs every statement without a duration: nothing is missing.
        if timed < MIN_TIMED_ENTRIES or untimed >= timed or fastest is None:
            continue
        if fastest < MIN_FASTEST_MS:
            continue
        cut = max((c for c in _CUTS_MS if c <= fastest), default=MIN_FASTEST_MS)
        if dialect == "postgres":
            setting = f"log_min_duration_statement ≈ {cut:g} ms"
            need = (
                "log_min_duration_statement = 0 (or sampling: log_min_duration_sample = 0 with "
                "log_statement_sample_rate)"
            )
        else:
            setting = f"long_query_time ≈ {cut / 1000:g} s"
            need = (
                "long_query_time = 0 (or sampling: log_slow_rate_limit on MariaDB / Percona Server)"
            )
        out.append(
            f"{path}: no statement faster than {fastest:.3f} ms among {timed}; the log looks "
            f"filtered by duration ({setting}). N+1 and row-by-row-write detection need {need}; "
            "those rules may find nothing in this log."
        )
    return out
