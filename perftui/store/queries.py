"""The read side of the store: every report, the TUI and the exports read through these functions.

All values reach SQL as parameters; nothing here formats user input into a statement.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from fractions import Fraction

import duckdb

from perftui.store.results import first

# Query_time distribution buckets, pt-query-digest style (log10 from 1 µs to 10 s+).
HISTOGRAM_LABELS = ("1us", "10us", "100us", "1ms", "10ms", "100ms", "1s", "10s+")


@dataclass(frozen=True, slots=True)
class Window:
    """Optional time window (UTC) applied to every per-entry query."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def where(self, alias: str = "e") -> tuple[str, list]:
        clauses, params = [], []
        if self.since is not None:
            clauses.append(f"{alias}.ts >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append(f"{alias}.ts < ?")
            params.append(self.until)
        return (" AND " + " AND ".join(clauses)) if clauses else "", params


@dataclass(slots=True)
class SourceSummary:
    source_id: int
    path: str
    format: str
    dialect: str
    lines: int
    entries: int
    entry_lines: int
    reject_lines: int
    reject_reasons: dict[str, int]
    complete: bool
    min_duration_ms: float | None

    @property
    def reconciles(self) -> bool | None:
        """lines = entry lines + rejected lines; None for profiles (stacks, not log entries)."""
        if self.dialect == "profile":
            return None
        return self.lines == self.entry_lines + self.reject_lines


@dataclass(slots=True)
class ClassStats:
    class_id: str
    fingerprint: str
    dialect: str
    count: int
    total_ms: float
    min_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    stddev_ms: float | None
    lock_ms: float | None
    rows_sent: int | None
    rows_examined: int | None
    rows_affected: int | None
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    users: dict[str, int]
    databases: dict[str, int]
    hosts: dict[str, int]
    histogram: list[int]
    sample: str | None
    tables: list[str] = field(default_factory=list)


def sources(con: duckdb.DuckDBPyConnection) -> list[SourceSummary]:
    rows = con.execute(
        """
        SELECT s.source_id, s.path, s.format, s.dialect, s.lines, s.entries,
               coalesce((SELECT sum(n_lines) FROM entries e WHERE e.source_id = s.source_id), 0),
               s.reject_lines, s.complete,
               (SELECT min(duration_ms) FROM entries e
                 WHERE e.source_id = s.source_id AND e.kind = 'query')
        FROM sources s ORDER BY s.source_id
        """
    ).fetchall()
    reasons: dict[int, dict[str, int]] = {}
    for sid, reason, n in con.execute(
        "SELECT source_id, reason, count(*) FROM rejects GROUP BY ALL ORDER BY 3 DESC"
    ).fetchall():
        reasons.setdefault(sid, {})[reason] = n
    return [
        SourceSummary(
            r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7], reasons.get(r[0], {}), r[8], r[9]
        )
        for r in rows
    ]


_BUCKET = "least(greatest(floor(log10(greatest(duration_ms, 1e-6) * 1000)), 0), 7)"


