"""leading-wildcard: ``LIKE '%…'`` / ``ILIKE '%…'`` (soar / pt-query-advisor ARG.001).

A b-tree index is ordered by the value's first characters, so a pattern that starts with ``%``
or ``_`` cannot use it: every row is read and matched. Fingerprints hide literals, so the pattern
is read from the class's sample statement, and from the logged bind parameters when the pattern
is a ``$n`` (PostgreSQL extended protocol). Fixes, in the log's dialect:

* PostgreSQL: a pg_trgm GIN index, which serves LIKE/ILIKE with wildcards anywhere;
* MySQL / MariaDB: for a suffix search (``'%@example.org'``) an indexed generated column holding
  ``REVERSE(col)``, searched with ``LIKE CONCAT(REVERSE(?), '%')``; for a contains search a
  FULLTEXT index with ``MATCH … AGAINST`` (word semantics, not substrings).

The pattern itself never appears in the finding (it may be personal data); only its shape does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlglot import exp

from perftui.rules import sqltext
from perftui.rules.base import Finding, Workload
from perftui.store.queries import ClassStats

RULE_ID = "leading-wildcard"
PARAM_SAMPLES = 20  # logged parameter sets looked at per class, when the pattern is a $n


@dataclass
class _Hit:
    table: exp.Table
    column: exp.Expression  # the column, or the expression over it (lower(email))
    name: str  # column name
    shape: str  # suffix | contains
    operators: set[str] = field(default_factory=set)
    classes: list[ClassStats] = field(default_factory=list)
    likes: list[exp.Expression] = field(default_factory=list)  # one LIKE node per class


def pattern_prefix(node: exp.Expression, params: dict[int, str | None]) -> str | None:
    """The known leading text of a LIKE pattern: a string literal, a bound ``$n``, or the first
    piece of a concatenation (``'%' || $1``, ``CONCAT('%', ?)``); None when unknown.

    >>> pattern_prefix(exp.maybe_parse("CONCAT('%', x)", dialect="mysql"), {})
    '%'
    """
    while True:  # a loop, not recursion: a generated concatenation may be thousands long
        if isinstance(node, exp.DPipe):
            node = node.this
        elif isinstance(node, exp.Concat) and node.expressions:
            node = node.expressions[0]
        else:
            break
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    if isinstance(node, exp.Parameter) and str(node.this.this).isdigit():
        return params.get(int(node.this.this))
    return None


def _shape(pattern: str | None) -> str | None:
    """``suffix`` ('%x'), ``contains`` ('%x%', '_x%'…) or None when an index can be used."""
    if not pattern or pattern[0] not in "%_":
        return None
    body = pattern.lstrip("%_")
    return "suffix" if body and "%" not in body and "_" not in body else "contains"


def _operator(like: exp.Expression) -> str:
    op = "ILIKE" if isinstance(like, exp.ILike) else "LIKE"
    return f"NOT {op}" if like.args.get("negate") or isinstance(like.parent, exp.Not) else op


def _params(workload: Workload, class_id: str) -> list[dict[int, str | None]]:
    rows = workload.con.execute(
        "SELECT DISTINCT params FROM entries WHERE class_id = ? AND params IS NOT NULL LIMIT ?",
        [class_id, PARAM_SAMPLES],
    ).fetchall()
    return [sqltext.parse_pg_params(r[0]) for r in rows]


def leading_wildcards(
    tree: exp.Expression, params: list[dict[int, str | None]]
) -> Iterable[tuple[exp.Expression, exp.Column, str]]:
    """(LIKE node, column, shape) for each LIKE/ILIKE whose pattern starts with a wildcard.

    >>> t = exp.maybe_parse("SELECT 1 FROM u WHERE a LIKE '%x' AND b LIKE 'x%'")
    >>> [(c.sql(), s) for _, c, s in leading_wildcards(t, [])]
    [('a', 'suffix')]
    """
    for like in sqltext.predicates(tree, (exp.Like, exp.ILike)):
        col = sqltext.sole_column(like.this)
        if col is None:
            continue
        shapes = {_shape(pattern_prefix(like.expression, p)) for p in params or [{}]}
        shape = "contains" if "contains" in shapes else "suffix" if "suffix" in shapes else None
        if shape:
            yield like, col, shape


def _reversed_search(hit: _Hit, gen_col: exp.Identifier, dialect: str) -> list[str]:
    """Each class's statement (up to 3) searching the reversed column by a reversed suffix."""
    out = []
    for like in hit.likes[:3]:
        tree = like.root()
        work = sqltext.placeholderize(tree)
        target = sqltext.same_node(like, work)
        if target is None:
            continue
        col = like.this.find(exp.Column)
        needle = exp.Concat(
            expressions=[exp.Reverse(this=sqltext.placeholder()), exp.Literal.string("%")]
        )
        qualifier = col.args.get("table") if col is not None else None
        column = exp.column(gen_col.copy(), table=qualifier.copy() if qualifier else None)
        target.replace(exp.Like(this=column, expression=needle))
        out.append(sqltext.render(work, dialect) + ";")
    return out


