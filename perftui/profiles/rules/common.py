"""What the profile rules share: the profile being read, frame categories and "first hit" stacks.

A profile rule asks one question in several shapes: which samples pass through code of some
category (database driver, network client, serializer, import machinery), where the first such
frame is, and which application frame called into it. ``first_hits`` answers that in DuckDB
over the distinct stacks, so the rules cost the same on a 100 k-stack profile as on a small one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb

from perftui.profiles import queries
from perftui.profiles.source import SourceFinder

DEFAULT_INTERVAL_MS = 10.0  # py-spy's default rate, 100 Hz
CHAIN_FRAMES = 8  # frames of the path into a library kept for a finding's text
HEAD_FRAMES = 3  # frames from the root kept to tell the main thread from workers

# Database drivers by top-level module (SQLAlchemy only where the engine executes).
DB_MODULES = {
    "psycopg": "psycopg",
    "psycopg_pool": "psycopg_pool",
    "psycopg2": "psycopg2",
    "pymysql": "pymysql",
    "MySQLdb": "mysqlclient",
    "sqlite3": "sqlite3",
    "asyncpg": "asyncpg",
    "aiomysql": "aiomysql",
    "aiopg": "aiopg",
    "oracledb": "oracledb",
}
DB_NATIVE_FILES = {
    "_psycopg": "psycopg2",
    "libpq": "libpq",
    "_sqlite3": "sqlite3",
    "libsqlite3": "sqlite3",
    "_mysql": "mysqlclient",
    "libmariadb": "mysqlclient",
    "libmysqlclient": "mysqlclient",
}
NET_MODULES = {
    "socket": "socket",
    "ssl": "ssl",
    "http.client": "http.client",
    "urllib.request": "urllib",
    "urllib3": "urllib3",
    "requests": "requests",
    "httpx": "httpx",
    "httpcore": "httpcore",
    "smtplib": "smtplib",
    "ftplib": "ftplib",
    "redis": "redis",
    "botocore": "botocore",
    "grpc": "grpc",
}
SERIALIZATION_MODULES = {
    "json": "json",
    "simplejson": "json",
    "pickle": "pickle",
    "copyreg": "pickle",
    "gzip": "gzip",
    "zlib": "zlib",
    "bz2": "bz2",
    "lzma": "lzma",
    "zstandard": "zstandard",
    "yaml": "yaml",
    "msgpack": "msgpack",
    "orjson": "json",
    "ujson": "json",
}
SERIALIZATION_NATIVE = {"_json": "json", "_pickle": "pickle", "zlib": "zlib", "libz.": "zlib"}
# Leaves where a thread sits blocked (what py-spy only samples with --idle).
WAIT_MODULES = (
    "selectors",
    "socket",
    "ssl",
    "threading",
    "queue",
    "subprocess",
    "multiprocessing.connection",
    "psycopg.waiting",
    "asyncio.base_events",
)
_WAIT_NAME = re.compile(
    r"(?i)(^|[._])(wait\w*|select|poll|recv\w*|read\w*|accept|acquire|sleep|"
    r"join|get)$"
)


_THREAD_ID = re.compile(r"^thread \(([^)]*)\)")


@dataclass(frozen=True, slots=True)
class FrameRow:
    frame_id: int
    func_id: int
    function: str
    file: str | None
    line: int | None
    module: str | None
    kind: str

    def where(self) -> dict[str, Any]:
        """The evidence keys every finding carries: function, file, line."""
        return {"function": self.function, "file": self.file, "line": self.line}

    def label(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line is not None else (self.file or "?")
        return f"{self.function} ({loc})"


def library_of(frame: FrameRow, modules: dict[str, str], native: dict[str, str]) -> str | None:
    """The entry of ``modules`` (by dotted-module prefix) or ``native`` (by file) a frame is in."""
    if frame.kind == "native":
        file = frame.file or ""
        for key, name in native.items():
            if key in file:
                return name
        return None
    module = frame.module
    if not module or frame.kind in ("thread", "process", "application"):
        return None
    while True:
        hit = modules.get(module)
        if hit is not None:
            return hit
        if "." not in module:
            return None
        module = module.rsplit(".", 1)[0]


def db_driver(frame: FrameRow) -> str | None:
    """The database driver a frame belongs to (SQLAlchemy: only its engine's execution)."""
    if (
        frame.module
        and frame.kind != "application"
        and (frame.module == "sqlalchemy.engine" or frame.module.startswith("sqlalchemy.engine."))
    ):
        return "SQLAlchemy engine"
    return library_of(frame, DB_MODULES, DB_NATIVE_FILES)


def is_wait_leaf(frame: FrameRow) -> bool:
    """A leaf frame where a thread waits (lock, socket, select, a driver's wait loop)."""
    if frame.kind == "native":
        return bool(re.search(r"(?i)wait|poll|select|recv|read|futex|sleep|accept", frame.function))
    module = frame.module or ""
    in_wait_module = any(module == m or module.startswith(m + ".") for m in WAIT_MODULES)
    return in_wait_module or (
        db_driver(frame) is not None and bool(_WAIT_NAME.search(frame.function))
    )


@dataclass(frozen=True, slots=True)
class Hit:
    """One distinct stack that reaches a frame of the asked category."""

    weight: int
    thread: str | None
    hit: FrameRow  # the first (outermost) frame of the category
    site: FrameRow | None  # the nearest application frame above it (its call site)
    site_caller: FrameRow | None  # the frame that called the call site
    chain: tuple[FrameRow, ...]  # the hit and up to CHAIN_FRAMES - 1 frames below it
    head: tuple[FrameRow, ...]  # the first HEAD_FRAMES frames of the stack (thread/process, root)
    main_thread: bool


@dataclass
class ProfileContext:
    """One stored profile as the rules read it."""

    con: duckdb.DuckDBPyConnection
    profile: queries.Profile
    finder: SourceFinder = field(init=False)

    def __post_init__(self) -> None:
        roots: list[Path] = []
        if self.profile.path and self.profile.path != "-":
            here = Path(self.profile.path).resolve().parent
            roots += [here, here.parent]
        if self.profile.command:
            for word in self.profile.command.split():
                if word.endswith(".py") and Path(word).is_file():
                    roots.append(Path(word).resolve().parent)
        self.finder = SourceFinder(roots)

    @property
    def pid(self) -> int:
        return self.profile.profile_id

    @cached_property
    def frames(self) -> dict[int, FrameRow]:
        rows = self.con.execute(
            "SELECT frame_id, func_id, function, file, line, module, kind FROM frames"
            " WHERE profile_id = ?",
            [self.pid],
        ).fetchall()
        return {r[0]: FrameRow(*r) for r in rows}

    @property
    def interval_assumed(self) -> bool:
        return self.profile.ms_per_weight is None

    @property
    def ms_per_weight(self) -> float:
        return self.profile.ms_per_weight or DEFAULT_INTERVAL_MS

    def ms(self, weight: float) -> float:
        return weight * self.ms_per_weight

    def share(self, weight: float) -> float:
        return weight / self.profile.total_weight if self.profile.total_weight else 0.0

    def base_evidence(self) -> dict[str, Any]:
        return {
            "profile_id": self.pid,
            "profile": self.profile.name or self.profile.path,
            "total_weight": self.profile.total_weight,
            "weight_unit": self.profile.weight_unit,
            "interval_ms": self.ms_per_weight,
            "interval_assumed": self.interval_assumed,
        }

    def timing_note(self) -> str:
        """Appended to a time: py-spy's raw format does not record its sampling rate."""
        return " at an assumed 100 Hz" if self.interval_assumed else ""

    def frame_ids(self, pred: Callable[[FrameRow], bool]) -> list[int]:
        return [f.frame_id for f in self.frames.values() if pred(f)]

    def first_hits(
        self, frame_ids: Iterable[int], *, imports: bool = False, not_under: Iterable[int] = ()
    ) -> list[Hit]:
        """Stacks holding one of ``frame_ids``: the first such frame, the application frame
        just above it (its call site) and the path below it, summed over identical answers.

        Stacks inside import machinery are left out unless ``imports`` (a module's top-level
        code is not its work), and so are stacks where a ``not_under`` frame sits above the hit
        (a socket under a database driver is the driver's wait).
        """
        ids = list(frame_ids)
        if not ids:
            return []
        skip_any = [] if imports else self.frame_ids(lambda f: f.kind == "import")
        rows = self.con.execute(
            f"""
            WITH u AS (
                SELECT stack_id, unnest(frame_ids) AS fid, generate_subscripts(frame_ids, 1) AS pos
                FROM stacks WHERE profile_id = $p
            ),
            hit AS (
                SELECT stack_id, min(pos) AS hp FROM u
                WHERE fid IN (SELECT unnest($ids::INTEGER[])) GROUP BY stack_id
            ),
            site AS (
                SELECT u.stack_id, max(u.pos) AS sp FROM u JOIN hit USING (stack_id)
                WHERE u.pos < hit.hp AND u.fid IN (
                    SELECT frame_id FROM frames WHERE profile_id = $p AND kind = 'application')
                GROUP BY u.stack_id
            )
            SELECT sum(s.weight), s.thread, s.frame_ids[hit.hp:hit.hp + {CHAIN_FRAMES - 1}],
                   s.frame_ids[site.sp],
                   CASE WHEN site.sp > 1 THEN s.frame_ids[site.sp - 1] END,
                   s.frame_ids[1:least(hit.hp - 1, {HEAD_FRAMES})]
            FROM hit JOIN stacks s USING (stack_id) LEFT JOIN site USING (stack_id)
            WHERE NOT list_has_any(s.frame_ids, $skip_any::INTEGER[])
              AND NOT list_has_any(s.frame_ids[1:hit.hp - 1], $not_under::INTEGER[])
            GROUP BY ALL
            """,
            {"p": self.pid, "ids": ids, "skip_any": skip_any, "not_under": list(not_under)},
        ).fetchall()
        frames = self.frames
        out = []
        for weight, thread, chain, site, caller, head_ids in rows:
            head = tuple(frames[f] for f in head_ids)
            out.append(
                Hit(
                    weight=int(weight),
                    thread=thread,
                    hit=frames[chain[0]],
                    site=frames[site] if site is not None else None,
                    site_caller=frames[caller] if caller is not None else None,
                    chain=tuple(frames[f] for f in chain),
                    head=head,
                    main_thread=self.is_main_thread(thread, head),
                )
            )
        return out

    @cached_property
    def main_thread_ids(self) -> set[str]:
        rows = self.con.execute(
            "SELECT DISTINCT thread FROM stacks"
            " WHERE profile_id = ? AND thread LIKE '%: MainThread'",
            [self.pid],
        ).fetchall()
        return {tid for (t,) in rows if (tid := thread_id(t)) is not None}

    def is_main_thread(self, thread: str | None, above: Iterable[FrameRow]) -> bool:
        """py-spy names the main thread ``MainThread`` (once it knows the name); otherwise a
        stack that starts in ``threading``'s bootstrap is a worker thread, any other the main."""
        if thread is not None and self.main_thread_ids:
            return thread_id(thread) in self.main_thread_ids
        for f in above:
            if f.kind in ("thread", "process"):
                continue
            return not (f.module == "threading" and "_bootstrap" in f.function)
        return True

    @cached_property
    def main_weight(self) -> int:
        """Samples of the main thread."""
        rows = self.con.execute(
            "SELECT thread, frame_ids[1:3], weight FROM stacks WHERE profile_id = ?", [self.pid]
        ).fetchall()
        frames = self.frames
        return sum(
            w for thread, ids, w in rows if self.is_main_thread(thread, (frames[i] for i in ids))
        )


def thread_id(thread: str | None) -> str | None:
    m = _THREAD_ID.match(thread or "")
    return m.group(1) if m else None


def group_weights(hits: Iterable[Hit], key: Callable[[Hit], Any]) -> list[tuple[Any, int]]:
    """Weights summed per key, heaviest first."""
    sums: dict[Any, int] = {}
    for h in hits:
        k = key(h)
        sums[k] = sums.get(k, 0) + h.weight
    return sorted(sums.items(), key=lambda kv: (-kv[1], str(kv[0])))


def callers(hits: Iterable[Hit], n: int = 3) -> list[dict[str, Any]]:
    """The frames that called the call sites (often the loop), heaviest first, as evidence."""
    with_caller = [h for h in hits if h.site_caller]
    return [
        {**f.where(), "samples": w}
        for f, w in group_weights(with_caller, lambda h: h.site_caller)[:n]
    ]


def called_from(found: list[dict[str, Any]]) -> str:
    """ ", called from `f` (file:line)" for the heaviest caller, or nothing."""
    if not found:
        return ""
    c = found[0]
    return f", called from `{c['function']}` ({c['file']}:{c['line']})"


def main_path(hits: Iterable[Hit]) -> list[str]:
    """The heaviest path into the library, as function names."""
    return list(group_weights(hits, lambda h: tuple(f.function for f in h.chain))[0][0])


def pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.01 else f"{100 * x:.1f}%"


def severity_for_share(share: float, high: float, medium: float) -> str:
    return "high" if share >= high else ("medium" if share >= medium else "low")
