"""cache-candidate: the same SELECT, with the same values, over and over within a minute.

A statement text repeated verbatim (same literals, and for PostgreSQL's extended protocol the
same parameters) returns the same rows until someone writes to its tables, so the application
can keep the answer for a while. Repeats are counted in a sliding window over ``ts`` in DuckDB.
The statement itself carries literals (a customer's e-mail…), so it only ever goes into
``evidence["statement"]``, which exports strip unless asked for literals; titles, details and
fixes name the class id and its fingerprint.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from perftui.rules.base import Finding, Workload
from perftui.rules.sessions import SELECT_RE, WRITE_RE, short, source_paths
from perftui.store.queries import ClassStats

RULE_ID = "cache-candidate"

# Locking reads, volatile functions and pings (no FROM): repeating them is not a cache miss.
UNCACHEABLE_RE = (
    r"\bfor (update|share|no key update|key share)\b|\block in share mode\b"
    r"|\b(nextval|currval|setval|lastval|now|random|rand|uuid|gen_random_uuid|uuid_generate_v4"
    r"|clock_timestamp|statement_timestamp|sysdate|current_timestamp|localtimestamp"
    r"|last_insert_id|found_rows|row_count|pg_sleep|sleep|get_lock|release_lock"
    r"|pg_advisory_lock|pg_try_advisory_lock|txid_current|pg_current_xact_id)\b"
)
FROM_RE = r"\bfrom\b"
MEDIUM_MS = 1000.0


def detect(workload: Workload) -> Iterator[Finding]:
    """One finding per SELECT class whose identical statements repeat within the window."""
    by_id = workload.by_id  # also makes sure every class's tables are parsed
    for row in _classes(workload):
        yield _finding(workload, row, by_id)


def _classes(workload: Workload) -> list[dict[str, Any]]:
    """Per SELECT class: the identical statements that repeat often enough inside the window,
    counted per log (one server), so the same log ingested in two formats does not add up.
    Times are ``round(fsum(…), 3)``: independent of row order, so the top statement (an
    ``arg_max`` on repeats then ms) and the totals are the same run to run."""
    t = workload.thresholds
    wsql, wparams = workload.window.where("e")
    timed = f"e.kind = 'query' AND e.ts IS NOT NULL AND e.query IS NOT NULL {wsql}"
    sql = f"""
    WITH cls AS (  -- classes by number: the groups and the window below key on an integer
        SELECT class_id, fingerprint, row_number() OVER (ORDER BY class_id) AS class_no
        FROM query_classes
    ),
    q AS (  -- without the texts: a CTE read three times is materialised, and copying
            -- every statement's text into it was 40 % of the rule (5.9 M entries)
        SELECT e.source_id, c.class_no, e.session, e.ts, epoch(e.ts) AS t, e.duration_ms,
               hash(e.query, coalesce(e.params, '')) AS h
        FROM entries e JOIN cls c ON c.class_id = e.class_id
        WHERE {timed}
          AND regexp_matches(c.fingerprint, ?) AND regexp_matches(c.fingerprint, ?)
          AND NOT regexp_matches(c.fingerprint, ?)
    ),
    hot AS (  -- statements repeated often enough in all, with their totals
        SELECT source_id, class_no, h, count(*) AS repeats,
               round(coalesce(fsum(duration_ms), 0), 3) AS ms, count(DISTINCT session) AS sessions,
               min(ts) AS first_ts, max(ts) AS last_ts
        FROM q GROUP BY source_id, class_no, h HAVING count(*) >= ?
    ),
    times AS (  -- their executions per point in time: a window sorts every row it reads, and
                -- busy statements repeat within one timestamp (MySQL logs whole seconds), so
                -- this is the cheap input (a sliding count over 2.8 M rows took 1.8 s, over
                -- the 0.5 M distinct times 0.2 s)
        SELECT q.source_id, q.class_no, q.h, q.t, count(*) AS n
        FROM q SEMI JOIN hot
          ON q.source_id = hot.source_id AND q.class_no = hot.class_no AND q.h = hot.h
        GROUP BY ALL
    ),
    peaks AS (  -- the busiest window, and the executions that came within a window of the last
        SELECT source_id, class_no, h, max(in_window) AS max_in_window,
               sum(n - 1 + coalesce((gap <= ?)::BIGINT, 0)) AS within_ttl
        FROM (SELECT *, sum(n) OVER (p RANGE BETWEEN ? PRECEDING AND CURRENT ROW) AS in_window,
                     t - lag(t) OVER p AS gap
              FROM times WINDOW p AS (PARTITION BY source_id, class_no, h ORDER BY t))
        GROUP BY source_id, class_no, h HAVING max(in_window) >= ?
    ),
    stmt AS (SELECT * FROM hot JOIN peaks USING (source_id, class_no, h)),
    per_class AS (
        SELECT any_value(c.class_id) AS class_id, count(*) AS statements,
               sum(repeats) AS executions,
               round(fsum(ms), 3) AS total_ms, sum(within_ttl) AS within_ttl,
               arg_max({{'source_id': source_id, 'h': h, 'repeats': repeats,
                         'max_in_window': max_in_window, 'ms': ms, 'sessions': sessions,
                         'within_ttl': within_ttl, 'first_ts': first_ts, 'last_ts': last_ts}},
                       {{'repeats': repeats, 'ms': ms, 'src': -source_id, 'h': h}}) AS top
        FROM stmt JOIN cls c USING (class_no)
        GROUP BY class_no
    ),
    texts AS (  -- the text of each class's top statement only (all its rows share it), read
                -- again from the entries of the classes found
        SELECT source_id, class_id, h, any_value(query) AS query, any_value(params) AS params
        FROM (SELECT e.source_id, e.class_id, e.query, e.params,
                     hash(e.query, coalesce(e.params, '')) AS h
              FROM entries e
              WHERE {timed} AND e.class_id IN (SELECT class_id FROM per_class)) q
        SEMI JOIN per_class p
          ON q.source_id = p.top.source_id AND q.class_id = p.class_id AND q.h = p.top.h
        GROUP BY ALL
    )
    SELECT p.class_id, p.statements, p.executions, p.total_ms, p.within_ttl,
           struct_insert(p.top, query := x.query, params := x.params) AS top
    FROM per_class p JOIN texts x
      ON x.source_id = p.top.source_id AND x.class_id = p.class_id AND x.h = p.top.h
    ORDER BY p.total_ms DESC, p.executions DESC, p.class_id
    """
    params = [*wparams, SELECT_RE, FROM_RE, UNCACHEABLE_RE]
    params += [t.cache_repeats, t.cache_window_s, t.cache_window_s, t.cache_repeats, *wparams]
    cols = ("class_id", "statements", "executions", "total_ms", "within_ttl", "top")
    return [dict(zip(cols, r, strict=True)) for r in workload.con.execute(sql, params).fetchall()]


def _writes(workload: Workload, class_id: str, tables: list[str]) -> dict[str, int]:
    """Write classes (with executions) that touch any of ``tables`` in the analysed window, in
    the logs where the cached class itself ran (another server's writes do not matter)."""
    names = {tb.split(".")[-1].strip('"`').lower() for tb in tables}
    if not names:
        return {}
    sources = _class_sources(workload).get(class_id, set())
    counts: dict[str, int] = {}
    for write_id, source_id, write_tables, n in _write_counts(workload):
        if source_id in sources and names.intersection(write_tables):
            counts[write_id] = counts.get(write_id, 0) + n
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _write_counts(workload: Workload) -> list[tuple[str, int, set[str], int]]:
    """(write class, source, its table names, executions) for the window, read once per run:
    each finding asked DuckDB over every entry again (0.1 s each on 5.9 M entries). Counted
    before the classes' table lists are joined: carried on every entry row into the aggregate,
    the lists took DuckDB 2 past its memory limit on 58.7 M entries."""
    if "cache_write_counts" not in workload.shared:
        wsql, wparams = workload.window.where("e")
        rows = workload.con.execute(
            f"""SELECT w.class_id, w.source_id,
                       list_transform(coalesce(c.tables, []),
                                      lambda x: lower(trim(string_split(x, '.')[-1], '"`'))),
                       w.n
                FROM (SELECT e.class_id, e.source_id, count(*) AS n FROM entries e
                      WHERE e.kind = 'query' {wsql} AND e.class_id IN
                            (SELECT class_id FROM query_classes
                             WHERE regexp_matches(fingerprint, ?))
                      GROUP BY e.class_id, e.source_id) w
                JOIN query_classes c USING (class_id)""",
            [*wparams, WRITE_RE],
        ).fetchall()
        workload.shared["cache_write_counts"] = [
            (r[0], int(r[1]), set(r[2]), int(r[3])) for r in rows
        ]
    return workload.shared["cache_write_counts"]


def _class_sources(workload: Workload) -> dict[str, set[int]]:
    """The logs each class ran in (whatever the window), read once per run."""
    if "class_sources" not in workload.shared:
        rows = workload.con.execute(
            "SELECT DISTINCT class_id, source_id FROM entries WHERE class_id IS NOT NULL"
        ).fetchall()
        found: dict[str, set[int]] = {}
        for class_id, source_id in rows:
            found.setdefault(class_id, set()).add(int(source_id))
        workload.shared["class_sources"] = found
    return workload.shared["class_sources"]


def _finding(workload: Workload, row: dict[str, Any], by_id: dict[str, ClassStats]) -> Finding:
    t = workload.thresholds
    class_id = row["class_id"]
    c = by_id.get(class_id)
    fingerprint = c.fingerprint if c is not None else class_id
    tables = list(c.tables) if c is not None else []
    top = row["top"]
    window = t.cache_window_s
    repeats, max_in = int(top["repeats"]), int(top["max_in_window"])
    statements, executions = int(row["statements"]), int(row["executions"])
    total_ms = float(row["total_ms"])
    writes = _writes(workload, class_id, tables)
    path = source_paths(workload.con, [top["source_id"]]).get(int(top["source_id"]), "?")
    severity = "medium" if max_in >= 5 * t.cache_repeats or total_ms >= MEDIUM_MS else "low"

    others = (
        f" {statements - 1} more statement(s) of this class repeat the same way"
        f" ({executions} executions in all, {total_ms:.1f} ms)."
        if statements > 1
        else ""
    )
    detail = (
        f"Class {class_id} (`{short(fingerprint, 70)}`): in {path}, one identical statement"
        " (same literals"
        f"{' and parameters' if top['params'] else ''}) ran {repeats} times, up to {max_in} "
        f"times within {window:g} s, from {int(top['sessions'])} session(s), "
        f"{float(top['ms']):.1f} ms in total, between {_iso(top['first_ts'])} and "
        f"{_iso(top['last_ts'])}.{others}"
    )
    statement = top["query"] + (f"\n-- parameters: {top['params']}" if top["params"] else "")
    evidence = {
        "class_id": class_id,
        "statement": statement,  # literal-bearing: exports drop this key unless asked
        "path": path,
        "repeats": repeats,
        "max_in_window": max_in,
        "window_s": window,
        "total_ms": round(float(top["ms"]), 3),
        "sessions": int(top["sessions"]),
        "first_seen": _iso(top["first_ts"]),
        "last_seen": _iso(top["last_ts"]),
        "hits_with_ttl": int(top["within_ttl"]),
        "distinct_statements": statements,
        "class_executions": executions,
        "class_ms": round(total_ms, 3),
        "writes_to_tables": writes,
        "count_threshold": t.cache_repeats,
    }
    return Finding(
        rule=RULE_ID,
        severity=severity,
        title=f"Cache candidate: `{short(fingerprint, 60)}` repeats {repeats}× with the same "
        "values",
        detail=detail,
        fix=_fix(class_id, fingerprint, tables, writes, window, int(top["within_ttl"]), repeats),
        impact_ms=total_ms,
        query_class_ids=[class_id],
        tables=tables,
        columns=[],
        evidence=evidence,
    )


def _fix(
    class_id: str,
    fingerprint: str,
    tables: list[str],
    writes: dict[str, int],
    ttl: float,
    hits: int,
    repeats: int,
) -> str:
    names = ", ".join(tables) or "its tables"
    if writes:
        listed = ", ".join(f"{k} ({n}×)" for k, n in list(writes.items())[:5])
        invalidate = (
            f"The log shows writes to {names}: classes {listed}. Delete the cached entry right "
            "after those commit (or keep the TTL shorter than the staleness you can accept)."
        )
    else:
        invalidate = (
            f"No writes to {names} appear in this log, so a TTL alone likely suffices; still "
            "delete the entry wherever the application writes to them."
        )
    return "\n".join(
        [
            f"Cache the result of class {class_id} (`{short(fingerprint, 80)}`) in the "
            f"application, keyed by its parameters, with a TTL (e.g. {ttl:g} s) and an "
            "invalidation point:",
            f"  in-process: `cache = cachetools.TTLCache(maxsize=1024, ttl={ttl:g})` and "
            "`@cachetools.cached(cache)` on the function that runs it (`functools.lru_cache` "
            "has no TTL: only for data that never changes while the process runs);",
            f"  shared by all processes: Redis `SET key value EX {int(ttl)}` / `GET key`, key "
            "= class + parameter values.",
            invalidate,
            f"With a {ttl:g} s TTL, {hits} of these {repeats} executions would have been cache "
            "hits.",
        ]
    )


def _iso(ts: Any) -> str | None:
    return ts.isoformat(sep=" ") if ts is not None else None
