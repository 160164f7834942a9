"""Ingest one input into the store: identify it, detect its format, stream it through its parser.

A source is identified by the checksum of its first bytes, so the same file ingested twice (under
any name, or piped on stdin) adds nothing, and a file that grew is read on from where the last
ingest stopped. Batches are written as they fill, so memory does not grow with the file.

An ingest that dies part-way (an error, Ctrl-C, a kill) leaves its source incomplete. Ingesting
the file again rolls the source back to where it was last complete (nothing, for a first
ingest; the previous ingest, for an append) and reads on from there, which stores exactly what
an uninterrupted run stores. It does not resume from the last batch written: batches are not
committed together with a resume point, and the parser holds entries across batches (a
statement waits for its duration line, a session for its next line), so past the last
complete point there is no offset a fresh parser could start from. The tailer resumes like
that and needs warm-up and pending-line bookkeeping for it (``incremental``); reading again
from the last complete point needs none, at the cost of re-reading what the failed run read.
"""

from __future__ import annotations

import gc
import hashlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from perftui.ingest import formats
from perftui.ingest.formats import Format, ParseOptions
from perftui.ingest.records import ColumnarParser, Entry, Parser, Reject
from perftui.ingest.sources import (
    BATCH_BYTES,
    OpenSource,
    SourceError,
    byte_batches,
    line_batches,
    open_source,
    sample_lines,
)
from perftui.store import writer
from perftui.store.connections import ConnectionNumbers

FLUSH_ENTRIES = 122_880  # entries per batch stored: one DuckDB row group (see _WholeBatches)
# Entries (and rejects) converted to Arrow at a time. Converting Entry objects walks them once
# per column, which stays in the CPU caches for 25 k of them: to_arrow of 245 k PostgreSQL
# entries took 0.36 s of CPU in groups of 25 k and 0.44 s in groups of 122,880.
CONVERT_ENTRIES = 25_000
LINE_BATCH_BYTES = BATCH_BYTES  # bytes of log read and parsed at a time

DIALECT = {
    "postgres-stderr": "postgres",
    "postgres-csv": "postgres",
    "postgres-json": "postgres",
    "mysql-slow": "mysql",
}


class IngestError(Exception):
    """Input perftui cannot ingest; the message is one line that says what and where."""


@dataclass(slots=True)
class IngestResult:
    path: str
    format: str | None
    source_id: int | None
    lines: int = 0  # lines read in this run
    entries: int = 0
    reject_lines: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)
    status: str = "ingested"  # ingested | appended | unchanged | empty
    interrupted: bool = False  # the previous ingest did not finish: this run re-read its part
    first_line: int = 1  # number of the first line read in this run


def _known_source(con: duckdb.DuckDBPyConnection, src: OpenSource) -> tuple | None:
    """The stored source whose head is a prefix of this input's head, if any."""
    rows = con.execute(
        "SELECT source_id, head_sha1, head_bytes, bytes_read, lines, complete, format, prefix"
        " FROM sources WHERE head_bytes <= ? ORDER BY source_id",
        [len(src.head)],
    ).fetchall()
    for row in rows:
        if hashlib.sha1(src.head[: row[2]]).hexdigest() == row[1]:
            return row
    return None


def _choose_format(path: str, sample: list[str], log_format: str | None) -> Format:
    if log_format:
        try:
            fmt = formats.by_name(log_format)
        except KeyError as exc:
            raise IngestError(str(exc.args[0])) from None
        if fmt.sniff(sample) == 0.0:
            raise IngestError(
                f"{path}: --log-format {log_format} does not match; first line: {_first(sample)}"
            )
        return fmt
    fmt, _score = formats.detect(sample)
    if fmt is None:
        raise IngestError(f"{path}: not a log format perftui knows; first line: {_first(sample)}")
    return fmt


def _first(sample: list[str]) -> str:
    line = next((s for s in sample if s.strip()), "")
    printable = "".join(ch if ch.isprintable() else "?" for ch in line[:80])
    return repr(printable)


