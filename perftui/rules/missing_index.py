"""missing-index: filters and sorts no index serves, proposed as one composite index per table.

For each query class (its representative statement, parsed once), per table of each SELECT /
UPDATE / DELETE scope: equality columns (``col = ?``, ``col IN (…)``, ``col IS NULL``, an OR of
equalities on one column, and the inner side of ``JOIN … ON a.x = b.y``), range columns (``<``,
``>``, ``BETWEEN``, ``LIKE 'prefix%'``) and ORDER BY columns. The index is: equality columns in
the order the statement names them, then one range column, then the sort columns.

A suggestion needs evidence that an index would help, from the log itself:

* MySQL/MariaDB ``Rows_examined`` ≫ ``Rows_sent`` (≥ 10 × and ≥ 1000 examined per execution);
* a PostgreSQL auto_explain plan with ``Seq Scan on <table>`` + ``Filter`` costing ≥ 100;
* or a mean duration ≥ 1 ms on a table known to be big (catalog estimate, plans, rows examined
  by single-table statements, or full reads of it taking ≥ 1 ms).

Suggestions an existing index serves by its leading columns are dropped (without schema
knowledge a column named ``id`` is assumed to be its table's primary key), point lookups on a
unique key are dropped, suggestions sharing a prefix are merged (the longer one serves all), and
an existing index that is a prefix of the suggestion is extended rather than duplicated.
The finding is ``verified = False`` until ``perftui verify`` checks it with HypoPG.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import duckdb
from sqlglot import exp

from perftui.rules import sqltext
from perftui.rules.base import Finding, Workload
from perftui.rules.schema_info import Index, SchemaInfo
from perftui.store.queries import ClassStats

RULE_ID = "missing-index"

EXAMINED_PER_EXEC = 1000  # MySQL rows examined per execution before an index is worth it
EXAMINED_RATIO = 10.0  # rows examined per row sent (or affected)
SLOW_MEAN_MS = 1.0  # mean duration that counts as slow on a big table
BIG_TABLE_ROWS = 1000  # "a table with many rows"
MAX_CLASSES_IN_DETAIL = 5
PLANS_PER_CLASS = 3  # auto_explain plans read per class (the slowest executions')

_BTREE = {"btree", ""}
_SCOPES = (exp.Select, exp.Update, exp.Delete)
_QUERY_NODES = (exp.Select, exp.Subquery, exp.SetOperation)


# --------------------------------------------------------------------------- candidates


@dataclass(slots=True)
class Candidate:
    """What one statement scope wants from one table."""

    dialect: str
    key: str  # SchemaInfo.table_key
    table: exp.Table  # as written (schema-qualified when so), without alias
    equality: list[str]
    range_col: str | None
    sort: list[tuple[str, bool]]  # (column, desc)
    class_id: str
    predicates: list[str] = field(default_factory=list)  # readable: "user_id = ?"
    anchor: tuple[str, ...] = ()  # an existing index this one extends: must stay its prefix
    range_like: bool = False  # the range is LIKE 'prefix%' (PostgreSQL: text_pattern_ops)

    @property
    def columns(self) -> list[str]:
        cols = list(self.equality)
        if self.range_col and self.range_col not in cols:
            cols.append(self.range_col)
        for col, _desc in self.sort:
            if col not in cols:
                cols.append(col)
        return cols

    @property
    def rest(self) -> list[str]:
        return self.columns[len(self.equality) :]


def _conjuncts(node: exp.Expression | None) -> Iterator[exp.Expression]:
    """The AND-ed predicates, left to right (iteratively: a log may hold thousands of them)."""
    yield from _flatten(node, exp.And)


def _disjuncts(node: exp.Expression) -> Iterator[exp.Expression]:
    yield from _flatten(node, exp.Or)


def _flatten(node: exp.Expression | None, kind: type[exp.Expression]) -> Iterator[exp.Expression]:
    """Operands of a chain of ``kind`` (parentheses looked through), in written order."""
    stack = [node]
    while stack:
        item = stack.pop()
        while isinstance(item, exp.Paren):
            item = item.this
        if item is None:
            continue
        if isinstance(item, kind):
            stack.append(item.expression)
            stack.append(item.this)
        else:
            yield item


def _plain_column(node: exp.Expression | None) -> exp.Column | None:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column) and sqltext.column_name(node):
        return node
    return None


def _value(node: exp.Expression | None, scope: exp.Expression) -> bool:
    """A value fixed while the scope runs: a literal/parameter, or an expression that reads no
    column of this scope (``now()``, ``CAST(? AS date)``, an uncorrelated subquery)."""
    if node is None:
        return False
    if sqltext.value_like(node):
        return True
    if isinstance(node, exp.Column | exp.Star):
        return False
    return all(col.find_ancestor(*_SCOPES) is not scope for col in node.find_all(exp.Column))


class _ScopeReader:
    """Columns per table of one SELECT / UPDATE / DELETE (subqueries are scopes of their own)."""

    def __init__(
        self, scope: exp.Expression, schema: SchemaInfo, ctes: set[str] | None = None
    ) -> None:
        self.scope = scope
        self.schema = schema
        self.tables = sqltext.scope_tables(scope, ctes)
        self.eq: dict[str, list[str]] = {}
        self.rng: dict[str, list[str]] = {}
        self.preds: dict[str, list[str]] = {}
        self.sort_key: str | None = None
        self.like: set[tuple[str, str]] = set()  # (alias, column) compared with LIKE 'prefix%'
        self.sort: list[tuple[str, bool]] = []

    def owner(self, col: exp.Column) -> str | None:
        """Alias of this scope's table that ``col`` (a column read in this scope) belongs to."""
        if col.parent is None:
            return None  # a column built here (JOIN … USING), not one of the statement's
        table = sqltext.table_of(col, self.schema, tables=self.tables)
        if table is None:
            return None
        alias = table.alias_or_name.lower()
        return alias if alias in self.tables else None

    def _add(self, kind: dict[str, list[str]], col: exp.Column, text: str) -> None:
        alias = self.owner(col)
        if alias is None:
            return
        name = col.name
        known = self.schema.columns_of(sqltext.table_name(self.tables[alias]))
        if known and name.lower() not in {c.lower() for c in known}:
            return  # not a column of that table (a typo the server rejected, an alias…)
        if name not in kind.setdefault(alias, []):
            kind[alias].append(name)
            self.preds.setdefault(alias, []).append(text)

    def predicate(self, pred: exp.Expression, inner: str | None = None) -> None:
        """Classify one conjunct; ``inner`` is the alias of a JOIN's table (its ON clause)."""
        scope = self.scope
        if isinstance(pred, exp.EQ | exp.NullSafeEQ):
            left, right = _plain_column(pred.this), _plain_column(pred.expression)
            if left is not None and right is not None:
                self._join(left, right, inner)
            elif left is not None and _value(pred.expression, scope):
                self._add(self.eq, left, f"{left.name} = ?")
            elif right is not None and _value(pred.this, scope):
                self._add(self.eq, right, f"{right.name} = ?")
        elif isinstance(pred, exp.In) and not pred.args.get("unnest"):
            col = _plain_column(pred.this)
            if col is not None:
                self._add(self.eq, col, f"{col.name} IN (…)")
        elif isinstance(pred, exp.Is) and isinstance(pred.expression, exp.Null):
            col = _plain_column(pred.this)
            if col is not None:
                self._add(self.eq, col, f"{col.name} IS NULL")
        elif isinstance(pred, exp.GT | exp.GTE | exp.LT | exp.LTE):
            left, right = _plain_column(pred.this), _plain_column(pred.expression)
            if left is not None and right is None and _value(pred.expression, scope):
                self._add(self.rng, left, f"{left.name} {_OPS[type(pred)]} ?")
            elif right is not None and left is None and _value(pred.this, scope):
                self._add(self.rng, right, f"{right.name} {_FLIP[type(pred)]} ?")
        elif isinstance(pred, exp.Between):
            col = _plain_column(pred.this)
            if col is not None and _value(pred.args.get("low"), scope):
                self._add(self.rng, col, f"{col.name} BETWEEN ? AND ?")
        elif isinstance(pred, exp.Like):
            col = _plain_column(pred.this)
            pattern = pred.expression
            if (
                col is not None
                and isinstance(pattern, exp.Literal)
                and pattern.is_string
                and pattern.this[:1] not in ("%", "_", "")
            ):
                self._add(self.rng, col, f"{col.name} LIKE '…%'")
                alias = self.owner(col)
                if alias is not None:
                    self.like.add((alias, col.name))
        elif isinstance(pred, exp.Or):
            self._or_of_equalities(pred)

    def _or_of_equalities(self, pred: exp.Or) -> None:
        cols = set()
        first: exp.Column | None = None
        for d in _disjuncts(pred):
            col = None
            if isinstance(d, exp.EQ):
                col = _plain_column(d.this) if _value(d.expression, self.scope) else None
            elif isinstance(d, exp.In):
                col = _plain_column(d.this)
            if col is None:
                return
            cols.add((col.table.lower(), col.name.lower()))
            first = first or col
        if len(cols) == 1 and first is not None:
            self._add(self.eq, first, f"{first.name} IN (…)")

    def _join(self, left: exp.Column, right: exp.Column, inner: str | None) -> None:
        a, b = self.owner(left), self.owner(right)
        if a is None or b is None or a == b:
            return
        if inner is not None:  # JOIN t ON …: t is looked up per outer row
            for col, owner in ((left, a), (right, b)):
                if owner == inner:
                    self._add(self.eq, col, f"{col.name} = <join>")
            return
        driving = next(iter(self.tables), None)  # implicit join: the FROM table drives
        for col, owner in ((left, a), (right, b)):
            if owner != driving:
                self._add(self.eq, col, f"{col.name} = <join>")

    def read(self) -> None:
        scope = self.scope
        where = scope.args.get("where")
        for pred in _conjuncts(where.this if isinstance(where, exp.Where) else None):
            self.predicate(pred)
        for join in scope.args.get("joins") or []:
            inner = join.this.alias_or_name.lower() if isinstance(join.this, exp.Table) else None
            for pred in _conjuncts(join.args.get("on")):
                self.predicate(pred, inner)
            for ident in join.args.get("using") or []:
                if inner in self.tables:
                    col = exp.column(ident.name, table=inner)
                    self._add(self.eq, col, f"{ident.name} = <join>")
        if isinstance(scope, exp.Select):
            self._read_sort(scope)

    def _read_sort(self, select: exp.Select) -> None:
        # A sort the index can deliver: plain columns of the FROM table, no grouping on top.
        if select.args.get("group") or select.args.get("distinct"):
            return
        if any(
            isinstance(e, exp.AggFunc) for s in select.expressions for e in s.find_all(exp.Func)
        ):
            return
        keys = sqltext.order_columns(select)
        if not keys:
            return
        owners = {self.owner(col) for col, _ in keys}
        driving = next(iter(self.tables), None)
        if len(owners) != 1 or driving is None or owners != {driving}:
            return
        self.sort_key = driving
        self.sort = [(col.name, desc) for col, desc in keys]