def class_stats(
    con: duckdb.DuckDBPyConnection,
    window: Window | None = None,
    *,
    order_by: str = "total_ms",
    limit: int | None = None,
    class_ids: list[str] | None = None,
) -> list[ClassStats]:
    """Per-class statistics over query entries, exact (computed from every row), ranked.

    Every statistic is independent of the order in which rows reach it, so a report is the same
    run to run (DuckDB aggregates in parallel and merges per-thread states in whatever order
    they finish; ``avg`` and ``stddev_pop`` then drift in the last bits, and a class whose true
    value is ``x.xxx5`` printed 0.303 one run and 0.304 the next). Times are compensated sums
    (``fsum``) rounded to the logs' microsecond; the mean and standard deviation come from
    exact integer sums of the durations in microseconds (``HUGEINT``: ``n·Σu² − (Σu)²`` is exact,
    one division and a square root follow), which is exact for microsecond logs (PostgreSQL's
    ``duration: 1.234 ms``, MySQL's ``Query_time: 0.001234``); a class with a duration of 31
    years or more (a corrupt log) gets ``avg`` and ``stddev_pop`` instead, as products of such
    values could overflow. The sample statement is the slowest execution,
    the earliest (source, line) among equally slow ones. The three percentiles are one
    list-form ``quantile_cont`` (one collection and sort of each class's values instead of
    three); the histogram is eight ``count(*) FILTER`` aggregates instead of a list of every
    execution's bucket filtered eight times.
    """
    order_cols = {
        "total_ms": "total_ms",
        "count": "cnt",
        "p95_ms": "p95",
        "max_ms": "mx",
        "rows": "rows_examined",
        "mean_ms": "mean",
    }
    if order_by not in order_cols:
        raise ValueError(f"cannot order by {order_by!r}; choose from {', '.join(order_cols)}")
    wsql, where_params = (window or Window()).where("e")
    class_filter = ""
    if class_ids is not None:
        class_filter = " AND e.class_id IN (SELECT unnest(?::VARCHAR[]))"
        where_params = [*where_params, class_ids]
    where = f"e.kind = 'query' AND e.class_id IS NOT NULL {wsql}{class_filter}"
    params = list(where_params)
    buckets = ", ".join(f"count(*) FILTER (WHERE bucket = {i})" for i in range(8))
    passes = _percentile_passes(con)
    if passes == 1:
        pct_agg, pct_cte, pct_col, pct_join = (
            f"{_percentiles('duration_ms')} AS pct,",
            "",
            "a.pct",
            "",
        )
    else:  # the classes' percentiles, computed pass by pass, go in as parameters
        ids, values = _percentiles_by_pass(con, where, where_params)
        pct_agg, pct_col, pct_join = "", "p.pct", " LEFT JOIN pct p USING (class_id)"
        pct_cte = ", pct AS (SELECT unnest(?::VARCHAR[]) AS class_id, unnest(?::DOUBLE[][]) AS pct)"
        params += [ids, values]
    limit_sql = ""
    if limit is not None:
        limit_sql = " LIMIT ?"
        params.append(limit)
    sql = f"""
        WITH q AS (
            SELECT e.*, CASE WHEN e.duration_ms IS NOT NULL
                             THEN CAST({_BUCKET} AS INTEGER) END AS bucket,
                   CASE WHEN abs(e.duration_ms) < 1e12  -- 31 years: n·Σu² fits a HUGEINT
                        THEN CAST(round(e.duration_ms * 1000) AS HUGEINT) END AS us
            FROM entries e
            WHERE {where}
        ),
        agg AS (
            SELECT class_id, count(*) AS cnt,
                   round(coalesce(fsum(duration_ms), 0), 3) AS total_ms,
                   min(duration_ms) AS mn, max(duration_ms) AS mx,
                   CASE WHEN count(us) = count(duration_ms) THEN sum(us) / count(us) / 1000
                        ELSE avg(duration_ms) END AS mean,
                   count(us) AS n_us, count(duration_ms) AS n_ms, sum(us) AS s_us,
                   sum(us * us) AS ss_us, stddev_pop(duration_ms) AS sd_float,
                   {pct_agg}
                   round(fsum(lock_ms), 3) AS lock_ms,
                   sum(rows_sent) AS rows_sent, sum(rows_examined) AS rows_examined,
                   sum(rows_affected) AS rows_affected, min(ts) AS first_seen,
                   max(ts) AS last_seen,
                   histogram(user_name) FILTER (WHERE user_name IS NOT NULL) AS users,
                   histogram(db) FILTER (WHERE db IS NOT NULL) AS dbs,
                   histogram(host) FILTER (WHERE host IS NOT NULL) AS hosts,
                   list_value({buckets}) AS histogram,
                   arg_max(query, {{'ms': duration_ms, 'src': -source_id, 'line': -line_start}})
                       AS sample
            FROM q GROUP BY class_id
        ){pct_cte}
        SELECT a.class_id, c.fingerprint, c.dialect, a.cnt, a.total_ms, a.mn, a.mx, a.mean,
               {pct_col}[1] AS p50, {pct_col}[2] AS p95, {pct_col}[3] AS p99,
               CASE WHEN a.n_us = a.n_ms
                    THEN coalesce(try(sqrt(CAST(a.n_us * a.ss_us - a.s_us * a.s_us AS DOUBLE))
                                      / a.n_us / 1000), a.sd_float)
                    ELSE a.sd_float END AS sd, a.lock_ms,
               a.rows_sent, a.rows_examined, a.rows_affected, a.first_seen, a.last_seen,
               a.users, a.dbs, a.hosts, a.histogram, a.sample
        FROM agg a JOIN query_classes c USING (class_id){pct_join}
        ORDER BY {order_cols[order_by]} DESC NULLS LAST, a.class_id{limit_sql}
    """
    out = []
    for r in con.execute(sql, params).fetchall():
        out.append(
            ClassStats(
                class_id=r[0],
                fingerprint=r[1],
                dialect=r[2],
                count=r[3],
                total_ms=r[4],
                min_ms=r[5],
                max_ms=r[6],
                mean_ms=r[7],
                p50_ms=r[8],
                p95_ms=r[9],
                p99_ms=r[10],
                stddev_ms=r[11],
                lock_ms=r[12],
                rows_sent=_int(r[13]),
                rows_examined=_int(r[14]),
                rows_affected=_int(r[15]),
                first_seen=r[16],
                last_seen=r[17],
                users=dict(r[18] or {}),
                databases=dict(r[19] or {}),
                hosts=dict(r[20] or {}),
                histogram=list(r[21] or [0] * 8),
                sample=r[22],
            )
        )
    return out


