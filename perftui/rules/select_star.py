"""select-star: ``SELECT *`` / ``t.*`` in the outer select (soar/pt-query-advisor COL.001,
sqlcheck 3001).

Every column is read, sent and decoded whether the code uses it or not, no covering index can
answer the query, and a column added later silently changes what the application receives. The
fix names the columns: the full list when the schema is known (``--schema`` / ``--dsn``), written
by sqlglot in the log's dialect; otherwise the advice to list the ones the code reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlglot import exp

from perftui.rules import sqltext
from perftui.rules.base import Finding, Workload
from perftui.rules.schema_info import SchemaInfo

RULE_ID = "select-star"
TOP_BY_TIME = 10  # a class among the 10 most time-consuming ones gets medium severity


def _stars(select: exp.Select) -> list[exp.Expression]:
    """``*`` and ``t.*`` items of one select list."""
    return [
        e
        for e in select.expressions
        if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
    ]


def _expand(
    star: exp.Expression, select: exp.Select, schema: SchemaInfo
) -> tuple[list[exp.Column], list[str]] | None:
    """The explicit columns a star stands for, and the tables they come from; None when a
    source is not a plain table or its columns are unknown."""
    sources = sqltext.from_items(select)
    ctes = {c.alias_or_name.lower() for c in select.root().find_all(exp.CTE)}
    if isinstance(star, exp.Column):  # t.*
        sources = [s for s in sources if s.alias_or_name.lower() == star.table.lower()]
    if not sources:
        return None
    qualify = len(sqltext.from_items(select)) > 1 or isinstance(star, exp.Column)
    columns: list[exp.Column] = []
    tables: list[str] = []
    for src in sources:
        if not isinstance(src, exp.Table) or (src.name.lower() in ctes and not src.db):
            return None
        known = schema.columns_of(sqltext.table_name(src))
        if not known:
            return None
        qualifier = sqltext.ident(src.alias_or_name) if qualify else None
        columns += [exp.column(sqltext.ident(c), table=qualifier) for c in known]
        tables.append(sqltext.table_name(src))
    return columns, tables


def _rewrite(tree: exp.Expression, schema: SchemaInfo) -> tuple[exp.Expression, list[str]] | None:
    """The placeholderized statement with every outer star replaced by its columns."""
    work = sqltext.placeholderize(tree)
    names: list[str] = []
    for select in sqltext.outer_selects(work):
        for star in _stars(select):
            expanded = _expand(star, select, schema)
            if expanded is None:
                return None
            cols, _tables = expanded
            names += [c.name for c in cols]
            items: list[exp.Expression] = []
            for e in select.expressions:
                items += cols if e is star else [e]
            select.set("expressions", items)
    return work, list(dict.fromkeys(names))


def _star_tables(select: exp.Select, star: exp.Expression) -> Iterator[str]:
    for src in sqltext.from_items(select):
        if isinstance(src, exp.Table) and (
            isinstance(star, exp.Star) or src.alias_or_name.lower() == star.table.lower()
        ):
            yield sqltext.table_name(src)


def detect(workload: Workload) -> Iterable[Finding]:
    top = {c.class_id for c in workload.classes[:TOP_BY_TIME]}
    for c in workload.classes:
        tree = workload.parsed(c).expression
        if tree is None:
            continue
        starred = [(s, star) for s in sqltext.outer_selects(tree) for star in _stars(s)]
        if not starred:
            continue
        tables = list(dict.fromkeys(t for s, star in starred for t in _star_tables(s, star)))
        rewritten = _rewrite(tree, workload.schema) if workload.schema.known else None
        if rewritten is not None:
            sql, columns = sqltext.render(rewritten[0], c.dialect), rewritten[1]
            fix = (
                f"{sql}\n-- Keep only the columns the code reads from this list; fewer columns"
                " mean less I/O and a chance for a covering index."
            )
        else:
            columns = []
            fix = (
                f"Replace * with the columns the code actually reads from {', '.join(tables)}"
                " (give --schema or --dsn and perftui writes the full explicit list)."
            )
        yield Finding(
            rule=RULE_ID,
            severity="medium" if c.class_id in top else "low",
            title=f"SELECT * from {', '.join(tables) or 'a subquery'}",
            detail=(
                f"SELECT * in the outer select of {sqltext.describe(c)} (soar COL.001,"
                " sqlcheck 3001): every column is read and sent to the client, no covering"
                " index can serve it, and new columns change the result silently."
            ),
            fix=fix,
            impact_ms=c.total_ms,
            query_class_ids=[c.class_id],
            tables=tables,
            columns=columns,
            evidence={
                "executions": c.count,
                "total_ms": c.total_ms,
                "p95_ms": c.p95_ms,
                "top_by_time": c.class_id in top,
                "stars": [star.sql(dialect=sqltext.glot(c.dialect)) for _, star in starred],
            },
        )
