"""n-plus-one: one query, then the same SELECT once per row it returned, in one session.

Sentry's detector (count ≥ 5, together ≥ 50 ms, after a different "source" query) translated to
logs: spans become entries of one connection in log order. Transaction control and session setup
(BEGIN, COMMIT, SET…) neither break nor extend a run, since ORMs wrap each lazy load in them.
Runs are found in DuckDB by run-length grouping (a running sum over "class changed"), never by
walking entries in Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlglot import exp

from perftui.rules import parsing
from perftui.rules.base import Finding, Workload
from perftui.rules.sessions import (
    SELECT_RE,
    anonymize_parameters,
    batch_equality,
    connections_cte,
    equalities,
    example_findings,
    short,
    unique,
)
from perftui.rules.sqltext import parse_pg_params, placeholderize, render
from perftui.store.queries import ClassStats

RULE_ID = "n-plus-one"

HIGH_MS = 1000.0  # total time in the runs from which the finding is "high"
SAMPLE_EXECUTIONS = 8  # statements of the example run read to find the looped column


def detect(workload: Workload) -> Iterator[Finding]:
    """One finding per (source class, repeated class, dialect), with a generated batch query."""
    yield from example_findings(workload, _pairs(workload), _finding)


def _pairs(workload: Workload) -> list[dict[str, Any]]:
    """Qualifying runs grouped per (source class, repeated class), biggest time first.

    Times are rounded to 3 decimals and summed in a fixed order (a run's: the difference of two
    running totals in line order; the groups': ``fsum``): a plain float ``sum`` depends on the
    order rows reach it (which the engine does not fix), and the example run is the ``arg_max``
    of (executions, ms, then the earliest source and line), so an order-dependent last bit could
    pick another run. Fixed-order, rounded sums make the key, and so the report, the same run
    to run."""
    t = workload.thresholds
    cte, params = connections_cte(workload)
    sql = f"""
    WITH {cte},
    marks AS (  -- runs are islands: consecutive rows of one class in one connection. One sort
                -- per connection marks each row's place: first / last of its run, its number,
                -- and the running total of its connection's times (in line order, so the same
                -- every run; logged times are whole microseconds, so a run's difference of two
                -- totals rounds to the same 3 decimals as the sum of its own times). Classes by
                -- number (the sort carries an integer; MariaDB 1 GB: 0.39 -> 0.22 s).
        SELECT source_id, conn_no, line_start, class_no,
               class_no IS DISTINCT FROM lag(class_no) OVER c AS first_of_run,
               class_no IS DISTINCT FROM lead(class_no) OVER c AS last_of_run,
               row_number() OVER c AS rn,
               coalesce(duration_ms, 0) AS ms_here,
               sum(coalesce(duration_ms, 0)) OVER c AS ms_so_far
        FROM conn
        WHERE kind = 'query' AND class_id IS NOT NULL AND NOT is_control
        WINDOW c AS (PARTITION BY source_id, conn_no ORDER BY line_start
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    ends AS (  -- only the first and last rows of runs: a run's first row is followed by its
               -- last (unless it is both), and preceded by the last row of the run before it
        SELECT source_id, conn_no, class_no, first_of_run, line_start AS first_line, rn,
               ms_so_far - ms_here AS ms_before,
               CASE WHEN last_of_run THEN line_start ELSE lead(line_start) OVER e END
                   AS last_line,
               CASE WHEN last_of_run THEN rn ELSE lead(rn) OVER e END AS last_rn,
               CASE WHEN last_of_run THEN ms_so_far ELSE lead(ms_so_far) OVER e END AS ms_to,
               lag(line_start) OVER e AS source_line
        FROM marks WHERE first_of_run OR last_of_run
        WINDOW e AS (PARTITION BY source_id, conn_no ORDER BY line_start)
    ),
    seq AS (
        SELECT source_id, conn_no, class_no, last_rn - rn + 1 AS n,
               round(ms_to - ms_before, 3) AS ms, first_line, last_line, source_line
        FROM ends WHERE first_of_run
    ),
    found AS (
        SELECT seq.* EXCLUDE (class_no), k.class_id, s.dialect
        FROM seq
        JOIN class_kinds k ON k.class_no = seq.class_no
        JOIN query_classes c ON c.class_id = k.class_id
        JOIN sources s ON s.source_id = seq.source_id
        WHERE seq.source_line IS NOT NULL AND seq.n >= ? AND (seq.ms >= ? OR seq.n >= ?)
          AND regexp_matches(c.fingerprint, ?)
    ),
    hits AS (  -- the connection's session (its pid / thread id) and the source run's class
               -- (that of its last row), read for the runs found only
        SELECT f.*, e.session, src.class_id AS source_class FROM found f
        JOIN entries e ON e.source_id = f.source_id AND e.line_start = f.first_line
        JOIN entries src ON src.source_id = f.source_id AND src.line_start = f.source_line
    )
    SELECT source_class, class_id, dialect, count(*) AS runs, sum(n) AS executions,
           avg(n) AS mean_n, max(n) AS max_n, round(fsum(ms), 3) AS total_ms,
           count(DISTINCT (source_id, session)) AS sessions,
           count(*) FILTER (WHERE ms >= ?) AS timed_runs,
           arg_max({{'source_id': source_id, 'session': session, 'first_line': first_line,
                     'last_line': last_line, 'source_line': source_line, 'n': n, 'ms': ms}},
                   {{'n': n, 'ms': ms, 'src': -source_id, 'line': -first_line}}) AS example
    FROM hits GROUP BY source_class, class_id, dialect
    ORDER BY total_ms DESC, executions DESC, class_id, source_class, dialect
    """
    params += [t.n_plus_one_count, t.n_plus_one_ms, t.n_plus_one_fast_count, SELECT_RE]
    params += [t.n_plus_one_ms]
    cols = (
        "source_class",
        "class_id",
        "dialect",
        "runs",
        "executions",
        "mean_n",
        "max_n",
        "total_ms",
        "sessions",
        "timed_runs",
        "example",
    )
    return [dict(zip(cols, r, strict=True)) for r in workload.con.execute(sql, params).fetchall()]


def _finding(
    workload: Workload, row: dict[str, Any], by_id: dict[str, ClassStats], paths: dict[int, str]
) -> Finding:
    t = workload.thresholds
    src_id, rep_id = row["source_class"], row["class_id"]
    src, rep = by_id.get(src_id), by_id.get(rep_id)
    ex = row["example"]
    path = paths.get(int(ex["source_id"]), "?")
    dialect = row["dialect"]
    rep_rows, src_text = _example_statements(workload, ex, rep_id)
    fix_sql, column = _fix_sql(rep_rows, src_text, dialect)

    timed = int(row["timed_runs"]) > 0
    total_ms = float(row["total_ms"])
    severity = "high" if total_ms >= HIGH_MS else ("medium" if timed else "low")
    rep_fp = rep.fingerprint if rep is not None else rep_id
    src_fp = src.fingerprint if src is not None else src_id
    runs, executions, sessions = int(row["runs"]), int(row["executions"]), int(row["sessions"])
    detail = (
        f"After class {src_id} (`{short(src_fp, 60)}`), class {rep_id} (`{short(rep_fp, 60)}`) "
        f"formed {runs} run(s) of ≥ {t.n_plus_one_count} consecutive executions in "
        f"{sessions} session(s): {executions} executions (mean {float(row['mean_n']):.1f} per "
        f"run, longest {int(row['max_n'])}), {total_ms:.1f} ms in the runs. Example: {path} "
        f"lines {ex['first_line']}–{ex['last_line']} (session {ex['session']}), right after the "
        f"source query on line {ex['source_line']}."
    )
    if not timed:
        detail += (
            f" No run reached the {t.n_plus_one_ms:g} ms time threshold, but each has "
            f"≥ {t.n_plus_one_fast_count} executions: N+1s are often fast per query, and the"
            " round trips add up under load."
        )
    tables = unique([*(rep.tables if rep else []), *(src.tables if src else [])])
    evidence = {
        "source_class_id": src_id,
        "repeated_class_id": rep_id,
        "runs": runs,
        "executions": executions,
        "mean_run_length": round(float(row["mean_n"]), 2),
        "max_run_length": int(row["max_n"]),
        "total_ms": round(total_ms, 3),
        "sessions": sessions,
        "runs_meeting_time_threshold": int(row["timed_runs"]),
        "time_threshold_met": timed,
        "count_threshold": t.n_plus_one_count,
        "time_threshold_ms": t.n_plus_one_ms,
        "looped_column": column,
        "example": {
            "path": path,
            "source_id": int(ex["source_id"]),
            "session": ex["session"],
            "source_line": int(ex["source_line"]),
            "first_line": int(ex["first_line"]),
            "last_line": int(ex["last_line"]),
            "executions": int(ex["n"]),
            "ms": round(float(ex["ms"]), 3),
        },
    }
    return Finding(
        rule=RULE_ID,
        severity=severity,
        title=f"N+1: `{short(rep_fp, 50)}` once per row of `{short(src_fp, 40)}`",
        detail=detail,
        fix=_fix_text(fix_sql, column, dialect, rep_fp),
        impact_ms=total_ms,
        query_class_ids=[src_id, rep_id],
        tables=tables,
        columns=[column] if column else [],
        evidence=evidence,
    )


def _example_statements(
    workload: Workload, ex: dict[str, Any], rep_id: str
) -> tuple[list[tuple[str, str | None]], str | None]:
    """Statements (text, PG parameters) of the example run and the source statement's text."""
    con = workload.con
    rows = con.execute(
        "SELECT query, params FROM entries WHERE source_id = ? AND session IS NOT DISTINCT FROM ?"
        " AND kind = 'query' AND class_id = ? AND line_start BETWEEN ? AND ?"
        " ORDER BY line_start LIMIT ?",
        [
            ex["source_id"],
            ex["session"],
            rep_id,
            ex["first_line"],
            ex["last_line"],
            SAMPLE_EXECUTIONS,
        ],
    ).fetchall()
    src = con.execute(
        "SELECT query FROM entries WHERE source_id = ? AND line_start = ? AND kind = 'query'",
        [ex["source_id"], ex["source_line"]],
    ).fetchall()
    return [(r[0], r[1]) for r in rows if r[0]], (src[0][0] if src else None)


# -- the fix -------------------------------------------------------------------------------------


def _looped_index(trees: list[exp.Expression], params: list[str | None]) -> int | None:
    """Which equality carries the per-row value: the one whose value changes along the run."""
    eqs = [equalities(tr) for tr in trees]
    first = eqs[0]
    if not first:
        return None
    for i in range(len(first)):
        values = {e[i][2].sql() for e in eqs if len(e) > i}
        if len(values) > 1:
            return i
    varying = set()
    values = [parse_pg_params(p) for p in params]
    for key in {k for v in values for k in v}:
        if len({v.get(key) for v in values}) > 1:
            varying.add(key)
    for i, (_eq, _col, value) in enumerate(first):
        if (
            isinstance(value, exp.Parameter)
            and str(value.this.this).isdigit()
            and int(value.this.this) in varying
        ):
            return i
    for i, (_eq, _col, value) in enumerate(first):
        if isinstance(value, (exp.Parameter, exp.Placeholder)):
            return i
    return 0


def _fix_sql(
    rep_rows: list[tuple[str, str | None]], src_text: str | None, dialect: str
) -> tuple[list[str], str | None]:
    """The repeated statement with its looped equality as ``IN (…)`` / ``= ANY(…)``, and the
    same folded into the source query with a JOIN when their shapes allow it."""
    trees, params = [], []
    for text, p in rep_rows:
        parsed = parsing.parse_statement(text, dialect).expression
        if isinstance(parsed, exp.Select):
            trees.append(parsed)
            params.append(p)
    if not trees:
        return [], None
    idx = _looped_index(trees, params)
    if idx is None:
        return [], None
    rep = _placeholders(trees[0], 0)
    column = equalities(rep)[idx][1].name
    out = [render(batch_equality(rep, idx, dialect), dialect)]
    joined = _join_form(rep, idx, src_text, dialect)
    if joined:
        out.append(joined)
    return out, column


def _placeholders(tree: exp.Expression, slot_base: int) -> exp.Expression:
    """Literals and the log's own ``$n`` as anonymous placeholders (``sqltext.render`` numbers
    them); ``$n`` first, since ``placeholderize`` would also replace the ``n`` inside ``$n``."""
    return placeholderize(anonymize_parameters(tree, slot_base))


def _join_form(rep: exp.Select, idx: int, src_text: str | None, dialect: str) -> str | None:
    """``repeated JOIN (source) ON looped column = source column``, for the common shape:
    both single-table SELECTs and the looped column named after a column the source returns
    (``user_id`` ← ``users.id``)."""
    if not src_text:
        return None
    src = parsing.parse_statement(src_text, dialect).expression
    if not (isinstance(src, exp.Select) and _single_table(src) and _single_table(rep)):
        return None
    if rep.args.get("limit") or rep.args.get("group") or rep.args.get("distinct"):
        return None
    src_table = _from(src).this
    rep_table = _from(rep).this
    eqs = equalities(rep)
    if idx >= len(eqs):
        return None
    col = eqs[idx][1]
    looped = col.name.lower()
    singular = src_table.name.lower().removesuffix("s")
    source_col = None
    for proj in src.expressions:
        name = proj.alias_or_name.lower()
        if name and looped in (name, f"{singular}_{name}", f"{src_table.name.lower()}_{name}"):
            source_col = proj.alias_or_name
            break
    if source_col is None:
        return None
    sub = _placeholders(src, 1_000_000)
    sub.set("expressions", [exp.column(source_col)])
    out = rep.copy()
    qualifier = rep_table.alias_or_name
    for c in out.find_all(exp.Column):
        if not c.table:
            c.set("table", exp.to_identifier(qualifier))
    out_eq = equalities(out)[idx][0]
    _drop_predicate(out, out_eq)
    out = out.join(
        exp.Subquery(this=sub, alias=exp.TableAlias(this=exp.to_identifier("src"))),
        on=exp.EQ(
            this=exp.column(col.name, table=qualifier),
            expression=exp.column(source_col, table="src"),
        ),
    )
    return render(out, dialect)


def _from(select: exp.Select) -> exp.From | None:
    """The FROM clause (sqlglot ≥ 28 stores it as ``from_``)."""
    return select.args.get("from_") or select.args.get("from")


def _single_table(select: exp.Select) -> bool:
    frm = _from(select)
    return (
        frm is not None
        and isinstance(frm.this, exp.Table)
        and not select.args.get("joins")
        and not select.args.get("with")
    )


def _drop_predicate(select: exp.Select, eq: exp.Expression) -> None:
    """Remove one conjunct from WHERE (the join condition replaces it)."""
    parent = eq.parent
    if isinstance(parent, exp.Where):
        select.set("where", None)
    elif isinstance(parent, exp.And):
        other = parent.expression if parent.this is eq else parent.this
        parent.replace(other)
    elif isinstance(parent, exp.Paren):
        _drop_predicate(select, parent)


def _fix_text(sql: list[str], column: str | None, dialect: str, fingerprint: str) -> str:
    orm = (
        "ORM: load the children with the parents — SQLAlchemy `selectinload(Parent.children)` "
        "(emits exactly the IN form) or `joinedload(...)` for to-one relations; Django "
        '`prefetch_related("children")` for to-many, `select_related("parent")` for to-one.'
    )
    if not sql:
        return (
            f"Fetch the rows of `{short(fingerprint, 60)}` for all parent rows in one statement "
            "(`JOIN` the source query, or `WHERE key IN (…)`) instead of one statement per row.\n"
            + orm
        )
    if dialect == "postgres":
        how = f"pass the {column} values of all parent rows as one array parameter"
    else:
        how = f"one `?` per {column} value of the parent rows, or the driver's list expansion"
    lines = [
        f"One statement for all parent rows instead of one per row ({how}):",
        f"    {sql[0]}",
    ]
    if len(sql) > 1:
        lines += ["or fold it into the source query (one round trip):", f"    {sql[1]}"]
    lines.append(orm)
    return "\n".join(lines)