# Durations whose percentiles are computed at once. ``quantile_cont`` holds every value of every
# class until the end of its aggregate: 1,089 MB for the 58.7 M entries of a 10 GB PostgreSQL
# log, and within DuckDB 2's memory limit (DuckDB 1.5 kept it outside). Past this many entries
# the classes are packed by their counts into passes, each its own statement (as one UNION ALL,
# DuckDB 2 runs them at once); a 1 GB log (3.4 M / 5.9 M entries) stays in one.
PERCENTILE_VALUES_PER_PASS = 12_000_000
# A class with more durations than this gets its percentiles from its distinct values and their
# counts instead: one aggregate state holding 16.9 M values asked DuckDB 2 for a 256 MB block.
PERCENTILE_VALUES_PER_CLASS = 4_000_000
_QUANTILES = (0.5, 0.95, 0.99)  # p50, p95, p99


def _percentiles(column: str) -> str:
    """The list-form ``quantile_cont`` of ``column`` at ``_QUANTILES``."""
    return f"quantile_cont({column}, [{', '.join(map(str, _QUANTILES))}])"


def _percentile_passes(con: duckdb.DuckDBPyConnection) -> int:
    """How many passes the percentiles take, from the sources' entry counts (no scan)."""
    entries = first(con.execute("SELECT coalesce(sum(entries), 0) FROM sources"))[0]
    return max(1, -(-int(entries) // PERCENTILE_VALUES_PER_PASS))


def _percentiles_by_pass(
    con: duckdb.DuckDBPyConnection, where: str, params: list
) -> tuple[list[str], list[list[float | None] | None]]:
    """(class ids, [p50, p95, p99] of each) over the entries ``where`` selects, in memory that
    does not grow with the store: ``quantile_cont`` over passes of at most
    ``PERCENTILE_VALUES_PER_PASS`` durations, and ``_counted_percentiles`` for classes too big
    for one aggregate state. Both give exactly ``quantile_cont``'s values."""
    counts = con.execute(
        f"SELECT e.class_id, count(e.duration_ms) AS n FROM entries e WHERE {where}"
        " GROUP BY e.class_id ORDER BY n DESC, e.class_id",
        params,
    ).fetchall()
    ids: list[str] = []
    values: list[list[float | None] | None] = []
    passes: list[list[str]] = []
    room = 0
    for class_id, n in counts:
        if n > PERCENTILE_VALUES_PER_CLASS:
            ids.append(class_id)
            values.append(_counted_percentiles(con, where, params, class_id, n))
            continue
        if not passes or n > room:
            passes.append([])
            room = PERCENTILE_VALUES_PER_PASS
        passes[-1].append(class_id)
        room -= n
    for members in passes:
        rows = con.execute(
            f"SELECT e.class_id, {_percentiles('e.duration_ms')} FROM entries e"
            f" WHERE {where} AND e.class_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY e.class_id",
            [*params, members],
        ).fetchall()
        for class_id, pct in rows:
            ids.append(class_id)
            values.append(pct)
    return ids, values


def _counted_percentiles(
    con: duckdb.DuckDBPyConnection, where: str, params: list, class_id: str, n: int
) -> list[float | None] | None:
    """``_percentiles('duration_ms')`` of one class from its distinct
    durations and running counts (a sort of the distinct values, which DuckDB can spill; a
    class of 16.9 M executions had 70). DuckDB 2's own interpolation, in the same double
    arithmetic: rank ``(n - 1) * q``, ``d = rank - floor(rank)``, then ``lo * (1 - d) + hi * d``
    as its build computes it, a fused multiply-add (the one form that matched all 7,480
    interpolated percentiles of 3,000 random classes; the tests hold it to ``quantile_cont``)."""
    if n == 0:
        return None
    ranks = sorted({r for q in _QUANTILES for r in _ranks(n, q)})
    picks = ", ".join(f"min(d) FILTER (WHERE upto > {r})" for r in ranks)
    row = first(
        con.execute(
            f"""WITH v AS (SELECT e.duration_ms AS d, count(*) AS c FROM entries e
                           WHERE {where} AND e.class_id = ? AND e.duration_ms IS NOT NULL
                           GROUP BY d),
                r AS (SELECT d, sum(c) OVER (ORDER BY d) AS upto FROM v)
            SELECT {picks} FROM r""",
            [*params, class_id],
        )
    )
    at = dict(zip(ranks, row or (), strict=True))
    out: list[float | None] = []
    for q in _QUANTILES:
        lo_rank, hi_rank = _ranks(n, q)
        lo, hi = at[lo_rank], at[hi_rank]
        d = (n - 1) * q - lo_rank
        out.append(lo if hi_rank == lo_rank else _fma(lo, 1.0 - d, hi * d))
    return out


def _fma(a: float, b: float, c: float) -> float:
    """``a * b + c`` rounded once (``math.fma`` from Python 3.13; exact fractions before)."""
    if hasattr(math, "fma"):
        return math.fma(a, b, c)
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c  # inf / nan: what the fused form gives too (a stored file may hold them)
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def _ranks(n: int, q: float) -> tuple[int, int]:
    """The 0-based ranks ``quantile_cont`` interpolates between for ``n`` values."""
    rank = (n - 1) * q
    return math.floor(rank), math.ceil(rank)


def _int(v: object) -> int | None:
    return None if v is None else int(v)  # type: ignore[arg-type]


@dataclass(slots=True)
class Totals:
    entries: int
    queries: int
    classes: int
    total_ms: float
    first_ts: dt.datetime | None
    last_ts: dt.datetime | None


def totals(con: duckdb.DuckDBPyConnection, window: Window | None = None) -> Totals:
    wsql, params = (window or Window()).where("e")
    r = first(
        con.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE kind = 'query'),
                   count(DISTINCT class_id) FILTER (WHERE kind = 'query'),
                   round(coalesce(fsum(duration_ms) FILTER (WHERE kind = 'query'), 0), 3),
                   min(ts), max(ts)
            FROM entries e WHERE true {wsql}""",
            params,
        )
    )
    return Totals(r[0], r[1], r[2], r[3], r[4], r[5])
