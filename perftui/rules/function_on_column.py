"""function-on-column: a function or cast wrapped around a column in a WHERE / JOIN predicate
(soar FUN.001): ``lower(email) = ?``, ``date(created_at) = ?``, ``created_at::date = ?``…

An index on the column stores the column's values, not the function's, so the predicate cannot
use it and every row is computed and compared. Fixes, in the log's dialect:

* PostgreSQL: an expression index (``CREATE INDEX ON users((lower(email)))``);
* MySQL 8.0.13+: a functional index (same shape, named); MariaDB has none, so a VIRTUAL
  generated column with an index, and the statement rewritten to compare that column;
* a day truncation compared for equality (``date()``, ``::date``, ``date_trunc('day', …)``):
  the sargable range ``col >= ? AND col < ? + INTERVAL '1 day'`` that a plain index serves.

``evidence["expression"]`` is the indexed expression as PostgreSQL prints it (``lower(email)``),
for index verification. A predicate whose column cannot be tied to one table is skipped (there is
no table to put the index on).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlglot import exp

from perftui.rules import sqltext
from perftui.rules.base import Finding, Workload
from perftui.store.queries import ClassStats

RULE_ID = "function-on-column"
_COMPARISONS = (
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.NullSafeEQ,
    exp.Like,
    exp.ILike,
    exp.In,
    exp.Between,
)
_NUMERIC_PARTS = (exp.Year, exp.Month, exp.Day, exp.Extract)


@dataclass
class _Hit:
    table: exp.Table
    column: str
    fn: exp.Expression  # the function node (in the placeholderized statement)
    expression: str
    classes: list[ClassStats] = field(default_factory=list)
    rewrites: list[str] = field(default_factory=list)  # sargable statements, one per class
    sargable: bool = False


def wrapped_columns(tree: exp.Expression) -> Iterable[tuple[exp.Expression, exp.Column]]:
    """(function, column) for each function/cast over exactly one column compared in a predicate.

    >>> t = exp.maybe_parse("SELECT 1 FROM u WHERE lower(email) = 'x' AND id = lower('Y')")
    >>> [(f.sql(), c.sql()) for f, c in wrapped_columns(t)]
    [('LOWER(email)', 'email')]
    """
    for pred in sqltext.predicates(tree, _COMPARISONS):
        sides = [pred.this]
        if not isinstance(pred, exp.In | exp.Between):
            sides.append(pred.expression)
        for side in sides:
            fn = side.unnest() if side is not None else None
            if not isinstance(fn, exp.Func) or isinstance(fn, exp.AggFunc | exp.Predicate):
                continue
            col = sqltext.sole_column(fn)
            if col is not None:
                yield fn, col


def is_day_truncation(fn: exp.Expression) -> bool:
    """``date(x)``, ``x::date``, ``date_trunc('day', x)``: equality on these is a day range.

    >>> is_day_truncation(exp.maybe_parse("created_at::date", dialect="postgres"))
    True
    """
    if isinstance(fn, exp.Cast):
        return fn.to.is_type(exp.DataType.Type.DATE)
    if isinstance(fn, exp.TsOrDsToDate | exp.Date):
        return True
    if isinstance(fn, exp.TimestampTrunc | exp.DateTrunc):
        unit = fn.args.get("unit")
        return unit is not None and unit.name.upper() == "DAY"
    return False


def _sargable(fn: exp.Expression, col: exp.Column) -> bool:
    """Rewrite ``day(col) = v`` in place as ``col >= v AND col < v + INTERVAL '1 day'``."""
    pred = fn.parent
    while isinstance(pred, exp.Paren):
        pred = pred.parent
    if not is_day_truncation(fn) or not isinstance(pred, exp.EQ):
        return False
    value = pred.expression if pred.this.unnest() is fn else pred.this
    if not sqltext.value_like(value):
        return False
    day = exp.Interval(this=exp.Literal.string("1"), unit=exp.Var(this="DAY"))
    start, end = sqltext.placeholder(slot=1), sqltext.placeholder(slot=1)
    rng: exp.Expression = exp.and_(
        exp.GTE(this=col.copy(), expression=start),
        exp.LT(this=col.copy(), expression=exp.Add(this=end, expression=day)),
    )
    if not isinstance(pred.parent, exp.Where | exp.And):
        rng = exp.Paren(this=rng)
    pred.replace(rng)
    return True


def _compare_column(hit: _Hit, workload: Workload, column: exp.Identifier) -> list[str]:
    """Each class's statement (up to 3) comparing ``column`` where it had the expression."""
    out: list[str] = []
    for c in hit.classes[:3]:
        work = sqltext.placeholderize(workload.parsed(c).expression)  # parsed: never None here
        for fn, col in list(wrapped_columns(work)):
            if sqltext.expression_sql(fn, c.dialect) == hit.expression:
                fn.replace(exp.column(column.copy(), table=col.args.get("table")))
        out.append(sqltext.render(work, c.dialect) + ";")
    return out


