"""What the app reads from the store, as plain data: no Textual here, parameterised SQL only.

Every function takes a DuckDB cursor, so a worker thread owns the connection it reads through.
Per-class statistics go through ``perftui.store.queries`` (the same code the reports use); the
Queries table pages from a small summary table that ``build_class_cache`` computes once into an
in-memory database attached as ``tui_cache``, so sorting and filtering 50 k classes is a few
milliseconds and never rescans the entries.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from perftui.profiles import queries as pq
from perftui.store import queries, schema
from perftui.store.queries import ClassStats
from perftui.store.results import first

if TYPE_CHECKING:
    # The rules pull in sqlglot: imported where findings are used, not at start-up.
    from perftui.rules.base import Finding

CACHE = "tui_cache"

# Sort keys the Queries screen offers, mapped to cache columns (never to user text).
SORTS: dict[str, str] = {
    "time": "total_ms",
    "count": "cnt",
    "p95": "p95_ms",
    "rows": "rows_examined",
}


class StoreClosed(Exception):
    """The store was closed (the app is quitting) or the read was interrupted because a newer
    one replaced it; the worker reading it just stops."""


class Store:
    """One read-only connection to the store file; each worker reads through its own cursor.

    Read-only so that several viewers (and ``perftui analyze --db``) can share a file. ``close``
    interrupts running queries, so quitting never waits for a long aggregate to finish.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._con = schema.connect(self.path, read_only=True)
        # DuckDB shares one instance per file within a process: a cache left by an earlier
        # Store on the same file (tests, re-opening after an ingest) is dropped, not reused.
        self._con.execute(f"DETACH DATABASE IF EXISTS {CACHE}")
        self._con.execute(f"ATTACH ':memory:' AS {CACHE} (READ_WRITE)")
        self._lock = threading.Lock()
        self._active: set[duckdb.DuckDBPyConnection] = set()
        self._tagged: dict[object, duckdb.DuckDBPyConnection] = {}
        self._closed = False

    @contextmanager
    def cursor(self, tag: object = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own for one worker; ``tag`` names it for ``interrupt``."""
        with self._lock:
            if self._closed:
                raise StoreClosed
            cur = self._con.cursor()
            self._active.add(cur)
            if tag is not None:
                self._tagged[tag] = cur
        try:
            yield cur
        except duckdb.Error as exc:
            if self._closed or isinstance(exc, duckdb.InterruptException):
                raise StoreClosed from None
            raise
        finally:
            with self._lock:
                self._active.discard(cur)
                if tag is not None and self._tagged.get(tag) is cur:
                    del self._tagged[tag]
            with suppress(duckdb.Error):
                cur.close()

    def interrupt(self, tag: object) -> None:
        """Stop the query of the cursor tagged ``tag`` (a read the user has superseded)."""
        with self._lock:
            cur = self._tagged.get(tag)
        if cur is not None:
            with suppress(duckdb.Error):
                cur.interrupt()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            active = list(self._active)
        for cur in active:
            with suppress(duckdb.Error):
                cur.interrupt()
        with suppress(duckdb.Error):
            self._con.close()


# --------------------------------------------------------------------------- overview


@dataclass(frozen=True, slots=True)
class TopClass:
    class_id: str
    fingerprint: str
    count: int
    total_ms: float


@dataclass(slots=True)
class Headline:
    entries: int
    queries: int
    total_ms: float
    first_ts: dt.datetime | None
    last_ts: dt.datetime | None
    sources: int
    profiles: list[ProfileSummary]


@dataclass(slots=True)
class Timeline:
    ms: list[float]  # query time per bucket, gaps filled with 0 (so spikes show)
    slowest: list[float]  # slowest query per bucket
    bucket_s: float


def profile_list(cur: duckdb.DuckDBPyConnection) -> list[pq.Profile]:
    """The stored profiles (none when no profile was ever ingested: no profile tables yet)."""
    exists = first(
        cur.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_catalog = current_database() AND table_name = 'profiles'"
        )
    )[0]
    return pq.profiles(cur) if exists else []


def headline(cur: duckdb.DuckDBPyConnection) -> Headline:
    """The Overview's first lines: entries, queries, time, time range, sources, profiles.

    ``queries.totals`` also counts distinct classes, which is most of its cost on a cold
    10 M-entry store; the Overview takes the class count from the class summary instead, so
    these numbers paint first. (The three Overview reads run in parallel, each painting its
    part.)
    """
    row = first(
        cur.execute(
            """SELECT count(*), count(*) FILTER (WHERE kind = 'query'),
                  coalesce(sum(duration_ms) FILTER (WHERE kind = 'query'), 0), min(ts), max(ts)
           FROM entries"""
        )
    )
    return Headline(
        *row,
        sources=first(cur.execute("SELECT count(*) FROM sources"))[0],
        profiles=[profile_summary(cur, p) for p in profile_list(cur)],
    )


def top_classes(cur: duckdb.DuckDBPyConnection, top: int = 10) -> list[TopClass]:
    """The classes with the most query time (count and time only: one cheap GROUP BY)."""
    rows = cur.execute(
        """SELECT a.class_id, c.fingerprint, a.cnt, a.total_ms
           FROM (SELECT class_id, count(*) AS cnt, coalesce(sum(duration_ms), 0) AS total_ms
                 FROM entries WHERE kind = 'query' AND class_id IS NOT NULL
                 GROUP BY class_id ORDER BY total_ms DESC, class_id LIMIT ?) a
           JOIN query_classes c USING (class_id) ORDER BY a.total_ms DESC, a.class_id""",
        [top],
    ).fetchall()
    return [TopClass(*r) for r in rows]


def timeline(cur: duckdb.DuckDBPyConnection, buckets: int = 60) -> Timeline:
    """Query time per time bucket over the whole store (``buckets`` columns, ≥ 1 s each)."""
    start, last = first(cur.execute("SELECT min(ts), max(ts) FROM entries WHERE kind = 'query'"))
    if start is None or last is None:
        return Timeline([], [], 0.0)
    length = max((last - start).total_seconds(), 1.0)
    bucket_s = max(length / buckets, 1.0)
    ms = [0.0] * (int(length // bucket_s) + 1)
    slowest = [0.0] * len(ms)
    for b, total, top in cur.execute(
        """SELECT CAST(floor(epoch(ts - ?) / ?) AS BIGINT) AS b,
                  coalesce(sum(duration_ms), 0), coalesce(max(duration_ms), 0)
           FROM entries WHERE kind = 'query' AND ts IS NOT NULL GROUP BY b ORDER BY b""",
        [start, bucket_s],
    ).fetchall():
        i = min(max(int(b), 0), len(ms) - 1)
        ms[i] += total
        slowest[i] = max(slowest[i], top)
    return Timeline(ms, slowest, bucket_s)


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    profile: pq.Profile
    hottest: pq.FunctionStat | None  # most self time


def profile_summary(cur: duckdb.DuckDBPyConnection, p: pq.Profile) -> ProfileSummary:
    top = pq.top_functions(cur, p.profile_id, by="self", limit=1)
    return ProfileSummary(p, top[0] if top else None)


# --------------------------------------------------------------------------- queries table


def build_class_cache(cur: duckdb.DuckDBPyConnection) -> int:
    """Summarise every class once: count, time, p95, rows, and the users and databases seen
    (lower-cased, joined by US characters, so filtering is a string search per class).

    Returns the number of classes. Runs once per app start; everything the Queries table does
    afterwards reads only this small table.
    """
    cur.execute(
        f"""CREATE OR REPLACE TABLE {CACHE}.classes AS
            WITH a AS (
                SELECT class_id, count(*) AS cnt, coalesce(sum(duration_ms), 0) AS total_ms,
                       quantile_cont(duration_ms, 0.95) AS p95_ms, max(duration_ms) AS max_ms,
                       sum(rows_examined) AS rows_examined
                FROM entries WHERE kind = 'query' AND class_id IS NOT NULL GROUP BY class_id
            ), who AS (
                SELECT DISTINCT class_id, user_name, db FROM entries
                WHERE kind = 'query' AND class_id IS NOT NULL
            ), w AS (
                SELECT class_id, lower(string_agg(DISTINCT user_name, chr(31))) AS users_lc,
                       lower(string_agg(DISTINCT db, chr(31))) AS dbs_lc
                FROM who GROUP BY class_id
            )
            SELECT a.class_id, c.fingerprint, c.dialect, a.cnt, a.total_ms, a.p95_ms, a.max_ms,
                   a.rows_examined, coalesce(c.tables, []) AS tables,
                   coalesce(w.users_lc, '') AS users_lc, coalesce(w.dbs_lc, '') AS dbs_lc
            FROM a JOIN query_classes c USING (class_id) LEFT JOIN w USING (class_id)"""
    )
    return first(cur.execute(f"SELECT count(*) FROM {CACHE}.classes"))[0]


def update_cached_tables(cur: duckdb.DuckDBPyConnection, tables: dict[str, list[str]]) -> None:
    """Fill in tables of classes the store had not parsed yet (the advisor parsed them)."""
    if not tables:
        return
    import pyarrow as pa  # ~100 ms to import: only once the advisor has answered

    update = pa.table(
        {
            "class_id": list(tables),
            "tables": pa.array(list(tables.values()), pa.list_(pa.string())),
        }
    )
    cur.register("_tui_tables", update)
    try:
        cur.execute(
            f"UPDATE {CACHE}.classes SET tables = u.tables FROM _tui_tables u"
            f" WHERE {CACHE}.classes.class_id = u.class_id AND len({CACHE}.classes.tables) = 0"
        )
    finally:
        cur.unregister("_tui_tables")


@dataclass(frozen=True, slots=True)
class ClassFilter:
    """What the Queries table shows: free text plus ``table:`` ``user:`` ``db:`` terms."""

    text: str = ""
    table: str = ""
    user: str = ""
    db: str = ""

    _TERM = re.compile(r"\b(table|user|db|database):(\S*)", re.IGNORECASE)

    @classmethod
    def parse(cls, value: str) -> ClassFilter:
        """``orders user:app slow`` → text "orders slow", user "app" (last term of a kind wins)."""
        terms: dict[str, str] = {}

        def take(m: re.Match[str]) -> str:
            key = m.group(1).lower()
            terms["db" if key == "database" else key] = m.group(2)
            return " "

        text = " ".join(cls._TERM.sub(take, value).split())
        return cls(text=text, **terms)

    def __str__(self) -> str:
        parts = [self.text] if self.text else []
        parts += [
            f"{k}:{v}"
            for k, v in (("table", self.table), ("user", self.user), ("db", self.db))
            if v
        ]
        return " ".join(parts)

    def where(self) -> tuple[str, list[Any]]:
        """SQL conditions over the cache, with the user's text only ever as parameters."""
        clauses, params = [], []
        if self.text:
            clauses.append("(contains(lower(fingerprint), lower(?)) OR class_id = upper(?))")
            params += [self.text, self.text]
        if self.table:
            clauses.append("len(list_filter(tables, lambda t: contains(lower(t), lower(?)))) > 0")
            params.append(self.table)
        if self.user:
            clauses.append("contains(users_lc, lower(?))")
            params.append(self.user)
        if self.db:
            clauses.append("contains(dbs_lc, lower(?))")
            params.append(self.db)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


@dataclass(frozen=True, slots=True)
class ClassRow:
    class_id: str
    fingerprint: str
    dialect: str
    count: int
    total_ms: float
    p95_ms: float | None
    max_ms: float | None
    rows_examined: int | None
    tables: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[ClassRow]
    offset: int
    matching: int  # classes the filter matches
    total_ms: float  # time in all classes (for the share column)


def class_page(
    cur: duckdb.DuckDBPyConnection,
    flt: ClassFilter,
    sort: str = "time",
    *,
    ascending: bool = False,
    offset: int = 0,
    limit: int = 20,
) -> Page:
    """One page of the Queries table, sorted and filtered inside DuckDB."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    where, params = flt.where()
    direction = "ASC" if ascending else "DESC"
    sql = f"""SELECT class_id, fingerprint, dialect, cnt, total_ms, p95_ms, max_ms,
                     rows_examined, tables, count(*) OVER () AS matching
              FROM {CACHE}.classes{where}
              ORDER BY {SORTS[sort]} {direction} NULLS LAST, class_id LIMIT ? OFFSET ?"""
    offset = max(0, offset)
    rows = cur.execute(sql, [*params, limit, offset]).fetchall()
    if rows:
        matching = rows[0][9]
    else:  # past the end (the filter shrank the list): the count, then the last page
        matching = first(cur.execute(f"SELECT count(*) FROM {CACHE}.classes{where}", params))[0]
        offset = max(0, matching - limit)
        rows = cur.execute(sql, [*params, limit, offset]).fetchall() if matching else []
    all_ms = first(cur.execute(f"SELECT coalesce(sum(total_ms), 0) FROM {CACHE}.classes"))[0]
    return Page(
        rows=[ClassRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], tuple(r[8])) for r in rows],
        offset=offset,
        matching=matching,
        total_ms=all_ms,
    )


# --------------------------------------------------------------------------- query detail


@dataclass(frozen=True, slots=True)
class Sample:
    ts: dt.datetime | None
    duration_ms: float | None
    user: str | None
    db: str | None
    host: str | None
    rows_sent: int | None
    rows_examined: int | None
    query: str


@dataclass(slots=True)
class ClassDetail:
    stats: ClassStats
    pretty: str  # the fingerprint, pretty-printed when sqlglot could, else as stored
    tables: list[str]
    parse_error: str | None


@dataclass(slots=True)
class ClassExamples:
    samples: list[Sample]
    plan: str | None
    plan_ms: float | None


def class_detail(cur: duckdb.DuckDBPyConnection, class_id: str) -> ClassDetail | None:
    """Statistics and SQL of one class (None when it has no queries). Samples and plan come
    from ``class_examples``, a second read that runs in parallel: each scans the entries."""
    stats = queries.class_stats(cur, class_ids=[class_id])
    if not stats:
        return None
    c = stats[0]
    tables, parse_error = first(
        cur.execute(
            "SELECT coalesce(tables, []), parse_error FROM query_classes WHERE class_id = ?",
            [class_id],
        )
    )
    return ClassDetail(c, pretty_sql(c.fingerprint, c.dialect), list(tables), parse_error)


def class_examples(
    cur: duckdb.DuckDBPyConnection, class_id: str, samples: int = 3
) -> ClassExamples:
    """The slowest distinct statements of a class, and its slowest logged plan (one scan)."""
    rows = cur.execute(
        """WITH c AS MATERIALIZED (
               SELECT ts, duration_ms, user_name, db, host, rows_sent, rows_examined, query, plan
               FROM entries WHERE class_id = ? AND kind = 'query'
           )
           SELECT false, ts, duration_ms, user_name, db, host, rows_sent, rows_examined, query
           FROM (SELECT * FROM c WHERE query IS NOT NULL
                 QUALIFY row_number() OVER (PARTITION BY query
                                            ORDER BY duration_ms DESC NULLS LAST) = 1
                 ORDER BY duration_ms DESC NULLS LAST LIMIT ?)
           UNION ALL
           SELECT true, NULL, duration_ms, NULL, NULL, NULL, NULL, NULL, plan
           FROM (SELECT * FROM c WHERE plan IS NOT NULL AND plan <> ''
                 ORDER BY duration_ms DESC NULLS LAST LIMIT 1)""",
        [class_id, samples],
    ).fetchall()
    found = [Sample(*r[1:]) for r in rows if not r[0]]
    found.sort(key=lambda s: -(s.duration_ms or 0))
    plan = next((r for r in rows if r[0]), None)
    return ClassExamples(found, plan[8] if plan else None, plan[2] if plan else None)


_LIST = "__perftui_list__"
MAX_PRETTY_CHARS = 20_000


def pretty_sql(sql: str, dialect: str) -> str:
    """``sql`` laid out on lines by sqlglot; as given when sqlglot cannot or should not parse it.

    Parsing goes through ``parsing.parse_statement``, so a hostile fingerprint (nested
    ``ARRAY[``, thousands of casts…) meets the same bounds as in ``analyze`` and is shown as
    stored instead of hanging the worker. Fingerprints write a collapsed list as ``?+``, which is
    no SQL: it becomes an identifier for the round trip and comes back afterwards.
    """
    if not sql or len(sql) > MAX_PRETTY_CHARS:
        return sql
    from sqlglot import errors, exp  # imported when a class is opened, not at start-up

    from perftui.rules import parsing

    tree = parsing.parse_statement(sql.replace("?+", _LIST), dialect).expression
    if tree is None or isinstance(tree, exp.Block):  # refused, unparseable, several statements
        return sql
    try:
        out = tree.sql(dialect=parsing.sqlglot_dialect(dialect), pretty=True)
    except (errors.SqlglotError, RecursionError, ValueError):
        return sql
    return out.replace(_LIST, "?+")


# --------------------------------------------------------------------------- findings


@dataclass(slots=True)
class Analysis:
    """What the advisor found (``perftui.tui.advisor`` computes it in a child process)."""

    findings: list[Finding]
    class_tables: dict[str, list[str]] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)  # of classes findings name


def grouped_by_rule(findings: list[Finding]) -> list[tuple[str, list[Finding]]]:
    """Findings grouped by rule; groups ranked by their total impact, findings by impact."""
    from perftui.rules.base import severity_rank

    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.rule, []).append(f)
    ranked = sorted(
        groups.items(),
        key=lambda kv: (
            -max(severity_rank(f.severity) for f in kv[1]),
            -sum(f.impact_ms for f in kv[1]),
            kv[0],
        ),
    )
    return [
        (rule, sorted(fs, key=lambda f: (-f.impact_ms, -severity_rank(f.severity))))
        for rule, fs in ranked
    ]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a finding or a link leads: a query class or a profiled function."""

    kind: str  # "class" | "function"
    key: str  # class id, or function name
    file: str | None = None
    line: int | None = None
    label: str = ""


def link_target(link: dict[str, Any]) -> Target | None:
    """Read one ``Finding.links`` entry: a query class id or a function (file:line)."""
    for key in ("query_class_id", "class_id"):
        if link.get(key):
            return Target("class", str(link[key]), label=str(link.get("label") or link[key]))
    for key in ("function", "call_site", "frame"):
        value = link.get(key)
        if value:
            line = link.get("line")
            return Target(
                "function",
                str(value),
                file=str(link["file"]) if link.get("file") else None,
                line=int(line) if isinstance(line, int | str) and str(line).isdigit() else None,
                label=str(link.get("label") or value),
            )
    return None


def finding_targets(f: Finding) -> list[Target]:
    """Where Enter on a finding can go, the most useful first (its classes, then its links)."""
    out = [Target("class", cid, label=cid) for cid in f.query_class_ids]
    out += [t for t in (link_target(link) for link in f.links) if t is not None]
    if not out and f.evidence.get("function"):
        ev = f.evidence
        out.append(Target("function", str(ev["function"]), ev.get("file"), ev.get("line")))
    return out


def public_evidence(f: Finding, show_literals: bool) -> dict[str, Any]:
    """The evidence the report would show: items quoting logged values only when asked."""
    from perftui.report.model import LITERAL_EVIDENCE_KEYS  # with the rules: not at start-up

    if show_literals:
        return dict(f.evidence)
    return {k: v for k, v in f.evidence.items() if k not in LITERAL_EVIDENCE_KEYS}


# --------------------------------------------------------------------------- palette


@dataclass(frozen=True, slots=True)
class NamedClass:
    class_id: str
    fingerprint: str
    total_ms: float


def fuzzy_pattern(query: str) -> str:
    """A LIKE pattern matching ``query``'s characters in order (the palette's fuzzy rule)."""
    out = ["%"]
    for ch in query.lower():
        if ch.isspace():
            continue
        out.append("\\" + ch if ch in "%_\\" else ch)
        out.append("%")
    return "".join(out)


def search_classes(cur: duckdb.DuckDBPyConnection, query: str, limit: int = 40) -> list[NamedClass]:
    """Classes whose fingerprint or id fuzzily contains ``query``, heaviest first."""
    pattern = fuzzy_pattern(query)
    rows = cur.execute(
        f"""SELECT class_id, fingerprint, total_ms FROM {CACHE}.classes
            WHERE lower(fingerprint) LIKE ? ESCAPE '\\' OR lower(class_id) LIKE ? ESCAPE '\\'
            ORDER BY total_ms DESC, class_id LIMIT ?""",
        [pattern, pattern, limit],
    ).fetchall()
    return [NamedClass(*r) for r in rows]


def search_tables(cur: duckdb.DuckDBPyConnection, query: str, limit: int = 20) -> list[str]:
    rows = cur.execute(
        f"""SELECT t, sum(total_ms) AS ms FROM (SELECT unnest(tables) AS t, total_ms
                                              FROM {CACHE}.classes)
            WHERE lower(t) LIKE ? ESCAPE '\\' GROUP BY t ORDER BY ms DESC, t LIMIT ?""",
        [fuzzy_pattern(query), limit],
    ).fetchall()
    return [r[0] for r in rows]


def search_functions(cur: duckdb.DuckDBPyConnection, query: str, limit: int = 20) -> list[Any]:
    """Profiled functions (any profile) whose name or file fuzzily contains ``query``."""
    if not profile_list(cur):
        return []
    pattern = fuzzy_pattern(query)
    rows = cur.execute(
        """SELECT profile_id, func_id, function, file, first_line, total FROM functions
           WHERE lower(function) LIKE ? ESCAPE '\\'
              OR lower(function || ' ' || coalesce(file, '')) LIKE ? ESCAPE '\\'
           ORDER BY total DESC, func_id LIMIT ?""",
        [pattern, pattern, limit],
    ).fetchall()
    return [NamedFunction(*r) for r in rows]


@dataclass(frozen=True, slots=True)
class NamedFunction:
    profile_id: int
    func_id: int
    function: str
    file: str | None
    line: int | None
    total: int


# --------------------------------------------------------------------------- flame graph


def flame_window(
    cur: duckdb.DuckDBPyConnection, profile_id: int, top: pq.Node, levels: int, min_total: float
) -> list[pq.Node]:
    """The part of ``top``'s subtree a flame view can draw: ``levels`` deep, frames of at least
    ``min_total`` weight (anything lighter is narrower than a character cell).

    One read of the subtree's pre-order id range, however many frames are visible; a frame's
    ancestors always weigh at least as much, so the result is a connected tree.
    """
    rows = cur.execute(
        """SELECT n.node_id, n.parent_id, n.depth, n.frame_id, coalesce(f.function, 'all'),
                  f.file, f.line, coalesce(f.kind, 'root'), n.total, n.self,
                  n.last_id > n.node_id
           FROM flame_nodes n LEFT JOIN frames f ON f.frame_id = n.frame_id
           WHERE n.profile_id = ? AND n.node_id BETWEEN ? AND
                 (SELECT last_id FROM flame_nodes WHERE profile_id = ? AND node_id = ?)
             AND n.depth <= ? AND n.total >= ?
           ORDER BY n.node_id""",
        [profile_id, top.node_id, profile_id, top.node_id, top.depth + levels - 1, min_total],
    ).fetchall()
    return [pq.Node(*r) for r in rows]


@dataclass(frozen=True, slots=True)
class FlameMatch:
    text: str
    weight: int  # samples under a matching frame (nested matches counted once)
    frames: int  # matching frames


def flame_search(
    cur: duckdb.DuckDBPyConnection, profile_id: int, top: pq.Node, text: str
) -> FlameMatch:
    """How much of ``top``'s subtree sits under a frame whose function or file contains
    ``text``: a match nested in another match is not counted twice."""
    row = first(
        cur.execute(
            """WITH m AS (
               SELECT n.node_id, n.last_id, n.total
               FROM flame_nodes n JOIN frames f ON f.frame_id = n.frame_id
               WHERE n.profile_id = ? AND n.node_id BETWEEN ? AND
                     (SELECT last_id FROM flame_nodes WHERE profile_id = ? AND node_id = ?)
                 AND (contains(lower(f.function), lower(?))
                      OR contains(lower(coalesce(f.file, '')), lower(?)))
           ), o AS (
               SELECT total, node_id > coalesce(max(last_id) OVER (
                   ORDER BY node_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), -1)
                   AS outermost
               FROM m
           )
           SELECT coalesce(sum(total) FILTER (WHERE outermost), 0), count(*) FROM o""",
            [profile_id, top.node_id, profile_id, top.node_id, text, text],
        )
    )
    return FlameMatch(text, int(row[0]), int(row[1]))


def resolve_function(
    cur: duckdb.DuckDBPyConnection, profile_id: int, name: str, file: str | None
) -> pq.FunctionStat | None:
    """The profiled function called ``name`` (in ``file`` when given), heaviest if several."""
    rows = cur.execute(
        """SELECT func_id FROM functions WHERE profile_id = ? AND function = ?
           ORDER BY (file IS NOT DISTINCT FROM ?) DESC, total DESC LIMIT 1""",
        [profile_id, name, file],
    ).fetchall()
    return pq.function(cur, profile_id, rows[0][0]) if rows else None