def ingest_path(
    con: duckdb.DuckDBPyConnection,
    path: str,
    *,
    log_format: str | None = None,
    options: ParseOptions | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Ingest ``path`` (``-`` = stdin) into the store behind ``con``; see the module docstring."""
    with reading(path) as src, _quick_gil_handover():
        return _ingest(con, src, log_format, options or ParseOptions(), on_progress)


@contextmanager
def reading(path: str, error: type[IngestError] = IngestError) -> Iterator[OpenSource]:
    """``open_source`` whose every open or read failure becomes one ``error`` line."""
    try:
        src = open_source(path)
    except SourceError as exc:
        raise error(str(exc)) from None
    try:
        yield src
    except SourceError as exc:
        raise error(str(exc)) from None
    except (OSError, EOFError) as exc:
        raise error(f"{path}: read failed: {exc}") from None
    finally:
        src.close()


def _ingest(
    con: duckdb.DuckDBPyConnection,
    src: OpenSource,
    log_format: str | None,
    options: ParseOptions,
    on_progress: Callable[[int], None] | None,
) -> IngestResult:
    if not src.head:
        return IngestResult(src.path, None, None, status="empty")
    if _looks_binary(src.head):
        raise IngestError(f"{src.path}: binary data, not a text log")
    sample = sample_lines(src.head)
    known = _known_source(con, src)
    start_offset, first_line = 0, 1
    status, interrupted = "ingested", False
    if known is not None:
        source_id, _sha, _hb, bytes_read, lines, complete, fmt_name, prefix = known
        interrupted = not complete
        if complete and src.size is not None and src.size <= bytes_read:
            return IngestResult(src.path, fmt_name, source_id, status="unchanged")
        if complete or bytes_read > 0:  # read on from where it was last complete
            start_offset, first_line, status = bytes_read, lines + 1, "appended"
            log_format = fmt_name
            options = ParseOptions(prefix=options.prefix or prefix)
    fmt = _choose_format(src.path, sample, log_format)
    try:
        parser = (fmt.make_fast or fmt.make)(sample, options)
    except ValueError as exc:
        raise IngestError(f"{src.path}: {exc}") from None
    dialect = DIALECT.get(fmt.name, "postgres")
    prefix = getattr(parser, "prefix", None)
    if known is not None and status == "appended":
        source_id = known[0]
        writer.reopen_source(con, source_id)
    else:
        source_id = writer.begin_source(
            con,
            known[0] if known is not None else None,
            path=src.path,
            fmt=fmt.name,
            dialect=dialect,
            prefix=prefix,
            inode=src.inode,
            head_sha1=src.head_sha1,
            head_bytes=len(src.head),
        )
    result = IngestResult(
        src.path, fmt.name, source_id, status=status, interrupted=interrupted, first_line=first_line
    )
    produced = _produce(
        src,
        parser,
        fmt.name,
        start_offset,
        first_line,
        writer.next_entry_no(con, source_id),
        source_id,
    )
    end_offset, lines_seen = start_offset, 0
    numbers = (
        ConnectionNumbers.stored(con, source_id) if status == "appended" else ConnectionNumbers()
    )
    background = writer.BackgroundWriter(con, source_id, dialect, numbers)
    try:
        with _gc_paused():
            for item in produced:
                if isinstance(item, _Entries):
                    background.put_entries(item.table)
                    result.entries += item.table.num_rows
                elif isinstance(item, _Rejects):
                    background.put_rejects(item.table)
                    result.reject_lines += item.table.num_rows
                    for reason, n in item.reasons.items():
                        result.reject_reasons[reason] = result.reject_reasons.get(reason, 0) + n
                else:
                    end_offset, lines_seen = item.end_offset, item.lines
                    if on_progress is not None:
                        on_progress(end_offset)
    finally:
        produced.close()
        background.close()
        # Arrow's allocator keeps freed batches for reuse; what follows an ingest (the analysis
        # in ``perftui analyze LOG``) needs DuckDB's memory instead.
        pa.default_memory_pool().release_unused()
    result.lines = lines_seen
    if status == "appended" and lines_seen == 0 and not interrupted:
        result.status = "unchanged"
    writer.finish_source(
        con,
        source_id,
        bytes_read=end_offset,
        lines=first_line - 1 + lines_seen,
        inode=src.inode,
    )
    return result


# -- parsing: the log as Arrow batches ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entries:
    table: pa.Table


@dataclass(frozen=True, slots=True)
class _Rejects:
    table: pa.Table
    reasons: dict[str, int]


@dataclass(frozen=True, slots=True)
class _Progress:
    end_offset: int  # decompressed bytes consumed, including what earlier ingests read
    lines: int  # lines read by this run so far


_Produced = _Entries | _Rejects | _Progress


def _produce(
    src: OpenSource,
    parser: Parser | ColumnarParser,
    fmt: str,
    start_offset: int,
    first_line: int,
    first_entry_no: int,
    source_id: int,
) -> Iterator[_Produced]:
    """Feed ``src`` from ``start_offset`` to ``parser``; yield its entries in Arrow batches of
    exactly ``FLUSH_ENTRIES`` rows (the last one shorter), its rejects, and progress after every
    line batch."""
    pending: list[Entry] = []
    rejects: list[Reject] = []
    lines_seen = 0
    # A compiled parser builds its Arrow batch itself (no Entry objects); the others hand over
    # Entry lists that are converted here.
    take_table: Callable[[int], pa.Table] | None = getattr(parser, "take_table", None)
    batches = _WholeBatches(FLUSH_ENTRIES, first_entry_no)

    def drain() -> None:
        if take_table is None:
            pending.extend(parser.entries)
            parser.entries.clear()
        rejects.extend(parser.rejects)
        parser.rejects.clear()

    def convert() -> None:
        if take_table is not None:
            if parser.entry_count:
                batches.add(take_table(batches.next_entry_no))
        elif pending:
            pending.sort(key=_line_start)
            batches.add(writer.to_arrow(pending, batches.next_entry_no))
            pending.clear()

    def flush(final: bool) -> Iterator[_Produced]:
        for table in batches.take(final):
            yield _Entries(table)
        if rejects:
            reasons: dict[str, int] = {}
            for r in rejects:
                reasons[r.reason] = reasons.get(r.reason, 0) + 1
            yield _Rejects(writer.rejects_table(source_id, rejects), reasons)
            rejects.clear()

    end_offset = start_offset
    for end_offset, lines in _fed(src, parser, fmt, start_offset, first_line):
        lines_seen += lines
        drain()
        if (parser.entry_count if take_table is not None else len(pending)) >= CONVERT_ENTRIES:
            convert()
        if batches.held >= FLUSH_ENTRIES or len(rejects) >= CONVERT_ENTRIES:
            yield from flush(final=False)
        yield _Progress(end_offset, lines_seen)
    _guarded(src.path, fmt, first_line + lines_seen, parser.finish)
    drain()
    convert()
    yield from flush(final=True)
    yield _Progress(end_offset, lines_seen)


def _fed(
    src: OpenSource, parser: Parser | ColumnarParser, fmt: str, start_offset: int, first_line: int
) -> Iterator[tuple[int, int]]:
    """Feed ``src`` from ``start_offset`` to ``parser`` a batch at a time; after each, yield
    the offset reached and the batch's number of lines.

    A parser with ``feed_bytes`` (the compiled slow-log parser) reads the bytes itself and
    makes a ``str`` only for the lines it hands to Python code: decoding and splitting every
    line was a third of its thread's time on a 1 GB slow log (21.9 M lines)."""
    feed_bytes: Callable[..., int] | None = getattr(parser, "feed_bytes", None)
    if feed_bytes is None:
        for batch in line_batches(src, start_offset, first_line, LINE_BATCH_BYTES):
            first = batch.first_line_no
            _guarded(src.path, fmt, first, parser.feed, batch.lines, first)
            yield batch.end_offset, len(batch.lines)
        return
    line_no = first_line
    for raw in byte_batches(src, start_offset, LINE_BATCH_BYTES):
        lines = 0
        for data, start, end in raw.pieces:
            lines += _guarded(
                src.path, fmt, line_no + lines, feed_bytes, data, start, end, line_no + lines
            )
        line_no += lines
        yield raw.end_offset, lines


class _WholeBatches:
    """Cuts entry tables into batches of exactly ``size`` rows, holding back the remainder.

    ``FLUSH_ENTRIES`` is DuckDB's row group size: an insert of whole row groups is written
    straight to the database file, one of fewer rows goes through the write-ahead log first and
    is written again at the next checkpoint. Measured on 300 k MariaDB entries: stored in
    batches of 25,000 rows 3.3 s, of 122,880 rows 1.5 s.
    """

    def __init__(self, size: int, first_entry_no: int) -> None:
        self.size = size
        self.next_entry_no = first_entry_no  # of the next entry added
        self._held: list[pa.Table] = []
        self.held = 0  # rows held back

    def add(self, table: pa.Table) -> None:
        self._held.append(table)
        self.held += table.num_rows
        self.next_entry_no += table.num_rows

    def take(self, final: bool) -> Iterator[pa.Table]:
        """The held rows in whole batches (and the rest too when ``final``)."""
        if not self.held or (self.held < self.size and not final):
            return
        table = pa.concat_tables(self._held) if len(self._held) > 1 else self._held[0]
        whole = table.num_rows if final else table.num_rows - table.num_rows % self.size
        for start in range(0, whole, self.size):
            yield table.slice(start, min(self.size, whole - start))
        rest = table.slice(whole)
        self._held = [rest] if rest.num_rows else []
        self.held = rest.num_rows


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing allocates millions of acyclic objects; the cycle collector only slows it down."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# How long a thread waiting for the GIL waits before it asks the running one to let go. The
# parser holds it nearly all the time; the fingerprinting and storing threads need it for a
# moment between their long GIL-free steps (Arrow kernels, DuckDB queries), and with Python's
# 5 ms they sat idle while the second core had work. Measured on 1 GB logs (5 paired runs,
# ingest alone): wall 0.86 (PostgreSQL) and 0.89 (MariaDB) of the 5 ms default at 0.2 ms, and
# 0.98 of that at 0.05 ms; CPU within 1 %.
SWITCH_INTERVAL_S = 0.00005


@contextmanager
def _quick_gil_handover() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _guarded(path: str, fmt: str, line_no: int, call: Callable, *args: object) -> Any:
    """Run a parser step; a parser bug becomes a one-line IngestError that says where."""
    try:
        return call(*args)
    except Exception as exc:
        raise IngestError(
            f"{path}: {fmt} parser failed near line {line_no}: {type(exc).__name__}: {exc}"
        ) from exc


_CONTROL = bytes(range(0, 9)) + bytes(range(14, 32))


def _looks_binary(head: bytes) -> bool:
    """More than 5 % control bytes (other than tab/newline/CR/FF) in the head: not text."""
    sample = head[:8192]
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    return controls > len(sample) * 0.05


def _line_start(e: Entry) -> int:
    return e.line_start
