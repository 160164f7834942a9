"""row-by-row-write: a loop of single-row INSERT/UPDATE/DELETE, often with a commit per row.

Every statement is a round trip, and in autocommit mode (or with a COMMIT after each) every row
is also a WAL/redo flush: the cost is in the count, not in any one slow statement. Bursts are
executions of one class in one connection with no gap longer than
``Thresholds.row_by_row_gap_s`` (so a pooled connection doing one insert per web request now and
then is not a loop). The transaction state of each execution (BEGIN/COMMIT,
``SET autocommit = 0``) comes from ASOF joins to the last such event before it, in DuckDB.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlglot import exp

from perftui.rules import parsing
from perftui.rules.base import Finding, Workload
from perftui.rules.sessions import (
    SINGLE_ROW_WRITE_RE,
    anonymize_parameters,
    batch_equality,
    connections_cte,
    equalities,
    example_findings,
    short,
)
from perftui.rules.sqltext import ident, placeholder, placeholderize, render, value_like
from perftui.store.queries import ClassStats
from perftui.store.results import first

RULE_ID = "row-by-row-write"

# "high" needs real cost: 1 s in the loop's statements, or a loop of 1,000+ commits.
HIGH_MS = 1000.0
HIGH_COMMITS = 1000
# INSERT … SELECT is set-based however many rows it writes.
INSERT_SELECT_RE = (
    r"^(insert|replace)\s+(ignore\s+)?into\s+\S+\s*(\([^)]*\)\s*)?\(?\s*(select|with)\b"
)

PATTERN_TEXT = {
    "autocommit": "each in its own transaction (autocommit: no BEGIN/COMMIT around them)",
    "commit-each": "each followed by its own COMMIT",
    "transaction": "inside a few transactions (the round trips remain)",
}


def detect(workload: Workload) -> Iterator[Finding]:
    """One finding per write class looped row by row, with its commit pattern and a batch fix."""
    yield from example_findings(workload, _classes(workload), _finding)


def _classes(workload: Workload) -> list[dict[str, Any]]:
    """Bursts of single-row writes per class (and dialect), with their commit pattern.

    Times are ``round(fsum(…), 3)`` so they do not depend on the order rows reach the sums: the
    example burst is the ``arg_max`` of (executions, ms, then the earliest source and line), and
    with plain float sums two equal bursts could swap when the plan changed the row order."""
    t = workload.thresholds
    cte, params = connections_cte(workload)
    joined = _has_tx_events(workload)
    # An ASOF join sorts its left side even when the right side is empty: only the rows of
    # connections that have transaction events are joined (PostgreSQL 1 GB: 34 k of 2.1 M). One
    # join to all events, each carrying the state after it (last BEGIN/COMMIT with its number,
    # last SET autocommit), instead of one join per kind of event. With no event before a row,
    # its state is NULL, as the join gives.
    sql = f"""
    WITH {cte},
    wc AS (
        SELECT class_id FROM query_classes
        WHERE regexp_matches(fingerprint, ?) AND NOT regexp_matches(fingerprint, ?)
    ),
    base AS (  -- only transaction events and writes: reads do not change what is measured;
               -- only the columns the joins and windows need (their sorts carry every column)
        SELECT source_id, conn_no, line_start, ts, duration_ms, class_no, tx_event,
               CASE WHEN is_insert THEN coalesce(values_rows, 1) <= 1
                    ELSE coalesce(rows_affected, 1) <= 1 END AS single_row
        FROM conn
        WHERE kind = 'query'
          AND (tx_event IS NOT NULL OR class_id IN (SELECT class_id FROM wc))
    ),
    ev AS (  -- each event with the connection's transaction state after it: the last
             -- BEGIN / COMMIT (and how many so far), the last SET autocommit
        SELECT source_id, conn_no, line_start,
               last_value(CASE WHEN tx_event IN ('begin', 'end') THEN tx_event END IGNORE NULLS)
                   OVER e AS last_tx,
               sum(CASE WHEN tx_event IN ('begin', 'end') THEN 1 ELSE 0 END) OVER e AS tx_no,
               last_value(CASE WHEN tx_event IN ('ac_off', 'ac_on') THEN tx_event END
                          IGNORE NULLS) OVER e AS last_ac
        FROM base WHERE tx_event IS NOT NULL
        WINDOW e AS (PARTITION BY source_id, conn_no ORDER BY line_start
                     ROWS UNBOUNDED PRECEDING)
    ),
    tx_conns AS (SELECT DISTINCT source_id, conn_no FROM ev),
    t AS (  -- each row with the state after the last event before it (an ASOF join:
            -- last_value(… IGNORE NULLS) windows over all the rows took 10x longer)
        {_with_state() if joined else _without_state("base")}
    ),
    ends AS (  -- each COMMIT with the last write before it (in its connection, so one with
               -- events)
        SELECT e.*, wr.line_start AS prev_write_line
        FROM (SELECT * FROM base WHERE tx_event = 'end') e
        ASOF LEFT JOIN (SELECT source_id, conn_no, line_start
                        FROM base SEMI JOIN tx_conns USING (source_id, conn_no)
                        WHERE tx_event IS NULL) wr
          ON e.source_id = wr.source_id AND e.conn_no = wr.conn_no
         AND e.line_start > wr.line_start
    ),
    marks AS (  -- one sort of each connection's rows of a class marks each row's place:
                -- first / last of its burst, its number, and running totals of its times and
                -- of its rows in a transaction (in line order, so the same every run; logged
                -- times are whole microseconds, so a burst's difference of two totals rounds
                -- to the same 3 decimals as the sum of its own times)
        SELECT source_id, conn_no, class_no, line_start, tx_id, in_tx,
               coalesce(lag(line_start) OVER c IS NULL
                        OR epoch(ts) - lag(epoch(ts)) OVER c > ?, false) AS first_b,
               coalesce(lead(line_start) OVER c IS NULL
                        OR lead(epoch(ts)) OVER c - epoch(ts) > ?, false) AS last_b,
               row_number() OVER c AS rn,
               coalesce(duration_ms, 0) AS ms_here,
               sum(coalesce(duration_ms, 0)) OVER c AS ms_so_far,
               sum(in_tx::INTEGER) OVER c AS in_tx_so_far
        FROM (SELECT *, coalesce(last_tx = 'begin', false) OR coalesce(last_ac = 'ac_off', false)
                            AS in_tx
              FROM t WHERE tx_event IS NULL AND single_row)
        WINDOW c AS (PARTITION BY source_id, conn_no, class_no ORDER BY line_start
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    b AS (  -- the first and last row of each burst and the rows in a transaction (few: the
            -- distinct transactions are counted on them), each with its burst's number
        SELECT *, sum(first_b::INTEGER) OVER (PARTITION BY source_id, conn_no, class_no
                                              ORDER BY line_start ROWS UNBOUNDED PRECEDING)
                      AS burst
        FROM marks WHERE first_b OR last_b OR in_tx
    ),
    runs AS (
        SELECT source_id, conn_no, class_no, burst, max(rn) - min(rn) + 1 AS n,
               round(arg_max(ms_so_far, line_start)
                     - arg_min(ms_so_far - ms_here, line_start), 3) AS ms,
               arg_max(in_tx_so_far, line_start)
                   - arg_min(in_tx_so_far - in_tx::INTEGER, line_start) AS in_tx,
               count(DISTINCT tx_id) FILTER (WHERE in_tx) AS transactions,
               min(line_start) AS first_line, max(line_start) AS last_line
        FROM b GROUP BY source_id, conn_no, class_no, burst
        HAVING max(rn) - min(rn) + 1 >= ?
    ),
    bursts AS (  -- a connection's session (its pid / thread id), read for the bursts found;
                 -- the class by its id again (the sorts carried its number)
        SELECT r.* EXCLUDE (class_no), k.class_id, e.session FROM runs r
        JOIN class_kinds k ON k.class_no = r.class_no
        JOIN entries e ON e.source_id = r.source_id AND e.line_start = r.first_line
    ),
    commits AS (
        SELECT bu.source_id, bu.session, bu.conn_no, bu.class_id, bu.burst,
               count(t.line_start) AS commits,
               round(coalesce(fsum(t.duration_ms), 0), 3) AS commit_ms
        FROM bursts bu LEFT JOIN ends t
          ON t.source_id = bu.source_id AND t.conn_no = bu.conn_no
         AND t.prev_write_line BETWEEN bu.first_line AND bu.last_line
        GROUP BY ALL
    ),
    classed AS (
        SELECT bu.*, c.commits, c.commit_ms, s.dialect,
               CASE WHEN bu.in_tx * 2 < bu.n THEN 'autocommit'
                    WHEN bu.transactions * 2 >= bu.in_tx AND bu.transactions > 1
                        THEN 'commit-each'
                    ELSE 'transaction' END AS pattern
        FROM bursts bu
        JOIN commits c USING (source_id, session, conn_no, class_id, burst)
        JOIN sources s ON s.source_id = bu.source_id
    )
    SELECT class_id, dialect, count(*) AS bursts, sum(n) AS executions,
           round(fsum(ms), 3) AS total_ms, sum(commits) AS total_commits,
           round(fsum(commit_ms), 3) AS total_commit_ms,
           count(DISTINCT (source_id, session)) AS sessions,
           coalesce(sum(n) FILTER (WHERE pattern = 'autocommit'), 0) AS n_autocommit,
           coalesce(sum(n) FILTER (WHERE pattern = 'commit-each'), 0) AS n_commit_each,
           coalesce(sum(n) FILTER (WHERE pattern = 'transaction'), 0) AS n_transaction,
           arg_max({{'source_id': source_id, 'session': session, 'first_line': first_line,
                     'last_line': last_line, 'n': n, 'ms': ms, 'pattern': pattern,
                     'commits': commits, 'transactions': transactions}},
                   {{'n': n, 'ms': ms, 'src': -source_id, 'line': -first_line}})
               AS example
    FROM classed GROUP BY class_id, dialect
    ORDER BY total_ms + total_commit_ms DESC, executions DESC, class_id, dialect
    """
    params += [SINGLE_ROW_WRITE_RE, INSERT_SELECT_RE, t.row_by_row_gap_s, t.row_by_row_gap_s]
    params += [t.row_by_row_count]
    cols = (
        "class_id",
        "dialect",
        "bursts",
        "executions",
        "ms",
        "commits",
        "commit_ms",
        "sessions",
        "n_autocommit",
        "n_commit_each",
        "n_transaction",
        "example",
    )
    return [dict(zip(cols, r, strict=True)) for r in workload.con.execute(sql, params).fetchall()]


def _with_state() -> str:
    """``base`` rows with their transaction state: the rows of connections with events from
    the last event before them, the others with none."""
    return f"""
        SELECT b.*, x.last_tx, x.last_ac,
               coalesce(x.tx_no, 0)
               + CASE WHEN b.tx_event IN ('begin', 'end') THEN 1 ELSE 0 END AS tx_id
        FROM (SELECT * FROM base SEMI JOIN tx_conns USING (source_id, conn_no)) b
        ASOF LEFT JOIN ev x
          ON b.source_id = x.source_id AND b.conn_no = x.conn_no
         AND b.line_start > x.line_start
        UNION ALL BY NAME
        {_without_state("(SELECT * FROM base ANTI JOIN tx_conns USING (source_id, conn_no))")}"""


def _without_state(rows: str) -> str:
    """``rows`` of ``base`` with no transaction event before them (so none themselves)."""
    return f"""SELECT b.*, NULL::VARCHAR AS last_tx, NULL::VARCHAR AS last_ac,
               CASE WHEN b.tx_event IN ('begin', 'end') THEN 1 ELSE 0 END AS tx_id
        FROM {rows} b"""


def _has_tx_events(workload: Workload) -> bool:
    """Whether the statements include transaction events: BEGIN/COMMIT or SET autocommit (one
    scan of the connections table's ``tx_event``: a few tens of ms on 6 M rows)."""
    cte, params = connections_cte(workload)
    row = first(
        workload.con.execute(
            f"""WITH {cte}
        SELECT count(*) FILTER (WHERE tx_event IS NOT NULL) > 0
        FROM conn WHERE kind = 'query'""",
            params,
        )
    )
    return bool(row[0])


def _finding(
    workload: Workload, row: dict[str, Any], by_id: dict[str, ClassStats], paths: dict[int, str]
) -> Finding:
    class_id, dialect = row["class_id"], row["dialect"]
    c = by_id.get(class_id)
    fingerprint = c.fingerprint if c is not None else class_id
    ex = row["example"]
    path = paths.get(int(ex["source_id"]), "?")
    executions, sessions = int(row["executions"]), int(row["sessions"])
    ms, commit_ms = float(row["ms"]), float(row["commit_ms"])
    per_commit = {
        "autocommit": int(row["n_autocommit"]),
        "commit-each": int(row["n_commit_each"]),
        "transaction": int(row["n_transaction"]),
    }
    pattern = max(per_commit, key=lambda k: per_commit[k])
    committed_each = per_commit["autocommit"] + per_commit["commit-each"]
    impact = ms + commit_ms
    if committed_each * 2 >= executions:
        high = committed_each >= HIGH_COMMITS or impact >= HIGH_MS
        severity = "high" if high else "medium"
    else:
        severity = "medium" if impact >= HIGH_MS else "low"

    sample = _sample(workload, ex, class_id)
    fix = _fix(sample, dialect, pattern)
    detail = (
        f"Class {class_id} (`{short(fingerprint, 70)}`) ran {executions} times as single-row "
        f"statements in {int(row['bursts'])} burst(s) of ≥ {workload.thresholds.row_by_row_count}"
        f" in {sessions} session(s), {ms:.1f} ms"
        + (f" plus {commit_ms:.1f} ms in {int(row['commits'])} COMMIT(s)" if row["commits"] else "")
        + f"; mostly {PATTERN_TEXT[pattern]}. Executions by commit pattern: autocommit "
        f"{per_commit['autocommit']}, COMMIT after each {per_commit['commit-each']}, in few "
        f"transactions {per_commit['transaction']}."
        f" Example: {path} lines {ex['first_line']}–{ex['last_line']} (session {ex['session']},"
        f" {int(ex['n'])} executions)."
    )
    evidence = {
        "class_id": class_id,
        "executions": executions,
        "bursts": int(row["bursts"]),
        "sessions": sessions,
        "total_ms": round(ms, 3),
        "commits": int(row["commits"]),
        "commit_ms": round(commit_ms, 3),
        "commit_pattern": pattern,
        "executions_by_commit_pattern": per_commit,
        "count_threshold": workload.thresholds.row_by_row_count,
        "burst_gap_s": workload.thresholds.row_by_row_gap_s,
        "example": {
            "path": path,
            "source_id": int(ex["source_id"]),
            "session": ex["session"],
            "first_line": int(ex["first_line"]),
            "last_line": int(ex["last_line"]),
            "executions": int(ex["n"]),
            "ms": round(float(ex["ms"]), 3),
            "commit_pattern": ex["pattern"],
            "commits": int(ex["commits"]),
            "transactions": int(ex["transactions"]),
        },
    }
    verb = fingerprint.split(" ", 1)[0].upper() if fingerprint else "WRITE"
    tables = list(c.tables) if c is not None else []
    return Finding(
        rule=RULE_ID,
        severity=severity,
        title=f"Row-by-row {verb}: {executions} single-row executions of "
        f"`{short(fingerprint, 50)}`",
        detail=detail,
        fix=fix,
        impact_ms=impact,
        query_class_ids=[class_id],
        tables=tables,
        columns=_columns(sample),
        evidence=evidence,
    )


def _sample(workload: Workload, ex: dict[str, Any], class_id: str) -> exp.Expression | None:
    """The example burst's first statement, parsed (its literals never reach the fix)."""
    rows = workload.con.execute(
        "SELECT e.query, s.dialect FROM entries e JOIN sources s USING (source_id)"
        " WHERE e.source_id = ? AND e.line_start = ? AND e.class_id = ?",
        [ex["source_id"], ex["first_line"], class_id],
    ).fetchall()
    if not rows or not rows[0][0]:
        return None
    return parsing.parse_statement(rows[0][0], rows[0][1]).expression


def _columns(tree: exp.Expression | None) -> list[str]:
    if isinstance(tree, exp.Insert) and isinstance(tree.this, exp.Schema):
        return [i.name for i in tree.this.expressions if isinstance(i, exp.Identifier)]
    if isinstance(tree, exp.Update):
        sets = [s.this.name for s in tree.expressions if isinstance(s.this, exp.Column)]
        return list(dict.fromkeys([*(col.name for _eq, col, _v in equalities(tree)), *sets]))
    if isinstance(tree, exp.Delete):
        return [col.name for _eq, col, _v in equalities(tree)]
    return []


# -- the fix -------------------------------------------------------------------------------------


def _fix(tree: exp.Expression | None, dialect: str, pattern: str) -> str:
    lines: list[str] = []
    stmt = _placeholders(tree) if tree is not None else None
    if isinstance(stmt, exp.Insert):
        lines += _insert_fix(stmt, dialect)
    elif isinstance(stmt, exp.Update):
        lines += _update_fix(stmt, dialect)
    elif isinstance(stmt, exp.Delete):
        lines += _delete_fix(stmt, dialect)
    if not lines:
        lines.append("Send the rows as one set-based statement instead of one statement per row.")
    tx = (
        "One transaction for the whole loop: BEGIN … COMMIT around it (in Python: "
        "`autocommit=False` and one `commit()` at the end, or `with conn.transaction():`), "
        "committing every 1,000–10,000 rows for very large loads."
    )
    if pattern == "transaction":
        tx = "The loop already runs in few transactions; what remains is a round trip per row."
    lines.append(tx)
    return "\n".join(lines)


def _placeholders(tree: exp.Expression) -> exp.Expression:
    return placeholderize(anonymize_parameters(tree, 0))


def _insert_fix(stmt: exp.Insert, dialect: str) -> list[str]:
    values = stmt.expression
    target = stmt.this
    out: list[str] = []
    if isinstance(values, exp.Values) and len(values.expressions) == 1:
        row = values.expressions[0]
        multi = stmt.copy()
        more = exp.Tuple(expressions=[exp.column(_MORE)])
        multi.set("expression", exp.Values(expressions=[_fresh(row, 0), _fresh(row, 1), more]))
        text = render(multi, dialect).replace(f"({_MORE})", "…")
        out += [
            "Multi-row INSERT (a few hundred to a thousand rows per statement):",
            f"    {text}",
            "  drivers do this for you: psycopg 3 `executemany()` (pipelined), PyMySQL/mysqlclient"
            " `executemany()` (rewrites INSERT … VALUES into multi-row), SQLAlchemy 2 "
            "`session.execute(insert(Model), list_of_dicts)` (insertmanyvalues).",
        ]
    table = target.this if isinstance(target, exp.Schema) else target
    cols = target.expressions if isinstance(target, exp.Schema) else []
    col_sql = (
        f" ({', '.join(c.sql(parsing.sqlglot_dialect(dialect)) for c in cols)})" if cols else ""
    )
    table_sql = table.sql(parsing.sqlglot_dialect(dialect)) if table is not None else "…"
    if dialect == "postgres":
        out += [
            "Bulk load: `COPY` streams rows without a statement per row:",
            f"    COPY {table_sql}{col_sql} FROM STDIN (FORMAT csv)",
            '  psycopg 3: `with cur.copy("COPY … FROM STDIN") as copy: copy.write_row(row)`.',
        ]
    else:
        out += [
            "Bulk load from a file:",
            f"    LOAD DATA LOCAL INFILE 'rows.csv' INTO TABLE {table_sql}"
            f" FIELDS TERMINATED BY ','{col_sql}",
        ]
    return out


_MORE = "perftui_more_rows"


def _fresh(row: exp.Expression, k: int) -> exp.Expression:
    """A copy of a VALUES tuple with its own placeholders (row k), so each row gets new ``$n``."""
    out = row.copy()
    for ph in list(out.find_all(exp.Placeholder)):
        slot = ph.meta.get("slot")
        ph.replace(placeholder(None if slot is None else slot + 1_000_000 * (k + 1)))
    return out


def _update_fix(stmt: exp.Update, dialect: str) -> list[str]:
    eqs = equalities(stmt)
    sets = stmt.expressions
    if (
        len(eqs) != 1
        or not sets
        or not all(isinstance(s, exp.EQ) and isinstance(s.this, exp.Column) for s in sets)
    ):
        return [
            "Update the rows in one statement (`UPDATE … WHERE key IN (…)`, or join a list of "
            "(key, new values) rows) instead of one UPDATE per row."
        ]
    key = eqs[0][1].name
    out = [
        "Rows that get the same new values: one UPDATE for all of them:",
        f"    {render(batch_equality(stmt, 0, dialect), dialect)}",
    ]
    if not all(value_like(s.expression) for s in sets):
        return out  # SET col = col - ? and the like: per-row values would change its meaning
    table = stmt.this
    tname = table.sql(parsing.sqlglot_dialect(dialect)) if table is not None else "t"
    set_cols = [s.this.name for s in sets]
    g = parsing.sqlglot_dialect(dialect)
    key_sql = ident(key).sql(g)
    cols_sql = [ident(c).sql(g) for c in set_cols]
    if dialect == "postgres":
        nums = list(range(1, len(set_cols) + 2))
        row1 = ", ".join(f"${n}" for n in nums)
        row2 = ", ".join(f"${n + len(nums)}" for n in nums)
        assigns = ", ".join(f"{c} = v.{c}" for c in cols_sql)
        out += [
            "Rows with their own values: one UPDATE joined to a VALUES list:",
            f"    UPDATE {tname} AS t SET {assigns} FROM (VALUES ({row1}), ({row2}), …)"
            f" AS v({key_sql}, {', '.join(cols_sql)}) WHERE t.{key_sql} = v.{key_sql}",
        ]
    else:
        first = ", ".join([f"? AS {key_sql}", *(f"? AS {c}" for c in cols_sql)])
        nxt = ", ".join(["?"] * (len(set_cols) + 1))
        assigns = ", ".join(f"t.{c} = v.{c}" for c in cols_sql)
        out += [
            "Rows with their own values: one UPDATE joined to the list of rows:",
            f"    UPDATE {tname} AS t JOIN (SELECT {first} UNION ALL SELECT {nxt} …) AS v"
            f" ON t.{key_sql} = v.{key_sql} SET {assigns}",
        ]
    return out


def _delete_fix(stmt: exp.Delete, dialect: str) -> list[str]:
    eqs = equalities(stmt)
    if not eqs:
        return ["Delete the rows in one statement (`DELETE … WHERE key IN (…)`)."]
    return [
        "One DELETE for all the rows:",
        f"    {render(batch_equality(stmt, 0, dialect), dialect)}",
    ]
