"""sqlglot, once per query class: parse a representative statement and keep the result.

Parsing happens per *class* (never per entry) and is memoised twice: in-process with
``lru_cache`` and in the store (``query_classes.parsed / tables / parse_error``), so a second
``analyze`` of the same file parses nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

# sqlglot warns on stderr when it falls back to a generic Command (LOAD, SET …); that is a
# normal outcome for us, kept as the class's parse result, not a message for the user.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

# Bounds that keep one hostile statement from hanging or crashing ``analyze``. A statement over
# a bound becomes a class with ``parse_error`` (its tables still listed when it parsed).
# Giant statements are refused outright: sqlglot's time grows with length.
MAX_PARSE_CHARS = 200_000
# Brackets nested deeper than this in the text: sqlglot recurses per level and would hit
# Python's recursion limit a little further on anyway; checked before tokenising.
MAX_NESTING = 50
# Tree depth the rules and sqlglot's SQL generator (both recursive) are known to survive. A
# chain of one of FLAT_CHAINS (``a AND b AND …``, ``x || y || …``, ``UNION ALL``) counts as one
# level: sqlglot and the rules walk those iteratively (a test holds sqlglot to it); other
# chains (``->``, ``::``, ``a.b.c``) recurse once per link.
MAX_TREE_DEPTH = 150
FLAT_CHAINS: tuple[type[exp.Expression], ...] = (
    exp.And,
    exp.Or,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.DPipe,
    exp.SetOperation,
)
# Links in one such chain: the rules look at every operand's ancestors, so their time grows with
# the square of a chain's length; a thousand ``OR``s is far beyond what a person or an ORM writes.
MAX_CHAIN = 1_000
# sqlglot backtracks (``_retreat``) a few times per token on real statements; some nestings
# (``ARRAY[ARRAY[…``, ``STRUCT(STRUCT(…``) make it backtrack exponentially. Beyond this budget the
# parse is abandoned, which bounds its time whatever the input.
BACKTRACK_PER_TOKEN = 20
BACKTRACK_BASE = 1_000

_STRINGS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`")
_BRACKETS = re.compile(r"[()\[\]{}]")
_OPEN = frozenset("([{")


@dataclass(frozen=True, slots=True)
class Parsed:
    expression: exp.Expression | None
    error: str | None
    tables: tuple[str, ...]


class _TooMuchBacktracking(Exception):
    """Raised inside sqlglot's parser (not a ParseError, so sqlglot cannot swallow it)."""


def sqlglot_dialect(dialect: str) -> str:
    return "postgres" if dialect == "postgres" else "mysql"


@lru_cache(maxsize=16_384)
def parse_statement(sql: str, dialect: str) -> Parsed:
    """Parse one statement within the bounds above; a failure is a value (the error text),
    never an exception, so one hostile statement costs one class its analysis, not the run."""
    if len(sql) > MAX_PARSE_CHARS:
        return Parsed(None, f"statement longer than {MAX_PARSE_CHARS} characters", ())
    brackets = sql.count("(") + sql.count("[") + sql.count("{")
    depth = nesting_depth(sql) if brackets > MAX_NESTING else 0
    if depth > MAX_NESTING:
        return Parsed(None, f"brackets nested {depth} deep (more than {MAX_NESTING})", ())
    try:
        tree = _bounded_parse(sql, sqlglot_dialect(dialect))
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError) as exc:
        return Parsed(None, str(exc).splitlines()[0][:300] or type(exc).__name__, ())
    except RecursionError:
        return Parsed(None, "nested too deeply for the SQL parser", ())
    except _TooMuchBacktracking:
        return Parsed(None, "too ambiguous for the SQL parser (parse abandoned)", ())
    if tree is None:
        return Parsed(None, "empty statement", ())
    depth, chain = tree_depth(tree)
    if depth > MAX_TREE_DEPTH or chain > MAX_CHAIN:
        reason = (
            f"expression tree {depth} levels deep (more than {MAX_TREE_DEPTH})"
            if depth > MAX_TREE_DEPTH
            else f"a chain of {chain} operators (more than {MAX_CHAIN})"
        )
        return Parsed(None, reason, tables_of(tree))
    return Parsed(tree, None, tables_of(tree))


def nesting_depth(sql: str) -> int:
    """Deepest bracket nesting outside quoted strings (cheap: only brackets are visited).

    >>> nesting_depth("SELECT f((1), '((((') FROM t")
    2
    """
    depth = deepest = 0
    for m in _BRACKETS.finditer(_STRINGS.sub("''", sql)):
        if m.group() in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest


def tree_depth(tree: exp.Expression) -> tuple[int, int]:
    """(depth, longest chain) of ``tree``, computed iteratively; a chain of one of
    ``FLAT_CHAINS`` counts as one level of depth and its links as its length."""
    deepest = longest = 0
    stack = [(tree, 1, 1)]
    while stack:
        node, depth, links = stack.pop()
        deepest = max(deepest, depth)
        longest = max(longest, links)
        chain = isinstance(node, FLAT_CHAINS)
        for child in node.iter_expressions():
            if chain and type(child) is type(node):
                stack.append((child, depth, links + 1))
            else:
                stack.append((child, depth + 1, 1))
    return deepest, longest


_PARSERS: dict[str, tuple[Dialect, type]] = {}


def _bounded_parse(sql: str, dialect: str) -> exp.Expression | None:
    """``sqlglot.parse_one`` with a backtracking budget (see ``BACKTRACK_PER_TOKEN``)."""
    if dialect not in _PARSERS:
        glot = Dialect.get_or_raise(dialect)

        class BoundedParser(glot.parser_class):  # type: ignore[name-defined, misc]
            budget = BACKTRACK_BASE
            retreats = 0

            def _retreat(self, index: int) -> None:
                self.retreats += 1
                if self.retreats > self.budget:
                    raise _TooMuchBacktracking
                super()._retreat(index)

        _PARSERS[dialect] = (glot, BoundedParser)
    glot, parser_class = _PARSERS[dialect]
    tokens = glot.tokenize(sql)
    parser = parser_class(dialect=glot)
    parser.budget = BACKTRACK_BASE + BACKTRACK_PER_TOKEN * len(tokens)
    trees = parser.parse(tokens, sql)
    if not trees or trees[0] is None:
        return None
    return exp.Block(expressions=trees) if len(trees) > 1 else trees[0]


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
