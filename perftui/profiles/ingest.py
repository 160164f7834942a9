"""Load a profile file into the store: detect its format, parse it, write the stack model.

Files are read through ``perftui.ingest.sources`` (gzip/bzip2/zstd, standard input) and
identified like logs, by the checksum of their first bytes in the ``sources`` table, so the same
profile ingested twice (under any name) adds nothing; a file rewritten in place is replaced. All
rows of one profile are written in one transaction: an interrupted ingest leaves nothing behind.
Offsets (frame, node, stack and function ids) are added in DuckDB, not per element in Python.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from perftui.ingest.driver import IngestError, reading
from perftui.ingest.records import Reject
from perftui.ingest.sources import (
    OpenSource,
    SourceError,
    line_batches,
    open_source,
    sample_lines,
)
from perftui.profiles import schema
from perftui.profiles.model import FunctionMeta, ProfileBuilder
from perftui.profiles.parse_folded import FoldedError, FoldedParser
from perftui.profiles.parse_speedscope import SpeedscopeError, parse_bytes
from perftui.store import writer
from perftui.store.results import first
from perftui.store.schema import transaction
from perftui.textsafe import redact_credentials

_FOLDED_LINE = re.compile(r"^(?:[^\s{#\[].*\S)? \d+$")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d")
_PYSPY_HINT = re.compile(
    r"\([^()]*:\d+\)(?:;| \d+$)|\(lib[^()]*\.so[.\d]*\)|^thread \(|^process \d+:"
)


# py-spy names a thread once it knows the name: "thread (9111)" and "thread (9111): MainThread".
_THREAD_ID = re.compile(r"^thread \(([^)]*)\).*$", re.DOTALL)


class ProfileIngestError(IngestError):
    """A profile perftui cannot load; the message is one line that says what and where (an
    ``IngestError``, so ``perftui ingest`` reports it like a bad log)."""


@dataclass(slots=True)
class ProfileIngestResult:
    path: str
    format: str | None
    source_id: int | None
    profile_id: int | None
    status: str = "ingested"  # ingested | replaced | unchanged | empty
    samples: int = 0
    stacks: int = 0
    frames: int = 0
    rejected_lines: int = 0

    def summary(self) -> str:
        """The one line ``perftui ingest`` prints for this file."""
        if self.status == "empty":
            return f"{self.path}: empty, nothing to ingest"
        if self.status == "unchanged":
            return f"{self.path}: already ingested (profile {self.profile_id}), nothing new"
        rejected = f", {self.rejected_lines:,} lines rejected" if self.rejected_lines else ""
        return (
            f"{self.path}: {self.status} as {self.format} profile {self.profile_id}: "
            f"{self.samples:,} samples in {self.stacks:,} distinct stacks, "
            f"{self.frames:,} frames{rejected}"
        )


@dataclass(slots=True)
class Recording:
    """What perftui knows about how a profile was recorded (``perftui profile`` fills it)."""

    idle: bool | None = None
    rate_hz: float | None = None
    started_at: dt.datetime | None = None  # UTC, naive
    ended_at: dt.datetime | None = None
    command: str | None = None


def sniff(lines: list[str]) -> str | None:
    """``speedscope``, ``pyspy-raw``, ``folded`` or None, from the first lines of an input."""
    body = [s for s in lines if s.strip()]
    if not body:
        return None
    if body[0].lstrip().startswith("{"):
        head = "\n".join(body[:50])
        if "speedscope.app/file-format-schema" in head or (
            '"profiles"' in head and '"shared"' in head
        ):
            return "speedscope"
        return None
    if any(_TIMESTAMP.match(s) for s in body[:20]):
        return None
    # A process frame's command line may hold newlines: its first physical line has no count.
    body = [s for s in body if _FOLDED_LINE.match(s.rstrip()) or not s.startswith("process ")]
    matched = sum(1 for s in body if _FOLDED_LINE.match(s.rstrip()))
    if matched == 0 or matched < 0.9 * len(body):
        return None
    if any(_PYSPY_HINT.search(s) for s in body[:200]):
        return "pyspy-raw"
    return "folded"


def profile_format(path: str) -> str | None:
    """The profile format of the file at ``path`` (None: not a profile, unreadable, or ``-``,
    whose first bytes cannot be read twice): how ``perftui ingest`` routes a file here."""
    if path == "-":
        return None
    try:
        src = open_source(path)
    except SourceError:
        return None
    try:
        return sniff(sample_lines(src.head))
    finally:
        src.close()


def ingest_profile(
    con: duckdb.DuckDBPyConnection,
    path: str,
    *,
    fmt: str | None = None,
    recording: Recording | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ProfileIngestResult:
    """Ingest the profile at ``path`` (``-`` = stdin); see the module docstring."""
    schema.ensure_tables(con)
    with reading(path, ProfileIngestError) as src:
        return _ingest(con, src, fmt, recording or Recording(), on_progress)


def _known(con: duckdb.DuckDBPyConnection, src: OpenSource) -> tuple | None:
    """(source_id, bytes_read, complete) of a stored profile whose head matches this input."""
    rows = con.execute(
        "SELECT source_id, head_sha1, head_bytes, bytes_read, complete FROM sources"
        " WHERE head_bytes <= ? AND format IN (SELECT unnest(?::VARCHAR[])) ORDER BY source_id",
        [len(src.head), list(schema.PROFILE_FORMATS)],
    ).fetchall()
    for source_id, sha, nbytes, bytes_read, complete in rows:
        if hashlib.sha1(src.head[:nbytes]).hexdigest() == sha:
            return source_id, bytes_read, complete
    return None


def _profile_of(con: duckdb.DuckDBPyConnection, source_id: int) -> int | None:
    row = first(
        con.execute("SELECT min(profile_id) FROM profiles WHERE source_id = ?", [source_id])
    )
    return row[0] if row else None


def _ingest(
    con: duckdb.DuckDBPyConnection,
    src: OpenSource,
    fmt: str | None,
    rec: Recording,
    on_progress: Callable[[int], None] | None,
) -> ProfileIngestResult:
    if not src.head.strip():
        return ProfileIngestResult(src.path, None, None, None, status="empty")
    sample = sample_lines(src.head)
    detected = sniff(sample)
    if fmt is None:
        fmt = detected
        if fmt is None:
            first = next((s for s in sample if s.strip()), "")[:80]
            raise ProfileIngestError(
                f"{src.path}: not a profile perftui reads (py-spy raw/folded stacks or speedscope"
                f" JSON); first line: {first!r}"
            )
    elif fmt not in schema.PROFILE_FORMATS:
        raise ProfileIngestError(f"unknown profile format {fmt!r}")
    elif (detected == "speedscope") != (fmt == "speedscope"):
        raise ProfileIngestError(f"{src.path}: does not look like {fmt}")
    known = _known(con, src)
    status = "ingested"
    if known is not None:
        source_id, bytes_read, complete = known
        if complete and src.size is not None and src.size == bytes_read:
            return ProfileIngestResult(
                src.path, fmt, source_id, _profile_of(con, source_id), status="unchanged"
            )
    builder, nbytes, rejects = _parse(src, fmt, on_progress)
    if known is not None:
        source_id, bytes_read, complete = known
        if complete and nbytes == bytes_read:
            return ProfileIngestResult(
                src.path, fmt, source_id, _profile_of(con, source_id), status="unchanged"
            )
        status = "replaced"
    with transaction(con):
        if known is not None:
            schema.forget_profiles(con, known[0])
        source_id = writer.begin_source(
            con,
            known[0] if known is not None else None,
            path=src.path,
            fmt=fmt,
            dialect="profile",
            prefix=None,
            inode=src.inode,
            head_sha1=src.head_sha1,
            head_bytes=len(src.head),
        )
        if src.path != "-":
            builder.name = os.path.basename(src.path)  # speedscope's own name is generic
        profile_id = store(con, builder, source_id, fmt, rec)
        writer.finish_source(
            con, source_id, bytes_read=nbytes, lines=builder.lines_read, inode=src.inode
        )
        con.execute(
            "UPDATE sources SET entries = ?, reject_lines = ? WHERE source_id = ?",
            [len(builder.stacks), len(rejects), source_id],
        )
        if rejects:
            writer.store_rejects(con, writer.rejects_table(source_id, rejects))
    return ProfileIngestResult(
        src.path,
        fmt,
        source_id,
        profile_id,
        status=status,
        samples=builder.total_samples,
        stacks=len(builder.stacks),
        frames=len(builder.frames),
        rejected_lines=len(rejects),
    )


def _parse(
    src: OpenSource, fmt: str, on_progress: Callable[[int], None] | None
) -> tuple[ProfileBuilder, int, list[Reject]]:
    """(builder, bytes read, rejected lines with their numbers and reasons)."""
    if fmt == "speedscope":
        data = src.head + src.stream.read()
        if on_progress is not None:
            on_progress(len(data))
        try:
            return parse_bytes(data), len(data), []
        except SpeedscopeError as exc:
            raise ProfileIngestError(f"{src.path}: {exc}") from None
    parser = FoldedParser()
    end = 0
    lines = 0
    for batch in line_batches(src):
        parser.feed(batch.lines, batch.first_line_no)
        end = batch.end_offset
        lines += len(batch.lines)
        if on_progress is not None:
            on_progress(end)
    try:
        builder = parser.finish()
    except FoldedError as exc:
        raise ProfileIngestError(f"{src.path}: {exc}") from None
    builder.lines_read = lines
    return builder, end, parser.rejects


def _next_id(con: duckdb.DuckDBPyConnection, table: str, column: str) -> int:
    return first(con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))[0]


def store(
    con: duckdb.DuckDBPyConnection,
    builder: ProfileBuilder,
    source_id: int,
    fmt: str,
    rec: Recording,
) -> int:
    """Write one parsed profile (frames, stacks, flame tree, aggregates); returns its id."""
    profile_id = _next_id(con, "profiles", "profile_id")
    frame_off = _next_id(con, "frames", "frame_id")
    func_off = _next_id(con, "functions", "func_id")
    node_off = _next_id(con, "flame_nodes", "node_id")
    stack_off = _next_id(con, "stacks", "stack_id")

    frames = builder.frames
    func_of, funcs = builder.functions()
    con.register(
        "_pf_frames",
        pa.table(
            {
                "i": pa.array(range(len(frames)), pa.int32()),
                "func": pa.array(func_of, pa.int32()),
                "function": pa.array([f.function for f in frames], pa.string()),
                "file": pa.array([f.file for f in frames], pa.string()),
                "line": pa.array([f.line for f in frames], pa.int32()),
                "module": pa.array([f.module for f in frames], pa.string()),
                "kind": pa.array([f.kind for f in frames], pa.string()),
            }
        ),
    )
    try:
        con.execute(
            f"INSERT INTO frames SELECT i + {frame_off}, {profile_id}, func + {func_off}, function,"
            " file, line, module, kind FROM _pf_frames ORDER BY i"
        )
    finally:
        con.unregister("_pf_frames")

    stacks = builder.sorted_stacks()
    tree, leaves = builder.flame_tree(stacks)
    keys = [k for k, _w in stacks]
    kinds = [f.kind for f in frames]
    threads, processes = _threads_and_processes(keys, frames, kinds)
    offsets = array("i", itertools.accumulate(map(len, keys), initial=0))
    values = array("i", itertools.chain.from_iterable(keys))
    con.register(
        "_pf_stacks",
        pa.table(
            {
                "i": _arrow(array("q", range(len(keys)))),
                "thread": pa.array(threads, pa.string()),
                "process": pa.array(processes, pa.string()),
                "frame_ids": pa.ListArray.from_arrays(_arrow(offsets), _arrow(values)),
                "weight": _arrow(array("q", (w for _k, w in stacks))),
                "leaf": _arrow(leaves),
            }
        ),
    )
    try:
        con.execute(
            f"INSERT INTO stacks SELECT i + {stack_off}, {profile_id}, thread, process,"
            f" list_transform(frame_ids, lambda x: x + {frame_off}), weight, leaf + {node_off}"
            " FROM _pf_stacks"
        )
    finally:
        con.unregister("_pf_stacks")

    n = len(tree.frame)
    con.register(
        "_pf_nodes",
        pa.table(
            {
                "i": _arrow(array("q", range(n))),
                "parent": _arrow(tree.parent),
                "last": _arrow(tree.last),
                "depth": _arrow(tree.depth),
                "frame": _arrow(tree.frame),
                "total": _arrow(tree.total),
                "self": _arrow(tree.self_w),
                "heavy": _arrow(tree.heavy),
            }
        ),
    )
    try:
        # No ORDER BY: a single Arrow scan keeps its order, and pre-order ids in insertion order
        # are what lets zone maps prune children() to the parent's subtree.
        con.execute(
            f"INSERT INTO flame_nodes SELECT i + {node_off}, {profile_id},"
            f" CASE WHEN parent < 0 THEN NULL ELSE parent + {node_off} END, last + {node_off},"
            f" depth, CASE WHEN frame < 0 THEN NULL ELSE frame + {frame_off} END, total, self,"
            f" CASE WHEN heavy < 0 THEN NULL ELSE heavy + {node_off} END FROM _pf_nodes"
        )
    finally:
        con.unregister("_pf_nodes")

    _aggregate(con, profile_id, stacks, func_of, funcs, func_off)
    distinct_threads = len({_THREAD_ID.sub(r"\1", t) for t in threads if t is not None})
    distinct_processes = len({f.function for f in frames if f.kind == "process"})
    total_weight = tree.total[0] if n else 0
    ms_per_weight = builder.ms_per_weight
    if ms_per_weight is None and rec.rate_hz and builder.weight_unit == "samples":
        ms_per_weight = 1000.0 / rec.rate_hz
    duration = builder.duration_s
    if rec.started_at is not None and rec.ended_at is not None:
        duration = (rec.ended_at - rec.started_at).total_seconds()
    con.execute(
        "INSERT INTO profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            profile_id,
            source_id,
            fmt,
            builder.name,
            rec.idle,
            rec.rate_hz,
            ms_per_weight,
            builder.weight_unit,
            rec.started_at,
            rec.ended_at,
            duration,
            total_weight,
            builder.total_samples,
            len(keys),
            distinct_threads,
            distinct_processes,
            node_off,
            redact_credentials(rec.command) if rec.command else None,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
        ],
    )
    return profile_id


def _arrow(values: array) -> pa.Array:
    """A machine-integer array as an Arrow array, without copying it."""
    typ = {"i": pa.int32(), "q": pa.int64()}[values.typecode]
    return pa.Array.from_buffers(typ, len(values), [None, pa.py_buffer(values)])


def _threads_and_processes(
    keys: list[tuple[int, ...]], frames: list, kinds: list[str]
) -> tuple[list[str | None], list[str | None]]:
    """Per stack: its thread frame's text and its innermost process frame's text."""
    special = {i for i, k in enumerate(kinds) if k in ("thread", "process")}
    if not special:
        return [None] * len(keys), [None] * len(keys)
    threads: list[str | None] = []
    processes: list[str | None] = []
    for key in keys:
        thread = process = None
        for fid in key:
            if fid not in special:
                break
            if kinds[fid] == "thread":
                thread = frames[fid].function
            else:
                process = frames[fid].function
        threads.append(thread)
        processes.append(process)
    return threads, processes


def _aggregate(
    con: duckdb.DuckDBPyConnection,
    profile_id: int,
    stacks: list[tuple[tuple[int, ...], int]],
    func_of: list[int],
    funcs: list[FunctionMeta],
    func_off: int,
) -> None:
    """Per-function self/total and caller→callee edges, each counted once per stack (so
    recursion is not double-counted): what top-functions and the sandwich view read. Stacks go
    to DuckDB as lists of function ids; list_distinct does the once-per-stack part."""
    lengths = array("i", itertools.accumulate((len(k) for k, _w in stacks), initial=0))
    func_ids = array(
        "i", map(func_of.__getitem__, itertools.chain.from_iterable(k for k, _w in stacks))
    )
    con.register(
        "_pf_fstacks",
        pa.table(
            {
                "i": _arrow(array("q", range(len(stacks)))),
                "weight": _arrow(array("q", (w for _k, w in stacks))),
                "funcs": pa.ListArray.from_arrays(_arrow(lengths), _arrow(func_ids)),
            }
        ),
    )
    con.register(
        "_pf_fmeta",
        pa.table(
            {
                "f": pa.array(range(len(funcs)), pa.int32()),
                "function": pa.array([f[0] for f in funcs], pa.string()),
                "file": pa.array([f[1] for f in funcs], pa.string()),
                "module": pa.array([f[2] for f in funcs], pa.string()),
                "kind": pa.array([f[3] for f in funcs], pa.string()),
                "first_line": pa.array([f[4] for f in funcs], pa.int32()),
            }
        ),
    )
    try:
        con.execute(
            f"""
            INSERT INTO functions
            WITH s AS (SELECT i, weight, funcs, list_distinct(funcs) AS d FROM _pf_fstacks),
            tot AS (SELECT f, sum(weight) AS total
                    FROM (SELECT weight, unnest(d) AS f FROM s) GROUP BY f),
            slf AS (SELECT funcs[-1] AS f, sum(weight) AS self
                    FROM s WHERE len(funcs) > 0 GROUP BY f),
            rec AS (SELECT f, max(c) AS r FROM (
                        SELECT i, f, count(*) AS c
                        FROM (SELECT i, unnest(funcs) AS f FROM s WHERE len(d) < len(funcs))
                        GROUP BY i, f)
                    GROUP BY f)
            SELECT m.f + {func_off}, {profile_id}, m.function, m.file, m.module, m.kind,
                   m.first_line, coalesce(slf.self, 0), coalesce(tot.total, 0),
                   coalesce(rec.r, CASE WHEN tot.total IS NULL THEN 0 ELSE 1 END)
            FROM _pf_fmeta m
            LEFT JOIN tot USING (f) LEFT JOIN slf USING (f) LEFT JOIN rec USING (f)
            ORDER BY m.f
            """
        )
        # An edge is (caller + 1) * 2^32 + callee, caller -1 for a root frame: one BIGINT per
        # call, so list_distinct can drop the repeats of a recursive stack.
        con.execute(
            f"""
            INSERT INTO call_edges
            SELECT {profile_id},
                   CASE WHEN e // 4294967296 = 0 THEN NULL
                        ELSE e // 4294967296 - 1 + {func_off} END,
                   e % 4294967296 + {func_off}, sum(weight)
            FROM (
                SELECT weight, unnest(list_distinct(list_transform(
                    generate_series(1, len(funcs)),
                    lambda k: (CASE WHEN k = 1 THEN 0 ELSE funcs[k - 1] + 1 END) * 4294967296
                         + funcs[k]))) AS e
                FROM _pf_fstacks WHERE len(funcs) > 0
            )
            GROUP BY e
            """
        )
    finally:
        con.unregister("_pf_fstacks")
        con.unregister("_pf_fmeta")