def _fix(hit: _Hit, dialect: str) -> str:
    table = sqltext.table_name(hit.table)
    if dialect == "postgres":
        key = hit.column if isinstance(hit.column, exp.Column) else exp.Paren(this=hit.column)
        index = sqltext.create_index(
            hit.table,
            [exp.Opclass(this=key, expression=exp.Var(this="gin_trgm_ops"))],
            dialect,
            using="gin",
        )
        extension = exp.Command(this="CREATE", expression=" EXTENSION IF NOT EXISTS pg_trgm")
        return (
            f"{extension.sql(dialect='postgres')};\n{index}\n-- A trigram index serves LIKE and"
            " ILIKE with wildcards anywhere (patterns of 3+ characters); no query change needed."
        )
    if hit.shape == "suffix":
        gen_col = sqltext.ident(f"{hit.name}_reversed"[: sqltext.MAX_IDENT])
        reverse = exp.Reverse(this=sqltext.unqualified(hit.column))
        alter = sqltext.add_generated_column(hit.table, gen_col, "VARCHAR(255)", reverse, dialect)
        statements = "\n".join(_reversed_search(hit, gen_col, dialect))
        return (
            "-- A suffix search is a prefix search on the reversed string: an indexed generated"
            f" column (match its type to {hit.name}'s), searched with the suffix, without its"
            " leading %, as the parameter\n"
            f"{alter}\n{statements}\n-- For word searches a FULLTEXT index with MATCH … AGAINST"
            " is the alternative."
        )
    fulltext = exp.Alter(
        this=sqltext.bare_table(hit.table),
        kind="TABLE",
        actions=[
            exp.AddConstraint(
                expressions=[
                    exp.IndexColumnConstraint(
                        this=sqltext.index_name("ft", table, hit.name),
                        kind="FULLTEXT",
                        expressions=[exp.column(sqltext.ident(hit.name))],
                    )
                ]
            )
        ],
    )
    match = exp.MatchAgainst(
        this=sqltext.placeholder(),
        expressions=[exp.column(sqltext.ident(hit.name))],
        modifier="IN BOOLEAN MODE",
    )
    return (
        f"{fulltext.sql(dialect=sqltext.glot(dialect))};\n-- then search with\n"
        f"{sqltext.render(match, dialect)}\n-- FULLTEXT matches words and word prefixes"
        " ('term*'), not arbitrary substrings; on MySQL, WITH PARSER ngram gets closer."
    )


def detect(workload: Workload) -> Iterable[Finding]:
    hits: dict[tuple[str, str, str, str], _Hit] = {}
    for c in workload.classes:
        tree = workload.parsed(c).expression
        if tree is None:
            continue
        params: list[dict[int, str | None]] = []
        if c.dialect == "postgres" and any(
            like.expression.find(exp.Parameter) is not None
            for like in sqltext.predicates(tree, (exp.Like, exp.ILike))
        ):
            params = _params(workload, c.class_id)
        for like, col, shape in leading_wildcards(tree, params):
            table = sqltext.table_of(col, workload.schema)
            if table is None:
                continue
            column = sqltext.unqualified(like.this)
            key = (c.dialect, sqltext.table_name(table).lower(), column.sql().lower(), shape)
            hit = hits.setdefault(key, _Hit(sqltext.bare_table(table), column, col.name, shape))
            hit.operators.add(_operator(like))
            if c.class_id not in {k.class_id for k in hit.classes}:
                hit.classes.append(c)
                hit.likes.append(like)
    for (dialect, *_), hit in hits.items():
        impact = sum(c.total_ms for c in hit.classes)
        table = sqltext.table_name(hit.table)
        ops = "/".join(sorted(hit.operators))
        expr = sqltext.expression_sql(hit.column, dialect)
        yield Finding(
            rule=RULE_ID,
            severity=sqltext.time_severity(impact, workload),
            title=f"{expr} {ops} with a leading wildcard on {table}",
            detail=(
                f"{expr} {ops} '%…' ({hit.shape} search) cannot use a b-tree index on"
                f" {table}.{hit.name}, so every row is read and matched (soar ARG.001):"
                f" {sqltext.describe_all(hit.classes)}."
            ),
            fix=_fix(hit, dialect),
            impact_ms=impact,
            query_class_ids=[c.class_id for c in hit.classes],
            tables=[table],
            columns=[hit.name],
            evidence={
                "operator": ops,
                "pattern_shape": hit.shape,
                "expression": expr,
                "executions": sum(c.count for c in hit.classes),
                "total_ms": impact,
            },
        )
