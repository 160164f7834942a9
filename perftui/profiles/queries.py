"""The questions the flame view, the sandwich view and the export ask of a stored profile.

Each reads precomputed rows (``flame_nodes``, ``functions``, ``call_edges``; see ``schema``) and
answers in a few milliseconds on a 100 k-stack profile: children filter on the parent's
pre-order id range, which DuckDB's zone maps prune to one row group. Weights are in the profile's
unit (samples, or µs for time-weighted speedscope files); ``Profile.ms`` converts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from perftui.store.results import first


@dataclass(frozen=True, slots=True)
class Profile:
    profile_id: int
    source_id: int
    format: str
    name: str | None
    path: str | None
    recorded_with_idle: bool | None
    rate_hz: float | None
    ms_per_weight: float | None
    weight_unit: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_s: float | None
    total_weight: int
    total_samples: int
    distinct_stacks: int
    threads: int
    processes: int
    root_node_id: int
    command: str | None

    def ms(self, weight: float) -> float | None:
        """Milliseconds that ``weight`` stands for (None when the interval is unknown)."""
        return None if self.ms_per_weight is None else weight * self.ms_per_weight


@dataclass(frozen=True, slots=True)
class Node:
    node_id: int
    parent_id: int | None
    depth: int
    frame_id: int | None  # None: the root ("all samples")
    function: str
    file: str | None
    line: int | None
    kind: str
    total: int
    self: int
    has_children: bool


@dataclass(frozen=True, slots=True)
class FunctionStat:
    func_id: int
    function: str
    file: str | None
    module: str | None
    kind: str
    first_line: int | None
    self: int
    total: int
    max_recursion: int


@dataclass(frozen=True, slots=True)
class Edge:
    """One caller or callee of a function in the sandwich view; ``func`` None = the root."""

    func: FunctionStat | None
    weight: int


@dataclass(frozen=True, slots=True)
class Sandwich:
    func: FunctionStat
    callers: list[Edge]
    callees: list[Edge]


@dataclass(frozen=True, slots=True)
class ThreadStat:
    thread: str | None  # None: recorded without --threads (all threads together)
    process: str | None
    weight: int


_PROFILE_COLS = (
    "p.profile_id, p.source_id, p.format, p.name, s.path, p.recorded_with_idle, p.rate_hz,"
    " p.ms_per_weight, p.weight_unit, p.started_at, p.ended_at, p.duration_s, p.total_weight,"
    " p.total_samples,"
    " p.distinct_stacks, p.threads, p.processes, p.root_node_id, p.command"
)
_NODE_COLS = (
    "n.node_id, n.parent_id, n.depth, n.frame_id, coalesce(f.function, 'all'), f.file, f.line,"
    " coalesce(f.kind, 'root'), n.total, n.self, n.last_id > n.node_id"
)
_FUNC_COLS = "func_id, function, file, module, kind, first_line, self, total, max_recursion"


def profiles(con: duckdb.DuckDBPyConnection) -> list[Profile]:
    rows = con.execute(
        f"SELECT {_PROFILE_COLS} FROM profiles p LEFT JOIN sources s USING (source_id)"
        " ORDER BY p.profile_id"
    ).fetchall()
    return [Profile(*r) for r in rows]


def profile(con: duckdb.DuckDBPyConnection, profile_id: int) -> Profile:
    row = first(
        con.execute(
            f"SELECT {_PROFILE_COLS} FROM profiles p LEFT JOIN sources s USING (source_id)"
            " WHERE p.profile_id = ?",
            [profile_id],
        )
    )
    if row is None:
        raise KeyError(f"no profile {profile_id}")
    return Profile(*row)


def root(con: duckdb.DuckDBPyConnection, profile_id: int) -> Node:
    """The synthetic root node: every sample of the profile."""
    return node(con, profile_id, profile(con, profile_id).root_node_id)


def node(con: duckdb.DuckDBPyConnection, profile_id: int, node_id: int) -> Node:
    row = first(
        con.execute(
            f"SELECT {_NODE_COLS} FROM flame_nodes n LEFT JOIN frames f USING (frame_id)"
            " WHERE n.node_id = ? AND n.profile_id = ?",
            [node_id, profile_id],
        )
    )
    if row is None:
        raise KeyError(f"no node {node_id} in profile {profile_id}")
    return Node(*row)


def children(con: duckdb.DuckDBPyConnection, profile_id: int, node_id: int) -> list[Node]:
    """The children of a flame node, heaviest first."""
    rows = con.execute(
        f"""
        WITH p AS (SELECT node_id, last_id FROM flame_nodes WHERE node_id = $n AND profile_id = $p)
        SELECT {_NODE_COLS}
        FROM flame_nodes n JOIN p ON n.parent_id = p.node_id
        LEFT JOIN frames f ON f.frame_id = n.frame_id
        WHERE n.node_id > $n AND n.node_id <= p.last_id
        ORDER BY n.total DESC, n.node_id
        """,
        {"n": node_id, "p": profile_id},
    ).fetchall()
    return [Node(*r) for r in rows]


def hottest_path(
    con: duckdb.DuckDBPyConnection, profile_id: int, from_node: int | None = None
) -> list[Node]:
    """From ``from_node`` (default the root) into the heaviest child, while that child weighs
    more than the node's own self time: the path ends where the time is spent."""
    start = from_node if from_node is not None else profile(con, profile_id).root_node_id
    info: dict[int, tuple[int | None, int, int]] = {}  # node -> (heavy child, total, self)

    def load(node: int) -> None:
        # A heavy child is a descendant, so usually within the next few thousand pre-order
        # ids: one read serves many levels.
        rows = con.execute(
            "SELECT node_id, heavy_child, total, self FROM flame_nodes"
            " WHERE profile_id = ? AND node_id BETWEEN ? AND ?",
            [profile_id, node, node + 4096],
        ).fetchall()
        info.update((r[0], r[1:]) for r in rows)

    ids = [start]
    cur = start
    while True:
        if cur not in info:
            load(cur)
        if cur not in info:
            break
        heavy, _total, self_w = info[cur]
        if heavy is None:
            break
        if heavy not in info:
            load(heavy)
        if info[heavy][1] <= self_w:
            break
        ids.append(heavy)
        cur = heavy
    rows = con.execute(
        f"SELECT {_NODE_COLS} FROM flame_nodes n LEFT JOIN frames f USING (frame_id)"
        " WHERE n.profile_id = ? AND n.node_id IN (SELECT unnest(?::BIGINT[])) ORDER BY n.depth",
        [profile_id, ids],
    ).fetchall()
    return [Node(*r) for r in rows]