_OPS = {exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
_FLIP = {exp.GT: "<", exp.GTE: "<=", exp.LT: ">", exp.LTE: ">="}


def candidates(tree: exp.Expression, c: ClassStats, schema: SchemaInfo) -> list[Candidate]:
    """Index wishes of one statement, one per (scope, table)."""
    out: list[Candidate] = []
    ctes = sqltext.cte_names(tree)
    for scope in tree.find_all(*_SCOPES):
        reader = _ScopeReader(scope, schema, ctes)
        if not reader.tables:
            continue
        reader.read()
        for alias, table in reader.tables.items():
            eq = reader.eq.get(alias, [])
            rng = [r for r in reader.rng.get(alias, []) if r not in eq]
            sort = reader.sort if reader.sort_key == alias else []
            if not eq and not rng and not sort:
                continue
            out.append(
                Candidate(
                    dialect=c.dialect,
                    key=schema.table_key(sqltext.table_name(table)),
                    table=sqltext.bare_table(table),
                    equality=eq,
                    range_col=rng[0] if rng else None,
                    range_like=bool(rng) and (alias, rng[0]) in reader.like,
                    sort=sort,
                    class_id=c.class_id,
                    predicates=list(reader.preds.get(alias, []))
                    + [f"ORDER BY {col}{' DESC' if d else ''}" for col, d in sort],
                )
            )
    return out


# --------------------------------------------------------------------------- existing indexes


def _lower(cols: Iterable[str]) -> list[str]:
    return [c.lower() for c in cols]


def _fits(cols: list[str], n_eq: int, order: Iterable[str]) -> bool:
    """``order``'s leading columns deliver ``cols`` (whose first ``n_eq`` are compared with
    ``=``, so may come in any order; the rest must follow position by position)."""
    lead = _lower(list(order)[: len(cols)])
    want = _lower(cols)
    return (
        len(lead) == len(want)
        and set(lead[:n_eq]) == set(want[:n_eq])
        and lead[n_eq:] == want[n_eq:]
    )


def _prefix_order(index_cols: Iterable[str], cols: list[str], n_eq: int) -> list[str] | None:
    """An order of the equality block of ``cols`` under which ``index_cols`` is a strict
    prefix of ``cols`` (the new index would make that index redundant), else None."""
    ic = _lower(index_cols)
    want = _lower(cols)
    if not ic or len(ic) >= len(want) or len(set(ic)) != len(ic):
        return None
    k = min(len(ic), n_eq)
    if not set(ic[:k]) <= set(want[:n_eq]):
        return None
    if len(ic) > n_eq and (set(ic[:n_eq]) != set(want[:n_eq]) or ic[n_eq:] != want[n_eq : len(ic)]):
        return None
    head = [next(c for c in cols[:n_eq] if c.lower() == i) for i in ic[:k]]
    return head + [c for c in cols[:n_eq] if c.lower() not in ic[:k]]


def _existing(schema: SchemaInfo, cand_key: str) -> tuple[list[Index], bool]:
    """Usable b-tree indexes of a table, and whether the primary key is only assumed."""
    known = schema.columns_of(cand_key) is not None or bool(schema.indexes_of(cand_key))
    indexes = [
        i
        for i in schema.indexes_of(cand_key)
        if i.method.lower() in _BTREE and not i.where and i.columns
    ]
    if not known:
        return [Index(cand_key, "(assumed primary key)", ("id",), unique=True, primary=True)], True
    return indexes, False


def _equality_served(eq: list[str], idx: Index) -> bool:
    return bool(eq) and set(_lower(idx.columns[: len(eq)])) == set(_lower(eq))


def _anchor(cand: Candidate, indexes: list[Index]) -> None:
    """Extend rather than duplicate: when an existing (non-unique) index is a prefix of the
    wish, order the equality columns as that index does and pin it as the prefix."""
    best: tuple[tuple[str, ...], list[str]] | None = None
    for idx in indexes:
        if idx.unique or idx.primary:
            continue
        new_eq = _prefix_order(idx.columns, cand.columns, len(cand.equality))
        if new_eq is not None and (best is None or len(idx.columns) > len(best[0])):
            best = (tuple(_lower(idx.columns)), new_eq)
    if best is not None:
        cand.anchor, cand.equality = best


def _point_lookup(eq: list[str], indexes: list[Index]) -> Index | None:
    """A unique key whose columns are all compared with ``=``: at most one row."""
    have = set(_lower(eq))
    for idx in indexes:
        if idx.unique and idx.columns and set(_lower(idx.columns)) <= have:
            return idx
    return None


# --------------------------------------------------------------------------- evidence


@dataclass(slots=True)
class _Facts:
    """What the log says about tables (size) and classes (plans)."""

    table_rows: dict[tuple[str, str], int] = field(default_factory=dict)  # (dialect, key)
    row_sources: dict[tuple[str, str], str] = field(default_factory=dict)
    seq_scans: dict[str, dict[str, float]] = field(default_factory=dict)  # class -> key -> cost

    def note_rows(self, dialect: str, key: str, rows: int, why: str) -> None:
        k = (dialect, key)
        if rows > self.table_rows.get(k, -1):
            self.table_rows[k] = rows
            self.row_sources[k] = why


_PLAN_NODE = re.compile(
    r"^(?P<indent>\s*)(?:->\s*)?(?P<node>Seq Scan|Parallel Seq Scan|Index Scan|Index Only Scan"
    r"|Bitmap Heap Scan)(?: Backward)?(?: using \S+)? on (?P<table>[\w.\"]+)(?: \w+)?\s+"
    r"\(cost=[\d.]+\.\.(?P<cost>[\d.]+) rows=(?P<rows>\d+)"
)


def _plan_scans(plan: str) -> Iterator[tuple[str, str, float, int, bool]]:
    """(node type, table, total cost, estimated rows, filtered?) of every scan in a plan, from
    auto_explain's text or JSON format."""
    text = plan.strip()
    if text.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError:
            return
        stack = [data]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                if "Relation Name" in node and "Node Type" in node:
                    filtered = bool(node.get("Filter") or node.get("Index Cond"))
                    yield (
                        node["Node Type"],
                        str(node["Relation Name"]),
                        float(node.get("Total Cost") or 0),
                        int(node.get("Plan Rows") or 0),
                        filtered,
                    )
                stack.extend(v for v in node.values() if isinstance(v, list | dict))
        return
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _PLAN_NODE.match(line)
        if not m:
            continue
        depth = len(m.group("indent")) + (2 if "->" in line[: len(m.group("indent")) + 3] else 0)
        filtered = False
        for detail in lines[i + 1 :]:
            stripped = detail.lstrip()
            if stripped.startswith("->") or len(detail) - len(stripped) <= depth - 2:
                break
            if stripped.startswith(("Filter:", "Index Cond:", "Recheck Cond:")):
                filtered = True
        yield (
            m.group("node"),
            m.group("table").replace('"', ""),
            float(m.group("cost")),
            int(m.group("rows")),
            filtered,
        )


def _gather_facts(workload: Workload) -> _Facts:
    facts = _Facts()
    schema = workload.schema
    for key, n in schema.rows.items():
        for dialect in ("postgres", "mysql"):
            facts.note_rows(dialect, key, n, "catalog estimate")
    min_cost = workload.thresholds.index_min_cost
    ids = list(workload.by_id)
    for class_id, plan in _plans(workload.con, ids):
        c = workload.by_id.get(class_id)
        if c is None or not plan:
            continue
        for node, table, cost, rows, filtered in _plan_scans(plan):
            key = schema.table_key(table)
            if node.endswith("Seq Scan") and filtered and cost >= min_cost:
                scans = facts.seq_scans.setdefault(class_id, {})
                scans[key] = max(cost, scans.get(key, 0.0))
            if not filtered:
                facts.note_rows(c.dialect, key, rows, f"plan: {node} on {table}, rows={rows}")
    for c in workload.classes:
        if len(c.tables) != 1 or not c.count:
            continue
        key = schema.table_key(c.tables[0])
        if c.rows_examined:
            per = c.rows_examined // c.count
            facts.note_rows(c.dialect, key, per, f"class {c.class_id} examines {per} rows")
        if c.rows_sent:
            per = c.rows_sent // c.count
            facts.note_rows(c.dialect, key, per, f"class {c.class_id} returns {per} rows")
        parsed = workload.parsed(c)
        tree = parsed.expression
        if (
            isinstance(tree, exp.Select)
            and not tree.args.get("where")
            and not tree.args.get("limit")
            and not tree.args.get("joins")
            and (c.mean_ms or 0) >= SLOW_MEAN_MS
        ):
            facts.note_rows(
                c.dialect,
                key,
                BIG_TABLE_ROWS,
                f"class {c.class_id} reads it whole in {c.mean_ms:.1f} ms",
            )
    return facts


def _plans(con: duckdb.DuckDBPyConnection, class_ids: list[str]) -> list[tuple[str, str]]:
    if not class_ids:
        return []
    # The slowest few plans per class are enough (plans repeat, with other literals).
    return con.execute(
        """SELECT class_id, plan FROM (
               SELECT class_id, plan, row_number() OVER (
                   PARTITION BY class_id ORDER BY duration_ms DESC NULLS LAST) AS n
               FROM entries
               WHERE plan IS NOT NULL AND class_id IN (SELECT unnest(?::VARCHAR[])))
           WHERE n <= ?""",
        [class_ids, PLANS_PER_CLASS],
    ).fetchall()


def _evidence(c: ClassStats, key: str, facts: _Facts) -> dict | None:
    """Why an index on ``key`` would help this class, or None when the log does not show it."""
    if c.count and c.rows_examined:
        per_exec = c.rows_examined / c.count
        out_rows = max(c.rows_sent or 0, c.rows_affected or 0)
        ratio = c.rows_examined / max(out_rows, 1)
        if per_exec >= EXAMINED_PER_EXEC and ratio >= EXAMINED_RATIO:
            return {
                "kind": "rows_examined",
                "rows_examined_per_exec": round(per_exec, 1),
                "rows_returned_per_exec": round(out_rows / c.count, 1),
                "text": f"examines {per_exec:,.0f} rows per execution to return "
                f"{out_rows / c.count:,.1f}",
            }
    cost = facts.seq_scans.get(c.class_id, {}).get(key)
    if cost is not None:
        return {
            "kind": "plan",
            "seq_scan_cost": cost,
            "text": f"auto_explain shows Seq Scan on {key} with a Filter (cost {cost:,.0f})",
        }
    rows = facts.table_rows.get((c.dialect, key))
    if (c.mean_ms or 0) >= SLOW_MEAN_MS and rows is not None and rows >= BIG_TABLE_ROWS:
        why = facts.row_sources.get((c.dialect, key), "")
        return {
            "kind": "slow_on_big_table",
            "mean_ms": round(c.mean_ms or 0, 3),
            "table_rows": rows,
            "text": f"mean {c.mean_ms:.2f} ms on {key}, a table of ≥ {rows:,} rows ({why})",
        }
    return None


# --------------------------------------------------------------------------- merging


@dataclass(slots=True)
class _Group:
    """One proposed index and every candidate it serves."""

    dialect: str
    key: str
    table: exp.Table
    equality: list[str]
    rest: list[str]
    desc: dict[str, bool]
    members: list[Candidate] = field(default_factory=list)
    anchors: set[tuple[str, ...]] = field(default_factory=set)
    like: set[str] = field(default_factory=set)  # columns a member ranges over with LIKE

    @property
    def columns(self) -> list[str]:
        return self.equality + self.rest

    def admits(self, cand: Candidate) -> list[str] | None:
        """The equality order under which ``cand`` is served by this index's leading columns
        (keeping every member served too), or None. The current order is preferred."""
        n_eq = len(cand.equality)
        anchors = self.anchors | ({cand.anchor} if cand.anchor else set())

        def anchored(order: list[str]) -> bool:
            return all(tuple(_lower(order[: len(a)])) == a for a in anchors)

        if _fits(cand.columns, n_eq, self.columns) and anchored(self.columns):
            return list(self.equality)
        want = set(_lower(cand.equality))
        if not want <= set(_lower(self.equality)):
            return None
        head = sorted(
            (c for c in self.equality if c.lower() in want),
            key=lambda c: _lower(cand.equality).index(c.lower()),
        )
        new_eq = head + [c for c in self.equality if c.lower() not in want]
        order = new_eq + self.rest
        if not _fits(cand.columns, n_eq, order):
            return None
        if anchored(order) and all(_fits(m.columns, len(m.equality), order) for m in self.members):
            return new_eq
        return None


def _merge(cands: list[Candidate], impact: dict[str, float]) -> list[_Group]:
    groups: list[_Group] = []
    order = sorted(cands, key=lambda x: (-len(x.columns), -impact.get(x.class_id, 0.0)))
    for cand in order:
        best: tuple[_Group, list[str]] | None = None
        for g in groups:
            if g.dialect != cand.dialect or g.key != cand.key:
                continue
            new_eq = g.admits(cand)
            if new_eq is None:
                continue
            unchanged = _lower(new_eq) == _lower(g.equality)
            if best is None or (unchanged and _lower(best[1]) != _lower(best[0].equality)):
                best = (g, new_eq)  # first fitting group (most columns), unchanged preferred
        if best is not None:
            g, new_eq = best
            g.equality = new_eq
            g.members.append(cand)
            if cand.anchor:
                g.anchors.add(cand.anchor)
            if cand.range_like and cand.range_col:
                g.like.add(cand.range_col)
            continue
        groups.append(
            _Group(
                cand.dialect,
                cand.key,
                cand.table,
                list(cand.equality),
                cand.rest,
                {col: d for col, d in cand.sort},
                [cand],
                {cand.anchor} if cand.anchor else set(),
                {cand.range_col} if cand.range_like and cand.range_col else set(),
            )
        )
    return groups


# --------------------------------------------------------------------------- DDL


def index_name(table: str, columns: list[str]) -> str:
    """``idx_<table>_<columns>``, identifier-safe, within PostgreSQL's 63 characters."""
    words = [re.sub(r"[^a-z0-9]+", "_", w.lower()).strip("_") for w in [table, *columns]]
    name = "idx_" + "_".join(w for w in words if w)
    if len(name) > sqltext.MAX_IDENT:
        digest = hashlib.md5(name.encode()).hexdigest()[:8]
        name = name[: sqltext.MAX_IDENT - 9].rstrip("_") + "_" + digest
    return name


def index_ddl(
    dialect: str,
    table: exp.Table,
    columns: list[str],
    *,
    name: str | None = None,
    desc: dict[str, bool] | None = None,
    opclass: dict[str, str] | None = None,
) -> str:
    """The index in the log's dialect, generated by sqlglot: PostgreSQL ``CREATE INDEX
    CONCURRENTLY``, MySQL/MariaDB ``ALTER TABLE … ADD INDEX`` (online DDL)."""
    desc = desc or {}
    # One direction for every sort key: a b-tree is read backwards as well, so no DESC needed.
    mixed = len({desc[c] for c in columns if c in desc}) > 1
    name = name or index_name(table.name, columns)

    def key(col: str) -> exp.Expression:
        column: exp.Expression = exp.column(sqltext.ident(col))
        if dialect == "postgres" and opclass and col in opclass:
            column = exp.Opclass(this=column, expression=exp.to_table(opclass[col]))
        if mixed and desc.get(col):
            return exp.Ordered(this=column, desc=True, nulls_first=dialect == "postgres")
        return exp.Ordered(this=column, nulls_first=dialect != "postgres") if mixed else column

    if dialect == "postgres":
        node = exp.Create(
            kind="INDEX",
            concurrently=True,
            this=exp.Index(
                this=sqltext.ident(name),
                table=table.copy(),
                params=exp.IndexParameters(
                    columns=[
                        k if isinstance(k, exp.Ordered) else exp.Ordered(this=k)
                        for k in map(key, columns)
                    ]
                ),
            ),
        )
        return node.sql(dialect="postgres") + ";"
    node = exp.Alter(
        this=table.copy(),
        kind="TABLE",
        actions=[
            exp.AddConstraint(
                expressions=[
                    exp.IndexColumnConstraint(
                        this=sqltext.ident(name), expressions=[key(c) for c in columns]
                    )
                ]
            )
        ],
    )
    return node.sql(dialect="mysql") + ";"


def drop_index_ddl(dialect: str, table: exp.Table, name: str) -> str:
    """``DROP INDEX CONCURRENTLY`` (PostgreSQL, in the table's schema) or ``ALTER TABLE …
    DROP INDEX`` (MySQL/MariaDB)."""
    target = exp.Table(this=sqltext.ident(name))
    if dialect == "postgres":
        if table.args.get("db"):
            target.set("db", table.args["db"].copy())
        return exp.Drop(kind="INDEX", tables=[target], concurrently=True).sql("postgres") + ";"
    node = exp.Alter(
        this=table.copy(), kind="TABLE", actions=[exp.Drop(kind="INDEX", tables=[target])]
    )
    return node.sql(dialect="mysql") + ";"


# --------------------------------------------------------------------------- the rule


def detect(workload: Workload) -> Iterable[Finding]:
    schema = workload.schema
    facts: _Facts | None = None
    cands: list[Candidate] = []
    evidence: dict[tuple[str, str], dict] = {}
    assumed: set[str] = set()
    for c in workload.classes:
        if not c.tables:
            continue
        parsed = workload.parsed(c)
        if parsed.error or parsed.expression is None:
            continue
        for cand in candidates(parsed.expression, c, schema):
            indexes, assumed_pk = _existing(schema, cand.key)
            cols, n_eq = cand.columns, len(cand.equality)
            if _point_lookup(cand.equality, indexes):
                continue
            if any(_fits(cols, n_eq, i.columns) for i in indexes):
                continue  # an existing index already delivers all of it
            if any(
                _equality_served(cand.equality, i) and _prefix_order(i.columns, cols, n_eq) is None
                for i in indexes
            ):
                continue  # its filter is served; only the tail differs (dexter drops these)
            _anchor(cand, indexes)
            if facts is None:
                facts = _gather_facts(workload)
            ev = _evidence(c, cand.key, facts)
            if ev is None:
                continue
            if assumed_pk:
                assumed.add(cand.key)
            evidence[(c.class_id, cand.key)] = ev
            cands.append(cand)
    if not cands:
        return []
    impact = {c.class_id: c.total_ms for c in workload.classes}
    findings = [
        _finding(g, workload, evidence, g.key in assumed, impact) for g in _merge(cands, impact)
    ]
    findings.sort(key=lambda f: -f.impact_ms)
    return findings


def _finding(
    g: _Group,
    workload: Workload,
    evidence: dict[tuple[str, str], dict],
    assumed_pk: bool,
    impact: dict[str, float],
) -> Finding:
    schema = workload.schema
    class_ids = list(dict.fromkeys(m.class_id for m in g.members))
    class_ids.sort(key=lambda i: -impact.get(i, 0.0))
    classes = [workload.by_id[i] for i in class_ids if i in workload.by_id]
    ms = sum(c.total_ms for c in classes)
    cols = g.columns
    table_sql = g.table.sql(dialect=sqltext.glot(g.dialect))
    indexes, _ = _existing(schema, g.key)
    extended = [
        i
        for i in indexes
        if not (i.unique or i.primary)
        and len(i.columns) < len(cols)
        and _lower(i.columns) == _lower(cols[: len(i.columns)])
    ]
    name = index_name(g.table.name, cols)
    # LIKE 'prefix%' needs the pattern operator class unless the column's collation is "C".
    like = {c: "text_pattern_ops" for c in g.like if g.dialect == "postgres" and c in g.rest[:1]}
    ddl = index_ddl(g.dialect, g.table, cols, name=name, desc=g.desc, opclass=like)
    fix_lines = [ddl]
    for old in extended:
        fix_lines.append(
            f"-- then drop {old.name}, which the new index makes redundant:\n"
            + drop_index_ddl(g.dialect, g.table, old.name)
        )
    preds = list(dict.fromkeys(p for m in g.members for p in m.predicates))
    why = list(dict.fromkeys(evidence[(m.class_id, g.key)]["text"] for m in g.members))
    verb = (
        f"Extend index {extended[0].name} on {table_sql} to" if extended else f"Index {table_sql}"
    )
    served = (
        f"{extended[0].name} serves only the first {len(extended[0].columns)} of these"
        if extended
        else "no index serves that"
    )
    detail = (
        f"{len(class_ids)} quer{'y class' if len(class_ids) == 1 else 'y classes'} "
        f"filter or sort {table_sql} by {', '.join(preds)} and {served}; "
        + "; ".join(why)
        + ". "
        + sqltext.describe_all(classes, MAX_CLASSES_IN_DETAIL)
        + "."
    )
    if like:
        detail += (
            f" {', '.join(like)} is matched with LIKE 'prefix%', which a b-tree serves only with"
            " text_pattern_ops (or the C collation)."
        )
    if extended:
        detail += f" The existing index {extended[0].name} ({', '.join(extended[0].columns)})"
        detail += " is a prefix of the new one."
    if assumed_pk:
        detail += (
            f" No schema given for {table_sql}: assumed `id` is its primary key and that it has"
            " no other index (pass --schema or --dsn to check)."
        )
    return Finding(
        rule=RULE_ID,
        severity=sqltext.time_severity(ms, workload),
        title=f"{verb} ({', '.join(cols)})",
        detail=detail,
        fix="\n".join(fix_lines),
        impact_ms=ms,
        query_class_ids=class_ids,
        tables=[sqltext.table_name(g.table)],
        columns=cols,
        verified=False,
        evidence={
            "table": sqltext.table_name(g.table),
            "index_columns": cols,
            "index_name": name,
            "ddl": ddl,
            "dialect": g.dialect,
            "equality_columns": list(g.equality),
            "range_column": next(
                (m.range_col for m in g.members if m.range_col and m.range_col in cols), None
            ),
            "sort_columns": [c for c in g.rest if c in g.desc],
            "extends_index": extended[0].name if extended else None,
            "assumed_primary_key": assumed_pk,
            "schema_source": schema.source,
            "per_class": {
                m.class_id: evidence[(m.class_id, g.key)]
                for m in sorted(g.members, key=lambda m: -impact.get(m.class_id, 0.0))
            },
        },
    )
