"""The records every log parser produces and the interface every parser implements.

Parsers turn lines into :class:`Entry` and :class:`Reject` records and know nothing about files,
compression or the store. The driver (``perftui.ingest.driver``) feeds them lines in batches and
writes what they produce. Every input line must end up counted either in exactly one entry's
``n_lines`` or in exactly one reject, so that ``lines read = entry lines + rejected lines``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

# Entry kinds. Only QUERY entries form query classes; the others feed detectors and reports.
QUERY = "query"  # a statement that ran, normally with a duration
ERROR = "error"  # a failed statement (PostgreSQL ERROR + STATEMENT)
CONNECT = "connect"  # a session was opened / authorized
DISCONNECT = "disconnect"  # a session ended (duration_ms = session time when known)
ADMIN = "admin"  # MySQL "# administrator command: …"
MESSAGE = "message"  # any other server message (checkpoints, warnings…): kept, not classed


@dataclass(slots=True)
class Entry:
    """One logical log entry, whatever the source format.

    Timestamps are epoch seconds in UTC (``ts``); the store converts them. ``n_lines`` is the number
    of input lines this entry consumed (including header / DETAIL / continuation lines that may not
    be contiguous when sessions interleave); ``line_start`` is its first line (1-based) and orders
    entries within a source.
    """

    line_start: int
    n_lines: int
    kind: str = QUERY
    ts: float | None = None
    session: str | None = None  # PostgreSQL pid or %c session id, MySQL thread id
    user: str | None = None
    db: str | None = None
    host: str | None = None
    app: str | None = None
    duration_ms: float | None = None
    lock_ms: float | None = None
    rows_sent: int | None = None
    rows_examined: int | None = None
    rows_affected: int | None = None
    bytes_sent: int | None = None
    query: str | None = None  # statement text as logged (whitespace trimmed)
    statement_name: str | None = None  # PostgreSQL prepared statement / portal name
    params: str | None = None  # PostgreSQL "DETAIL:  parameters: …" text
    parse_ms: float | None = None  # PostgreSQL extended protocol phase timings
    bind_ms: float | None = None
    plan: str | None = None  # auto_explain plan / MariaDB log_slow_verbosity plan lines
    severity: str | None = None  # PostgreSQL LOG / ERROR / FATAL …
    message: str | None = None  # error text or other server message
    extra: dict[str, str] | None = field(default=None)  # every other field the log carried


@dataclass(slots=True, frozen=True)
class Reject:
    """An input line that is not part of any entry, with why (e.g. ``"server header"``)."""

    line_no: int
    reason: str
    raw: str


class Parser(Protocol):
    """A stateful line parser for one log format.

    ``feed`` receives consecutive lines (without their line terminators) starting at line number
    ``first_line_no`` and appends finished records to ``entries`` / ``rejects``; the driver drains
    both lists after each call. ``finish`` flushes whatever is still open at end of input (a
    truncated last entry is still an entry). ``pending_line`` is the first line number of the
    oldest entry not yet emitted (``None`` when nothing is open): the tailer resumes from there.
    """

    name: ClassVar[str]
    entries: list[Entry]
    rejects: list[Reject]

    def feed(self, lines: list[str], first_line_no: int) -> None: ...

    def finish(self) -> None: ...

    def settle(self, before_line: int) -> None:
        """Close what the server always writes in one go, for entries begun before
        ``before_line``: PostgreSQL writes a message with its continuation and DETAIL lines in
        one ``write``, MySQL an entry with its statement, so once those lines have been in the
        file for a while nothing more can join them. Parsers cannot know that alone (they wait
        for the session's next line or the next entry's header); the tailer knows the time.
        Folds that wait for a *later* message (``statement:`` + ``duration:``, parse/bind +
        execute) stay open."""
        ...

    @property
    def pending_line(self) -> int | None: ...


class ColumnarParser(Protocol):
    """A parser that hands over finished entries as Arrow tables instead of ``entries`` (the
    compiled slow-log parser): building ``Entry`` objects and converting them costs more than
    parsing. Same ``feed`` / ``finish`` / ``settle`` / ``pending_line`` / ``rejects`` as
    :class:`Parser`; ``take_table`` returns what ``writer.to_arrow`` would make of the
    ``entry_count`` entries finished so far, numbered from ``first_entry_no``, and forgets them.
    """

    name: ClassVar[str]
    rejects: list[Reject]

    def feed(self, lines: list[str], first_line_no: int) -> None: ...

    def finish(self) -> None: ...

    def settle(self, before_line: int) -> None: ...

    @property
    def pending_line(self) -> int | None: ...

    @property
    def entry_count(self) -> int: ...

    def take_table(self, first_entry_no: int) -> pa.Table: ...