def top_functions(
    con: duckdb.DuckDBPyConnection,
    profile_id: int,
    *,
    by: str = "self",
    limit: int = 50,
    kinds: tuple[str, ...] | None = None,
) -> list[FunctionStat]:
    """Functions (all lines of one function merged) by self or total weight."""
    if by not in ("self", "total"):
        raise ValueError("by must be 'self' or 'total'")
    other = "total" if by == "self" else "self"
    kind_sql = " AND kind IN (SELECT unnest($k::VARCHAR[]))" if kinds else ""
    params: dict = {"p": profile_id, "l": limit}
    if kinds:
        params["k"] = list(kinds)
    rows = con.execute(
        f"SELECT {_FUNC_COLS} FROM functions WHERE profile_id = $p AND {by} > 0{kind_sql}"
        f" ORDER BY {by} DESC, {other} DESC, func_id LIMIT $l",
        params,
    ).fetchall()
    return [FunctionStat(*r) for r in rows]


def function(con: duckdb.DuckDBPyConnection, profile_id: int, func_id: int) -> FunctionStat:
    row = first(
        con.execute(
            f"SELECT {_FUNC_COLS} FROM functions WHERE profile_id = ? AND func_id = ?",
            [profile_id, func_id],
        )
    )
    if row is None:
        raise KeyError(f"no function {func_id} in profile {profile_id}")
    return FunctionStat(*row)


def find_functions(
    con: duckdb.DuckDBPyConnection, profile_id: int, text: str, limit: int = 50
) -> list[FunctionStat]:
    """Functions whose name or file contains ``text`` (case-insensitive), heaviest first."""
    rows = con.execute(
        f"SELECT {_FUNC_COLS} FROM functions WHERE profile_id = ?"
        " AND (contains(lower(function), lower(?))"
        " OR contains(lower(coalesce(file, '')), lower(?)))"
        " ORDER BY total DESC LIMIT ?",
        [profile_id, text, text, limit],
    ).fetchall()
    return [FunctionStat(*r) for r in rows]


def _edges(
    con: duckdb.DuckDBPyConnection, profile_id: int, func_id: int, *, callers: bool
) -> list[Edge]:
    mine, other = ("callee_id", "caller_id") if callers else ("caller_id", "callee_id")
    rows = con.execute(
        f"""
        SELECT e.weight, {", ".join("f." + c for c in _FUNC_COLS.split(", "))}
        FROM call_edges e LEFT JOIN functions f ON f.func_id = e.{other}
        WHERE e.profile_id = ? AND e.{mine} = ?
        ORDER BY e.weight DESC, e.{other}
        """,
        [profile_id, func_id],
    ).fetchall()
    return [Edge(FunctionStat(*r[1:]) if r[1] is not None else None, r[0]) for r in rows]


def callers(con: duckdb.DuckDBPyConnection, profile_id: int, func_id: int) -> list[Edge]:
    """Who calls the function, merged over all its call sites (weight: samples under the call)."""
    return _edges(con, profile_id, func_id, callers=True)


def callees(con: duckdb.DuckDBPyConnection, profile_id: int, func_id: int) -> list[Edge]:
    """What the function calls, merged over all its call sites."""
    return _edges(con, profile_id, func_id, callers=False)


def sandwich(con: duckdb.DuckDBPyConnection, profile_id: int, func_id: int) -> Sandwich:
    """speedscope's sandwich: the function with its callers above and callees below."""
    return Sandwich(
        function(con, profile_id, func_id),
        callers(con, profile_id, func_id),
        callees(con, profile_id, func_id),
    )


def threads(con: duckdb.DuckDBPyConnection, profile_id: int) -> list[ThreadStat]:
    """Threads (and processes) by weight. py-spy names a thread only once it knows the name
    (``thread (9111)`` then ``thread (9111): MainThread``): both count as the named one."""
    rows = con.execute(
        """
        WITH t AS (
            SELECT process, thread, regexp_extract(thread, '^thread \\(([^)]*)\\)', 1) AS tid,
                   sum(weight) AS w
            FROM stacks WHERE profile_id = ? GROUP BY ALL
        )
        SELECT max(thread) AS thread, process, sum(w) AS w
        FROM t GROUP BY process, coalesce(tid, thread)
        ORDER BY w DESC, thread
        """,
        [profile_id],
    ).fetchall()
    return [ThreadStat(r[0], r[1], int(r[2])) for r in rows]
