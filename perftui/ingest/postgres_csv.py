"""PostgreSQL csvlog (PG 12-17: 23 to 26 columns).

Quoted fields may hold newlines (multi-line statements, auto_explain plans), so one record can
span several input lines. Records are delimited by quote parity, which is cheap (``str.count``)
and exact for well-formed CSV, then parsed by the csv module (one reader per batch). A record
left open by a stray quote would swallow the rest of the file, so a line that starts like a new
record ends it and the broken one's lines become rejects. Messages then go through the folding
shared with the stderr parser, so both formats give the same entries; ``session`` is the pid
there too, and csvlog's session id goes to ``extra["session_id"]``.
"""

from __future__ import annotations

import csv
import re
from typing import ClassVar

from perftui.ingest.formats import ParseOptions
from perftui.ingest.pg_prefix import SEVERITIES, epoch
from perftui.ingest.postgres_stderr import SWEEP_EVERY, Folder, set_extra
from perftui.ingest.records import QUERY, Entry, Reject

# A statement can be longer than the csv module's default field limit (128 KiB).
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))

MIN_COLUMNS = 23  # PG 12; PG 13 adds backend_type, PG 14 leader_pid and query_id
MAX_COLUMNS = 26
_RECORD_START = re.compile(
    r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [^,"]*)?,(?:"(?:[^"]|"")*")?,'
    r'(?:"(?:[^"]|"")*")?,\d*,'
)
# Attachment fields, as the stderr parser names the lines that carry them.
_ATTACHMENTS = (("DETAIL", 14), ("HINT", 15), ("QUERY", 16), ("CONTEXT", 18), ("STATEMENT", 19))


class PostgresCsvParser:
    """Parser for csvlog files (see the module docstring)."""

    name: ClassVar[str] = "postgres-csv"

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.rejects: list[Reject] = []
        self._folder = Folder(self.entries)
        self._open: list[str] = []  # lines of a record whose quotes are still open
        self._open_start = 0
        self._open_quotes = 0
        self._next_sweep = SWEEP_EVERY

    def feed(self, lines: list[str], first_line_no: int) -> None:
        if lines and (lines[0][-1:] == "\r" or lines[-1][-1:] == "\r"):
            lines = [s[:-1] if s[-1:] == "\r" else s for s in lines]
        records: list[tuple[int, int, str]] = []
        singles: list[str] = []  # texts of the one-line records, for one shared csv reader
        line_no = first_line_no - 1
        for line in lines:
            line_no += 1
            if self._open:
                if not _RECORD_START.match(line, 0, 1024):
                    self._open.append(line)
                    self._open_quotes += line.count('"')
                    if not self._open_quotes & 1:
                        records.append((self._open_start, len(self._open), "\n".join(self._open)))
                        self._open = []
                    continue
                self._reject_open("broken csv record (unterminated quote)")
            if not line:
                self.rejects.append(Reject(line_no, "blank line", line))
                continue
            quotes = line.count('"')
            if quotes & 1:
                self._open, self._open_start, self._open_quotes = [line], line_no, quotes
            else:
                records.append((line_no, 1, line))
                singles.append(line)
        self._parse(records, singles)
        if line_no >= self._next_sweep:
            self._next_sweep = line_no + SWEEP_EVERY
            self._folder.sweep(line_no)

    def _parse(self, records: list[tuple[int, int, str]], singles: list[str]) -> None:
        """Rows are read lazily (a batch of row lists alive at once costs in GC time); one-line
        records share one reader, each yields one row; multi-line ones get their own."""
        reader = csv.reader(singles)
        record = self._record
        for line_no, n_lines, text in records:
            if n_lines == 1:
                try:
                    row = next(reader)
                except csv.Error:
                    row = []
            else:
                row = _row(text)
            record(line_no, n_lines, text, row)

    def _record(self, line_no: int, n_lines: int, text: str, row: list[str]) -> None:
        ts = epoch(row[0]) if len(row) >= MIN_COLUMNS and len(row) <= MAX_COLUMNS else None
        if ts is None or row[11] not in SEVERITIES:
            self._reject_lines(line_no, text, "broken csv record")
            return
        host = _host(row[4])
        pid = row[3]
        st = self._folder.session(pid)
        st.last = line_no
        e = Entry(
            line_no,
            n_lines,
            QUERY,
            ts,
            pid,
            row[1] or st.user,
            row[2] or st.db,
            host or st.host,
            row[22] or st.app,
        )
        e.severity = row[11]
        e.extra = {"session_id": row[5]}
        if row[12] != "00000":
            set_extra(e, "sqlstate", row[12])
        if len(row) > 23 and row[23] and row[23] != "client backend":
            set_extra(e, "backend_type", row[23])
        if len(row) > 25 and row[25] not in ("", "0"):
            set_extra(e, "query_id", row[25])
        att = None
        if row[14] or row[15] or row[16] or row[18] or row[19]:
            att = {key: row[i] for key, i in _ATTACHMENTS if row[i]}
        position = row[20] or row[17]
        if position:
            set_extra(e, "position", position)
        self._folder.handle(st, e, row[13], att)

    def _reject_open(self, reason: str) -> None:
        self._reject_lines(self._open_start, "\n".join(self._open), reason)
        self._open = []

    def _reject_lines(self, line_no: int, text: str, reason: str) -> None:
        for i, raw in enumerate(text.split("\n")):
            self.rejects.append(Reject(line_no + i, reason, raw))

    def finish(self) -> None:
        if self._open:  # truncated last record: keep it if it reaches the message
            text = "\n".join(self._open)
            row = _row(text)
            n_lines = len(self._open)
            self._open = []
            if len(row) > 13:
                row += [""] * (MAX_COLUMNS - len(row))
                self._record(self._open_start, n_lines, text, row)
            else:
                self._reject_lines(self._open_start, text, "truncated csv record")
        self._folder.flush_all()

    def settle(self, before_line: int) -> None:
        """Nothing to close early: a record is complete when its last line is read, and the
        folds that stay open wait for later records."""

    @property
    def pending_line(self) -> int | None:
        held = self._folder.pending_line()
        if self._open and (held is None or self._open_start < held):
            return self._open_start
        return held


def _row(text: str) -> list[str]:
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return []


_HOSTS: dict[str, str | None] = {}


def _host(connection_from: str) -> str | None:
    """``host:port`` → host (cached: a session logs the same value on every line)."""
    host = _HOSTS.get(connection_from)
    if host is None:
        head, sep, port = connection_from.rpartition(":")
        host = head if sep and port.isdigit() else connection_from
        if len(_HOSTS) >= 10_000:
            _HOSTS.clear()
        _HOSTS[connection_from] = host
    return host or None


def sniff(lines: list[str]) -> float:
    """Fraction of non-blank lines inside records that parse as csvlog rows."""
    total = sum(1 for s in lines if s.strip())
    if not total:
        return 0.0
    probe = PostgresCsvParser()
    probe.feed(lines, 1)
    probe.finish()
    good = sum(e.n_lines for e in probe.entries)
    return good / total


def make(sample: list[str], options: ParseOptions) -> PostgresCsvParser:
    del sample, options
    return PostgresCsvParser()
