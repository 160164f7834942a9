"""Ingesting a growing file a few lines at a time with one long-lived parser (for the tailer).

The driver ingests a whole file per call; the tailer feeds lines as they are written. Entries
are stored as soon as the parser emits them, and the resume point stored in ``sources``
(``bytes_read`` / ``lines``) is the first line of the oldest entry the parser still holds
(``pending_line``), not the last byte read: a restart re-reads exactly what was incomplete.

A restart also re-reads a little before that point (*warm-up*), so that state carried across
entries (MySQL's ``use db`` and ``# Time:``, a PostgreSQL session's user) is known again, and so
that an entry which had absorbed a line after the resume point is rebuilt whole and then dropped
together with that line. Line numbers identify entries (first line) and rejects (their line):
whatever starts before the resume point, or was already stored (after it, before a crash), is
dropped, so nothing is stored twice. A source tailed from the end of an existing file numbers
its lines from where tailing began (line 1), so that lines read = entry lines + rejects holds.

Each flush is one transaction: the entries, the rejects and the new resume point together.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from perftui.ingest import formats
from perftui.ingest.driver import DIALECT, IngestError, _choose_format, _guarded, _looks_binary
from perftui.ingest.formats import ParseOptions
from perftui.ingest.records import Entry, Parser, Reject
from perftui.ingest.sources import _BZIP2, _GZIP, _ZSTD, HEAD_BYTES, _decode
from perftui.store import writer
from perftui.store.connections import ConnectionNumbers
from perftui.store.schema import transaction

WARMUP_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class StoredSource:
    """A ``sources`` row, as far as resuming it goes."""

    source_id: int
    path: str
    format: str
    prefix: str | None
    inode: int | None
    head_bytes: int
    bytes_read: int
    lines: int
    complete: bool


def find_source(
    con: duckdb.DuckDBPyConnection, head: bytes, inode: int | None, size: int
) -> StoredSource | None:
    """The stored source this file continues, if any.

    Its stored head must be a prefix of ``head`` (as for the driver) and it must have read no
    more than the file holds. A stored head shorter than ``HEAD_BYTES`` (the file was small when
    last seen) also needs the same inode: short heads such as a MySQL server header repeat at
    the top of every rotated file.
    """
    rows = con.execute(
        "SELECT source_id, path, format, prefix, inode, head_bytes, bytes_read, lines, complete,"
        " head_sha1 FROM sources WHERE head_bytes <= ? ORDER BY source_id DESC",
        [len(head)],
    ).fetchall()
    for row in rows:
        s = StoredSource(*row[:9])
        if hashlib.sha1(head[: s.head_bytes]).hexdigest() != row[9] or s.bytes_read > size:
            continue
        if s.head_bytes < HEAD_BYTES and None not in (s.inode, inode) and s.inode != inode:
            continue
        return s
    return None


def check_followable(path: str, head: bytes) -> None:
    """IngestError for input the tailer cannot follow (compressed, binary)."""
    if head.startswith((_GZIP, _BZIP2, _ZSTD)):
        raise IngestError(f"{path}: compressed; only plain-text logs can be followed")
    if _looks_binary(head):
        raise IngestError(f"{path}: binary data, not a text log")


def make_parser(
    path: str, head: bytes, log_format: str | None, options: ParseOptions
) -> tuple[formats.Format, Parser]:
    """Detect the format from the complete lines of ``head`` and build its parser."""
    text = head[: head.rfind(b"\n") + 1].decode("utf-8", "replace").replace("\r\n", "\n")
    sample = text.split("\n")[:400]
    fmt = _choose_format(path, sample, log_format)
    try:
        return fmt, fmt.make(sample, options)
    except ValueError as exc:
        raise IngestError(f"{path}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Written:
    """What one flush stored: entries ``first_entry_no`` … ``+ entries - 1`` of a source."""

    source_id: int
    path: str
    first_entry_no: int
    entries: int
    rejects: int


@dataclass(slots=True)
class _Fed:
    first_line_no: int
    n_lines: int
    start_offset: int
    raw: bytes


class IncrementalSource:
    """One file being ingested as it grows: its parser, its source row and its resume point.

    Build one with :meth:`begin` (a file the store does not know) or :meth:`resume`; then
    ``warm_up`` (optional), ``feed`` lines as they come, ``settle`` when the file has been quiet,
    ``flush`` to store, and ``end`` (the file is finished: rotated away) or ``stop`` (the tailer
    exits; what is still incomplete is read again next time).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        source_id: int,
        path: str,
        fmt: str,
        dialect: str,
        parser: Parser,
        start_offset: int,
        start_line: int,
        inode: int | None,
        head_bytes: int,
        read_head: Callable[[int], bytes] | None = None,
    ) -> None:
        self.con = con
        self.source_id = source_id
        self.path = path
        self.format = fmt
        self.dialect = dialect
        self.parser = parser
        self.start_offset = start_offset
        self.start_line = start_line
        self._inode = inode
        self._head_bytes = head_bytes
        self._read_head = read_head
        self._entry_no = writer.next_entry_no(con, source_id)
        self._numbers: ConnectionNumbers | None = None  # read from the store when first needed
        self._stored_entries, self._stored_rejects = _stored_after(con, source_id, start_line)
        self._entries: list[Entry] = []
        self._rejects: list[Reject] = []
        self._fed: deque[_Fed] = deque()
        self._end_offset = start_offset
        self._end_line = start_line  # number of the next line to feed
        self._resume = (start_offset, start_line)  # last stored resume point
        self.entries_written = 0
        self.ended = False

    # -- construction

    @classmethod
    def begin(
        cls,
        con: duckdb.DuckDBPyConnection,
        path: str,
        head: bytes,
        *,
        inode: int | None,
        start_offset: int,
        log_format: str | None = None,
        options: ParseOptions | None = None,
        read_head: Callable[[int], bytes] | None = None,
        reuse_id: int | None = None,
    ) -> IncrementalSource:
        """Register a new source whose lines are read from ``start_offset`` (numbered from 1);
        ``reuse_id`` is a stored source started over (what it held is dropped).
        Raises IngestError when the head is not a log perftui knows."""
        check_followable(path, head)
        fmt, parser = make_parser(path, head, log_format, options or ParseOptions())
        dialect = DIALECT.get(fmt.name, "postgres")
        head = head[:HEAD_BYTES]
        source_id = writer.begin_source(
            con,
            reuse_id,
            path=path,
            fmt=fmt.name,
            dialect=dialect,
            prefix=getattr(parser, "prefix", None),
            inode=inode,
            head_sha1=hashlib.sha1(head).hexdigest(),
            head_bytes=len(head),
        )
        src = cls(
            con,
            source_id=source_id,
            path=path,
            fmt=fmt.name,
            dialect=dialect,
            parser=parser,
            start_offset=start_offset,
            start_line=1,
            inode=inode,
            head_bytes=len(head),
            read_head=read_head,
        )
        src._commit(start_offset, 1, force=True)
        return src

    @classmethod
    def resume(
        cls,
        con: duckdb.DuckDBPyConnection,
        stored: StoredSource,
        head: bytes,
        *,
        inode: int | None,
        options: ParseOptions | None = None,
        read_head: Callable[[int], bytes] | None = None,
    ) -> IncrementalSource:
        """Continue a stored source from its stored offset, with its stored format and prefix."""
        options = options or ParseOptions()
        options = ParseOptions(prefix=options.prefix or stored.prefix)
        _fmt, parser = make_parser(stored.path, head, stored.format, options)
        return cls(
            con,
            source_id=stored.source_id,
            path=stored.path,
            fmt=stored.format,
            dialect=DIALECT.get(stored.format, "postgres"),
            parser=parser,
            start_offset=stored.bytes_read,
            start_line=stored.lines + 1,
            inode=inode,
            head_bytes=stored.head_bytes,
            read_head=read_head,
        )

    # -- feeding

    def warm_up(self, raw: bytes) -> None:
        """Feed the bytes that end at the start offset (from a line start), to rebuild carried
        state; whatever they produce is dropped as already stored."""
        if not raw:
            return
        text = _decode(raw)
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self._feed_parser(lines, self.start_line - len(lines))

    def feed(self, lines: list[str], raw: bytes, first_line_no: int, start_offset: int) -> None:
        """Parse consecutive complete lines (``raw`` are their bytes, from ``start_offset``)."""
        if not lines:
            return
        self._feed_parser(lines, first_line_no)
        self._fed.append(_Fed(first_line_no, len(lines), start_offset, raw))
        self._end_offset = start_offset + len(raw)
        self._end_line = first_line_no + len(lines)

    def settle(self, before_line: int) -> None:
        """Close what the server wrote in one go before ``before_line`` (a line number of this
        source), once those lines have been in the file for a while (``Parser.settle``)."""
        self.parser.settle(before_line)
        self._collect()

    def _feed_parser(self, lines: list[str], first_line_no: int) -> None:
        enabled = gc.isenabled()
        gc.disable()  # parsing allocates many acyclic objects (see driver._gc_paused)
        try:
            _guarded(self.path, self.format, first_line_no, self.parser.feed, lines, first_line_no)
        finally:
            if enabled:
                gc.enable()
        self._collect()

    def _collect(self) -> None:
        p = self.parser
        first, stored = self.start_line, self._stored_entries
        for e in p.entries:
            if e.line_start >= first and e.line_start not in stored:
                self._entries.append(e)
        p.entries.clear()
        stored = self._stored_rejects
        for r in p.rejects:
            if r.line_no >= first and r.line_no not in stored:
                self._rejects.append(r)
        p.rejects.clear()

    # -- state

    @property
    def next_line(self) -> int:
        """Number of the next line to feed."""
        return self._end_line

    @property
    def unwritten(self) -> int:
        return len(self._entries) + len(self._rejects)

    @property
    def holding(self) -> bool:
        """Whether the parser holds an entry back (something ``settle`` might complete)."""
        return self.parser.pending_line is not None

    def resume_point(self) -> tuple[int, int]:
        """(byte offset, line number) of the first line not fully accounted for."""
        pending = self.parser.pending_line
        if pending is None or pending >= self._end_line:
            self._fed.clear()
            return self._end_offset, self._end_line
        pending = max(pending, self.start_line, self._resume[1])
        fed = self._fed
        while len(fed) > 1 and fed[0].first_line_no + fed[0].n_lines <= pending:
            fed.popleft()
        if not fed or pending < fed[0].first_line_no:
            return self._resume
        b = fed[0]
        pos = 0
        for _ in range(pending - b.first_line_no):
            pos = b.raw.index(b"\n", pos) + 1
        return b.start_offset + pos, pending

    # -- storing

    def flush(self) -> Written | None:
        """Store what the parser emitted and the new resume point, in one transaction."""
        offset, line = self.resume_point()
        return self._commit(offset, line)

    def end(self) -> Written | None:
        """The file is finished (rotated away, deleted): emit everything and store it all."""
        _guarded(self.path, self.format, self._end_line, self.parser.finish)
        self._collect()
        self._fed.clear()
        self.ended = True
        return self._commit(self._end_offset, self._end_line)

    def stop(self) -> Written | None:
        """The tailer is exiting: store what is complete, and take back anything stored after
        the resume point (emitted out of order), so the store holds exactly the lines before it
        and a later ingest or tail continues from there without duplicates."""
        written = self.flush()
        line = self._resume[1]
        con = self.con
        with transaction(con):
            con.execute(
                "DELETE FROM entries WHERE source_id = ? AND line_start >= ?",
                [self.source_id, line],
            )
            con.execute(
                "DELETE FROM rejects WHERE source_id = ? AND line_no >= ?", [self.source_id, line]
            )
            con.execute(
                "UPDATE sources SET "
                "entries = (SELECT count(*) FROM entries WHERE source_id = ?), "
                "reject_lines = (SELECT count(*) FROM rejects WHERE source_id = ?) "
                "WHERE source_id = ?",
                [self.source_id, self.source_id, self.source_id],
            )
        return written

    def _commit(self, offset: int, line: int, *, force: bool = False) -> Written | None:
        entries, rejects = self._entries, self._rejects
        if not entries and not rejects and (offset, line) == self._resume and not force:
            return None
        head_sha1 = None
        if self._read_head is not None and self._head_bytes < HEAD_BYTES:
            head = self._read_head(HEAD_BYTES)
            if len(head) > self._head_bytes:
                head_sha1 = hashlib.sha1(head).hexdigest()
                self._head_bytes = len(head)
        first_entry_no = self._entry_no
        con = self.con
        if entries and self._numbers is None:
            self._numbers = ConnectionNumbers.stored(con, self.source_id)
        try:
            with transaction(con):
                if entries:
                    entries.sort(key=_line_start)
                    table = writer.to_arrow(entries, first_entry_no)
                    writer.store_batch(con, self.source_id, table, self.dialect, self._numbers)
                self._store_rest(offset, line, len(entries), rejects, head_sha1)
        except BaseException:
            self._numbers = None  # it counted what was rolled back: read again from the store
            raise
        if entries:
            self._numbers = writer.finish_numbers(con, self.source_id, self._numbers)
        self._entry_no += len(entries)
        self.entries_written += len(entries)
        self._resume = (offset, line)
        written = Written(self.source_id, self.path, first_entry_no, len(entries), len(rejects))
        entries.clear()
        rejects.clear()
        return written

    def _store_rest(
        self, offset: int, line: int, n_entries: int, rejects: list[Reject], head_sha1: str | None
    ) -> None:
        """A commit's rejects, and the source row's new resume point and counts."""
        con = self.con
        if rejects:
            writer.store_rejects(con, writer.rejects_table(self.source_id, rejects))
        con.execute(
            "UPDATE sources SET bytes_read = ?, lines = ?, entries = entries + ?, "
            "reject_lines = reject_lines + ?, complete = true, ingested_at = ?, "
            "inode = coalesce(?, inode) WHERE source_id = ?",
            [
                offset,
                line - 1,
                n_entries,
                len(rejects),
                _now(),
                self._inode,
                self.source_id,
            ],
        )
        if head_sha1 is not None:
            con.execute(
                "UPDATE sources SET head_sha1 = ?, head_bytes = ? WHERE source_id = ?",
                [head_sha1, self._head_bytes, self.source_id],
            )


def _stored_after(
    con: duckdb.DuckDBPyConnection, source_id: int, line: int
) -> tuple[set[int], set[int]]:
    """First lines of the entries and rejects already stored at or after ``line`` (written
    after the resume point by a tailer that did not stop cleanly)."""
    entries = {
        r[0]
        for r in con.execute(
            "SELECT line_start FROM entries WHERE source_id = ? AND line_start >= ?",
            [source_id, line],
        ).fetchall()
    }
    rejects = {
        r[0]
        for r in con.execute(
            "SELECT line_no FROM rejects WHERE source_id = ? AND line_no >= ?", [source_id, line]
        ).fetchall()
    }
    return entries, rejects


def _line_start(e: Entry) -> int:
    return e.line_start


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
