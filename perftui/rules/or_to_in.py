"""or-to-in: ``col = a OR col = b [OR …]`` on one column (soar ARG.008, sqlcheck 3014).

An OR chain is planned term by term (MySQL often gives up on the index and scans; PostgreSQL
builds a BitmapOr of one index scan per term), while ``col IN (a, b, …)`` is one predicate: one
index range lookup, one ``= ANY`` array. ORs over different columns are a different problem and
are left alone. The fix is the class's statement rewritten with ``IN``, placeholders for values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlglot import exp

from perftui.rules import sqltext
from perftui.rules.base import Finding, Workload

RULE_ID = "or-to-in"


def _top_or(node: exp.Or) -> bool:
    """Whether ``node`` starts an OR chain (its nearest non-paren ancestor is not an OR)."""
    parent = node.parent
    while isinstance(parent, exp.Paren):
        parent = parent.parent
    return not isinstance(parent, exp.Or)


def _term(term: exp.Expression) -> tuple[exp.Column, list[exp.Expression]] | None:
    """``col = v`` / ``v = col`` / ``col IN (v, …)`` → (col, values); else None."""
    term = term.unnest()
    if isinstance(term, exp.EQ):
        for col, val in ((term.this, term.expression), (term.expression, term.this)):
            if sqltext.column_name(col) and sqltext.value_like(val):
                return col, [val]
    if (
        isinstance(term, exp.In)
        and not term.args.get("query")
        and sqltext.column_name(term.this)
        and term.expressions
        and all(sqltext.value_like(v) for v in term.expressions)
    ):
        return term.this, list(term.expressions)
    return None


def same_column_chains(tree: exp.Expression) -> Iterator[tuple[exp.Or, exp.Column, list]]:
    """OR chains in WHERE / JOIN ON whose every term compares the same column with a value.

    >>> t = exp.maybe_parse("SELECT 1 FROM t WHERE a = 1 OR a = 2 OR a IN (3, 4)")
    >>> [(col.sql(), len(vals)) for _, col, vals in same_column_chains(t)]
    [('a', 4)]
    >>> list(same_column_chains(exp.maybe_parse("SELECT 1 FROM t WHERE a = 1 OR b = 2")))
    []
    """
    for root in sqltext.condition_roots(tree):
        for node in sqltext.walk_condition(root):
            if not isinstance(node, exp.Or) or not _top_or(node):
                continue
            terms = [_term(t) for t in node.flatten()]
            if len(terms) < 2 or any(t is None for t in terms):
                continue
            keys = {t[0].sql().lower() for t in terms if t}
            if len(keys) == 1:
                yield node, terms[0][0], [v for t in terms if t for v in t[1]]


def detect(workload: Workload) -> Iterable[Finding]:
    for c in workload.classes:
        tree = workload.parsed(c).expression
        if tree is None or tree.find(exp.Or) is None:
            continue
        work = sqltext.placeholderize(tree)
        chains = list(same_column_chains(work))
        if not chains:
            continue
        columns, tables, alternatives = [], [], []
        for node, col, values in chains:
            table = sqltext.table_of(col, workload.schema)
            columns.append(col.name)
            if table is not None:
                tables.append(sqltext.table_name(table))
            alternatives.append(len(values))
            node.replace(exp.In(this=col.copy(), expressions=[v.copy() for v in values]))
        columns = list(dict.fromkeys(columns))
        yield Finding(
            rule=RULE_ID,
            severity=sqltext.time_severity(c.total_ms, workload, cap="medium"),
            title=f"OR chain on {', '.join(columns)} should be IN (…)",
            detail=(
                f"{' / '.join(map(str, alternatives))} OR-ed equalities on"
                f" {', '.join(columns)} in {sqltext.describe(c)} (soar ARG.008): one IN list is"
                " one index lookup instead of one per OR term."
            ),
            fix=(
                f"{sqltext.render(work, c.dialect)}\n-- Same result, written as one IN list;"
                " pass the values as one list parameter from the code."
            ),
            impact_ms=c.total_ms,
            query_class_ids=[c.class_id],
            tables=list(dict.fromkeys(tables)),
            columns=columns,
            evidence={
                "executions": c.count,
                "total_ms": c.total_ms,
                "p95_ms": c.p95_ms,
                "alternatives": alternatives,
            },
        )