def _mysql_fix(hit: _Hit, workload: Workload, dialect: str) -> list[str]:
    """Functional index (MySQL 8.0.13+) and/or generated column + index (MariaDB, MySQL 5.7)."""
    flavor = sqltext.mysql_flavor(workload, hit.classes[0].class_id)
    fn_name = re.match(r"\w+", hit.expression)
    name = fn_name.group(0).lower() if fn_name else "expr"
    parts: list[str] = []
    if isinstance(hit.fn, exp.Lower | exp.Upper):
        parts.append(
            f"-- With a case-insensitive collation (the *_ci default) {hit.column} = ? already"
            f" ignores case and can use an index on {hit.column}: dropping {name}() may be enough"
        )
    if flavor != "mariadb":
        index = sqltext.create_index(
            hit.table,
            [hit.fn],
            dialect,
            name=sqltext.index_name(sqltext.table_name(hit.table), name, hit.column),
        )
        parts.append(f"-- MySQL 8.0.13+: a functional index\n{index}")
    if flavor != "mysql":
        if isinstance(hit.fn, exp.Cast):
            type_sql = hit.fn.to.sql(dialect=sqltext.glot(dialect))
        elif is_day_truncation(hit.fn):
            type_sql = "DATE"
        elif isinstance(hit.fn, _NUMERIC_PARTS):
            type_sql = "INT"
        else:
            type_sql = "VARCHAR(255)"
        gen_col = sqltext.ident(f"{hit.column}_{name}"[: sqltext.MAX_IDENT])
        alter = sqltext.add_generated_column(hit.table, gen_col, type_sql, hit.fn, dialect)
        statements = "\n".join(_compare_column(hit, workload, gen_col))
        parts.append(
            "-- MariaDB (no functional indexes): an indexed VIRTUAL generated column (match its"
            f" type to {hit.column}'s), and the statement comparing that column\n"
            f"{alter}\n{statements}"
        )
    return parts


def _fix(hit: _Hit, workload: Workload, dialect: str) -> str:
    parts: list[str] = []
    if hit.sargable:
        plain = sqltext.create_index(
            hit.table,
            [exp.column(sqltext.ident(hit.column))],
            dialect,
            name=None
            if dialect == "postgres"
            else sqltext.index_name(sqltext.table_name(hit.table), hit.column),
        )
        parts.append(
            "-- Best: compare the column itself with a day range (bind the same day to both"
            f" placeholders); an index on {hit.column} then serves it\n"
            + ";\n".join(hit.rewrites[:3])
            + f";\n{plain}"
        )
    if dialect == "postgres":
        index = sqltext.create_index(hit.table, [hit.fn], dialect)
        parts.append(f"-- An expression index matching the predicate as written\n{index}")
    else:
        parts += _mysql_fix(hit, workload, dialect)
    return "\n".join(parts)


def detect(workload: Workload) -> Iterable[Finding]:
    hits: dict[tuple[str, str, str], _Hit] = {}
    for c in workload.classes:
        tree = workload.parsed(c).expression
        if tree is None or next(iter(wrapped_columns(tree)), None) is None:
            continue
        work = sqltext.placeholderize(tree)
        rewritten: set[tuple[str, str, str]] = set()
        for fn, col in list(wrapped_columns(work)):
            table = sqltext.table_of(col, workload.schema)
            if table is None:
                continue
            expression = sqltext.expression_sql(fn, c.dialect)
            key = (c.dialect, sqltext.table_name(table).lower(), expression.lower())
            hit = hits.setdefault(
                key,
                _Hit(sqltext.bare_table(table), col.name, sqltext.unqualified(fn), expression),
            )
            if c.class_id not in {k.class_id for k in hit.classes}:
                hit.classes.append(c)
            if _sargable(fn, col):  # rewrites ``work`` in place
                rewritten.add(key)
        if rewritten:
            sql = sqltext.render(work, c.dialect)
            for key in rewritten:
                hits[key].sargable = True
                hits[key].rewrites.append(sql)
    for (dialect, _table, _expr), hit in hits.items():
        impact = sum(c.total_ms for c in hit.classes)
        table = sqltext.table_name(hit.table)
        yield Finding(
            rule=RULE_ID,
            severity=sqltext.time_severity(impact, workload),
            title=f"{hit.expression} on {table} cannot use an index on {hit.column}",
            detail=(
                f"{hit.expression} is compared in WHERE/JOIN (soar FUN.001), so an index on"
                f" {table}.{hit.column} is not used and every row is computed:"
                f" {sqltext.describe_all(hit.classes)}."
            ),
            fix=_fix(hit, workload, dialect),
            impact_ms=impact,
            query_class_ids=[c.class_id for c in hit.classes],
            tables=[table],
            columns=[hit.column],
            evidence={
                "expression": hit.expression,
                "function": hit.fn.key,
                "sargable_rewrite": hit.sargable,
                "executions": sum(c.count for c in hit.classes),
                "total_ms": impact,
            },
        )
