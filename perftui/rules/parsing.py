"""sqlglot, once per query class: parse a representative statement and keep the result.

Parsing happens per *class* (never per entry) and is memoised twice: in-process with
``lru_cache`` and in the store (``query_classes.parsed / tables / parse_error``), so a second
``analyze`` of the same file parses nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

# sqlglot warns on stderr when it falls back to a generic Command (LOAD, SET …); that is a
# normal outcome for us, kept as the class's parse result, not a message for the user.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

# sqlglot's recursion on pathological statements is bounded by refusing giant inputs outright.
MAX_PARSE_CHARS = 200_000


@dataclass(frozen=True, slots=True)
class Parsed:
    expression: exp.Expression | None
    error: str | None
    tables: tuple[str, ...]


def sqlglot_dialect(dialect: str) -> str:
    return "postgres" if dialect == "postgres" else "mysql"


@lru_cache(maxsize=16_384)
def parse_statement(sql: str, dialect: str) -> Parsed:
    """Parse one statement; a failure is a value (the error text), never an exception."""
    if len(sql) > MAX_PARSE_CHARS:
        return Parsed(None, f"statement longer than {MAX_PARSE_CHARS} characters", ())
    try:
        tree = sqlglot.parse_one(sql, read=sqlglot_dialect(dialect))
    except (
        sqlglot.errors.ParseError,
        sqlglot.errors.TokenError,
        RecursionError,
        ValueError,
    ) as exc:
        return Parsed(None, str(exc).splitlines()[0][:300] or type(exc).__name__, ())
    if tree is None:
        return Parsed(None, "empty statement", ())
    return Parsed(tree, None, tables_of(tree))


def tables_of(tree: exp.Expression) -> tuple[str, ...]:
    """Real tables the statement touches (CTE names excluded), schema-qualified when written so."""
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    seen: dict[str, None] = {}
    for t in tree.find_all(exp.Table):
        name = t.name
        if not name or name.lower() in ctes:
            continue
        seen[f"{t.db}.{name}" if t.db else name] = None
    return tuple(seen)


def ensure_parsed(con: duckdb.DuckDBPyConnection) -> int:
    """Parse every class not parsed yet (one sample statement each); returns how many."""
    rows = con.execute(
        """SELECT c.class_id, c.dialect, s.sample FROM query_classes c
           LEFT JOIN (SELECT class_id, arg_max(query, duration_ms) AS sample FROM entries
                      WHERE class_id IN (SELECT class_id FROM query_classes WHERE NOT parsed)
                      GROUP BY class_id) s USING (class_id)
           WHERE NOT c.parsed"""
    ).fetchall()
    if not rows:
        return 0
    ids, tables, errors = [], [], []
    for class_id, dialect, sample in rows:
        parsed = parse_statement(sample or "", dialect)
        ids.append(class_id)
        tables.append(list(parsed.tables))
        errors.append(parsed.error)
    update = pa.table(
        {
            "class_id": ids,
            "tables": pa.array(tables, pa.list_(pa.string())),
            "parse_error": pa.array(errors, pa.string()),
        }
    )
    con.register("_perftui_parsed", update)
    try:
        con.execute(
            "UPDATE query_classes SET parsed = true, tables = u.tables, parse_error = u.parse_error"
            " FROM _perftui_parsed u WHERE query_classes.class_id = u.class_id"
        )
    finally:
        con.unregister("_perftui_parsed")
    return len(rows)
