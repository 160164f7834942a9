"""What the sequence rules share: statement kinds by fingerprint, and entries per connection.

n-plus-one, row-by-row-write and connection-churn all reason about what one connection did, in
order. They do it in DuckDB with window functions over ``PARTITION BY source_id, session`` (a log
may hold tens of millions of entries); Python only sees aggregated rows. Fingerprints are lower
case with comments stripped, so statement kinds are cheap RE2 matches on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import duckdb
from sqlglot import exp

from perftui.rules import sqltext
from perftui.store.connections import IS_END, NUMBERED_KINDS

if TYPE_CHECKING:
    from perftui.rules.base import Finding, Workload
    from perftui.store.queries import ClassStats

# A sequence rule's row -> finding, given the classes by id and the sources' paths.
FindingMaker = Callable[
    ["Workload", dict[str, Any], dict[str, "ClassStats"], dict[int, str]], "Finding"
]

# Transaction control and session setup: they neither break nor extend a run of statements.
CONTROL_RE = (
    r"^(begin|start transaction|commit|rollback|end|abort|savepoint|release|set|use|reset"
    r"|discard|deallocate|show|lock tables|unlock tables|xa)\b"
)
TX_BEGIN_RE = r"^(begin|start transaction)\b"
# ROLLBACK TO SAVEPOINT does not end the transaction; RE2 has no look-ahead, hence the shape.
TX_END_RE = r"^(commit|end|abort)\b|^rollback( work| transaction)?$"
# Applied to the statement text (the fingerprint hides the value).
AUTOCOMMIT_OFF_RE = r"(?i)^\s*set\s+(session\s+|@@session\.|@@)?autocommit\s*=\s*'?(0|off|false)\b"
SELECT_RE = r"^\(*\s*(select|with)\b"
# Statements that change rows (and so must invalidate whatever caches their tables).
WRITE_RE = r"^(insert|update|delete|replace|merge|upsert|truncate|copy\s+\S+.*\bfrom\b|load data)\b"
SINGLE_ROW_WRITE_RE = r"^(insert|replace|update|delete)\b"


def connections_cte(workload: Workload) -> tuple[str, list]:
    """CTEs for ``WITH …`` ending in ``conn``: the entries a sequence rule reads, with what it
    needs to know of their statements.

    Columns: source_id, session, conn_no (``store.connections``: numbered when stored, since a
    pid or thread id can be reused), line_start, kind, ts, duration_ms, class_id, class_no (a
    number per class, ``class_kinds`` maps it back: a window that sorts millions of rows
    carries an integer faster than the 16-character id; a class id missing from query_classes,
    which ingest never leaves, gets a negative number from its hash), is_insert,
    values_rows, rows_affected, is_control (transaction control / session setup), tx_event
    ('begin', 'end', 'ac_off', 'ac_on' or NULL), is_end (the entry closes its connection).

    Each rule scans the entries itself rather than sharing a materialised copy: the scan is
    cheap now that connections are numbered when stored, and each rule's filters reach it
    (row-by-row reads only writes and transaction events). On 5.9 M PostgreSQL entries the three
    rules took 7.0 s this way and 8.4 s with the copy (3.3 s and 3.9 s on 3.4 M MariaDB entries).
    """
    wsql, wparams = workload.window.where("e")
    # Statement kinds are properties of a class: match the regexes once per class (thousands),
    # not once per entry (millions). CASE reads lower(query) of admin entries only.
    sql = f"""
    class_kinds AS (
        SELECT class_id, row_number() OVER (ORDER BY class_id) AS class_no,
               regexp_matches(fingerprint, ?) AS control,
               starts_with(fingerprint, 'insert') OR starts_with(fingerprint, 'replace')
                   AS is_insert,
               CASE WHEN regexp_matches(fingerprint, ?) THEN 'begin'
                    WHEN regexp_matches(fingerprint, ?) THEN 'end'
                    WHEN fingerprint LIKE 'set%autocommit%' THEN 'autocommit' END AS tx
        FROM query_classes
    ),
    conn AS (
        SELECT e.source_id, e.session, e.conn_no, e.line_start, e.kind, e.ts, e.duration_ms,
               e.class_id,
               CASE WHEN c.class_no IS NOT NULL OR e.class_id IS NULL THEN c.class_no
                    ELSE -1 - (hash(e.class_id) >> 2)::BIGINT END AS class_no,
               e.values_rows, e.rows_affected,
               coalesce(c.is_insert, false) AS is_insert,
               coalesce(e.kind = 'query' AND c.control, false) AS is_control,
               CASE WHEN e.kind <> 'query' OR c.tx IS NULL THEN NULL
                    WHEN c.tx <> 'autocommit' THEN c.tx
                    WHEN regexp_matches(e.query, ?) THEN 'ac_off'
                    ELSE 'ac_on' END AS tx_event,
               {IS_END} AS is_end
        FROM entries e LEFT JOIN class_kinds c ON c.class_id = e.class_id
        WHERE {NUMBERED_KINDS} {wsql}
    )"""
    return sql, [CONTROL_RE, TX_BEGIN_RE, TX_END_RE, AUTOCOMMIT_OFF_RE, *wparams]


def short(fingerprint: str | None, width: int = 70) -> str:
    """A fingerprint cut for a one-line title (fingerprints carry no literals)."""
    text = " ".join((fingerprint or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def source_paths(con: duckdb.DuckDBPyConnection, source_ids: Iterable[int]) -> dict[int, str]:
    """source_id -> path, for evidence that points at lines in a file."""
    ids = sorted({int(s) for s in source_ids})
    if not ids:
        return {}
    rows = con.execute(
        "SELECT source_id, path FROM sources WHERE source_id IN (SELECT unnest(?::INTEGER[]))",
        [ids],
    ).fetchall()
    return {int(r[0]): r[1] for r in rows}


def example_findings(
    workload: Workload, rows: list[dict[str, Any]], make: FindingMaker
) -> Iterator[Finding]:
    """One finding per row of a sequence rule whose rows name an example run (``source_id``):
    the paths of the example logs are read once for all of them."""
    if not rows:
        return
    paths = source_paths(workload.con, (r["example"]["source_id"] for r in rows))
    by_id = workload.by_id
    for row in rows:
        yield make(workload, row, by_id, paths)


def unique(items: Iterable[str]) -> list[str]:
    """Order-preserving de-duplication (tables/classes gathered from several places)."""
    return list(dict.fromkeys(i for i in items if i))


# -- fix SQL (placeholders and rendering come from ``sqltext``) ------------------------------


def equalities(tree: exp.Expression) -> list[tuple[exp.EQ, exp.Column, exp.Expression]]:
    """``column = value`` conjuncts of the statement's own WHERE, in reading order, each as
    (predicate, column, value). Only top-level ANDed terms: one under an OR cannot be batched."""
    where = tree.args.get("where")
    if where is None or where.this is None:
        return []
    out = []
    for node in _conjuncts(where.this):
        if not isinstance(node, exp.EQ):
            continue
        a, b = node.this, node.expression
        if sqltext.column_name(a) and sqltext.value_like(b):
            out.append((node, a, b))
        elif sqltext.column_name(b) and sqltext.value_like(a):
            out.append((node, b, a))
    return out


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    """ANDed terms in reading order (iterative: long AND chains are deep trees)."""
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, exp.And):
            stack += [n.expression, n.this]
        elif isinstance(n, exp.Paren):
            stack.append(n.this)
        else:
            out.append(n)
    return out


def batch_equality(tree: exp.Expression, index: int, dialect: str) -> exp.Expression:
    """A copy of a placeholderized statement whose ``index``-th equality takes a list of values:
    ``col = ANY($n)`` (PostgreSQL: one array parameter) or ``col IN (?)`` (MySQL)."""
    out = tree.copy()
    eq, col, value = equalities(out)[index]
    if dialect == "postgres":
        rhs: exp.Expression = exp.Any(this=exp.Paren(this=value.copy()))
        eq.replace(exp.EQ(this=col.copy(), expression=rhs))
    else:
        eq.replace(exp.In(this=col.copy(), expressions=[sqltext.placeholder()]))
    return out


def anonymize_parameters(tree: exp.Expression, slot_base: int) -> exp.Expression:
    """A copy whose ``$n`` parameters are anonymous placeholders (same ``n``, same slot), so it
    can be combined with another statement's own ``$n`` and renumbered by ``sqltext.render``."""
    out = tree.copy()
    for p in list(out.find_all(exp.Parameter)):
        if isinstance(p.this, exp.Literal) and str(p.this.this).isdigit():
            p.replace(sqltext.placeholder(slot_base + int(p.this.this)))
    return out
