"""Following one log by name, like ``tail -F``: complete lines out, rotations handled.

A :class:`Follower` owns the file its path currently names (a *generation*) and turns what is
appended to it into :class:`Lines` events holding complete lines only; a partial last line waits
until its newline arrives. When the name moves on, the old generation is finished first:

* rename + new file, deletion + re-creation: the old file is read to its end once the new one
  has data (so a writer still writing to the old file until it reopens loses nothing), then a
  final unterminated line, if any, is emitted and :class:`Ended` closes the generation;
* deletion alone: the old file is finished once it has been idle for ``grace_s``;
* copy-truncate (size below what was read, or the first bytes rewritten): the old generation
  ends; what was appended after the last read is taken from the copy (``<path>.1``) when
  that is verifiably the copy, else it is lost as with ``tail -F``; the new content is a new
  generation;
* a file that does not exist yet: nothing happens until it appears.

Where each generation starts is the caller's decision (``choose_start``), made once the file
has its first complete line, since identifying a log and detecting its format need its head.
This module knows bytes and lines, nothing about SQL or the store.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass

from perftui.ingest.sources import _decode

READ_BYTES = 1 << 20  # at most this much is read from one file per poll: the loop stays live
HEAD_CHECK = 1024  # first bytes remembered to notice a truncate-and-rewrite that outgrew us
GRACE_S = 5.0
COPY_SUFFIX = ".1"  # where logrotate's copytruncate leaves the copy
LAST_BYTES = 256


class OpenedFile:
    """One file the followed name pointed to, held open so that a rename or delete does not
    lose it. ``existed_at_start`` is true only for the file that was there when following began
    (the one "start at the end" applies to); ``initial_size`` is its size when first opened."""

    def __init__(self, path: str, fd: int, generation: int, existed_at_start: bool) -> None:
        st = os.fstat(fd)
        self.path = path
        self.fd = fd
        self.dev, self.ino = st.st_dev, st.st_ino
        self.generation = generation
        self.existed_at_start = existed_at_start
        self.initial_size = st.st_size

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def deleted(self) -> bool:
        return os.fstat(self.fd).st_nlink == 0

    def pread(self, n: int, offset: int) -> bytes:
        return os.pread(self.fd, n, offset)

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes (fewer if the file is shorter)."""
        parts: list[bytes] = []
        got = 0
        while got < n:
            block = os.pread(self.fd, n - got, got)
            if not block:
                break
            parts.append(block)
            got += len(block)
        return b"".join(parts)

    def line_start_before(self, offset: int) -> int:
        """Offset of the start of the line that contains ``offset - 1`` (i.e. just after the
        last newline before ``offset``; 0 when there is none)."""
        pos = offset
        while pos > 0:
            size = min(64 * 1024, pos)
            block = self.pread(size, pos - size)
            cut = block.rfind(b"\n")
            if cut >= 0:
                return pos - size + cut + 1
            pos -= size
        return 0

    def close(self) -> None:
        os.close(self.fd)


@dataclass(frozen=True, slots=True)
class Start:
    """Where to begin reading a generation: a byte offset at a line start and its line number."""

    offset: int
    line_no: int


@dataclass(slots=True)
class Lines:
    """Complete lines of one generation. ``raw`` is the bytes they were decoded from (from
    ``start_offset`` to ``end_offset``), so a caller can find the offset of any of them."""

    file: OpenedFile
    lines: list[str]
    raw: bytes
    first_line_no: int
    start_offset: int
    end_offset: int
    final: bool = False  # the unterminated last line of a generation that has ended


@dataclass(slots=True)
class Ended:
    """A generation is finished: every line of it has been emitted."""

    file: OpenedFile
    reason: str  # rotated | deleted | truncated | closed
    end_offset: int


Event = Lines | Ended


@dataclass(slots=True)
class _Reading:
    file: OpenedFile
    offset: int = 0  # end of the last complete line emitted
    line_no: int = 1  # number of the next line
    carry: bytes = b""  # bytes after ``offset`` read but not yet ended by a newline
    started: bool = False
    head: bytes = b""  # first bytes as first read (HEAD_CHECK at most)
    size_seen: int = -1
    closing: str | None = None  # set once the name moved on: drain to the end, then end
    last_bytes: bytes = b""  # the end of what was emitted (to recognise a copytruncate copy)
    idle_since: float = 0.0

    @property
    def position(self) -> int:
        return self.offset + len(self.carry)


class Follower:
    """Follows ``path`` by name (see the module docstring). Not thread-safe: one loop polls it.

    ``choose_start(file)`` is called when a generation has a complete first line (or is at least
    ``HEAD_CHECK`` bytes long); it returns where to start, or None to be asked again later. If
    it raises, the events read so far are still returned and the exception is kept in
    ``failed``; the follower does nothing more.
    """

    def __init__(
        self,
        path: str,
        choose_start: Callable[[OpenedFile], Start | None],
        *,
        grace_s: float = GRACE_S,
        read_bytes: int = READ_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._choose = choose_start
        self._grace = grace_s
        self._read_bytes = read_bytes
        self._clock = clock
        self._cur: _Reading | None = None
        self._generation = 0
        self._first_look = True
        self.behind = False  # the last poll stopped with more to read
        self.behind_since: float | None = None  # when it last fell behind (None: caught up)
        self.failed: Exception | None = None  # what ``choose_start`` raised; polling stops

    # -- public

    @property
    def current(self) -> OpenedFile | None:
        return self._cur.file if self._cur is not None else None

    def lag_bytes(self) -> int:
        """Bytes in the current file not yet read (0 when caught up or nothing is open)."""
        cur = self._cur
        if cur is None or not cur.started:
            return 0
        try:
            return max(cur.file.size() - cur.position, 0)
        except OSError:
            return 0

    def poll(self) -> list[Event]:
        """Read what is new (at most ``read_bytes``) and notice rotations; see the module doc."""
        events: list[Event] = []
        self.behind = False
        try:
            return self._poll(events)
        finally:
            if self.behind:
                if self.behind_since is None:
                    self.behind_since = self._clock()
            else:
                self.behind_since = None

    def _poll(self, events: list[Event]) -> list[Event]:
        for _ in range(4):  # a rotation ends one generation and may start the next at once
            if self._cur is None:
                self._cur = self._open()
                if self._cur is None:
                    return events
            cur = self._cur
            if self.failed is not None:
                return events
            try:
                started = cur.started or self._start(cur)
            except Exception as exc:  # the caller's decision failed: report it, after events
                self.failed = exc
                return events
            if not started:
                if self._name_moved(cur) is not None:
                    self._drop(cur)  # replaced before it had a line: never started, nothing lost
                    continue
                return events
            ended = self._read(cur, events)
            if not ended:
                return events
        return events

    def close(self) -> list[Event]:
        """Stop following; nothing is emitted for a partial last line (it may still grow)."""
        if self._cur is not None:
            self._cur.file.close()
            self._cur = None
        return []

    # -- internals

    def _open(self) -> _Reading | None:
        first, self._first_look = self._first_look, False
        try:
            if not stat.S_ISREG(os.stat(self.path).st_mode):
                return None  # a FIFO or device would block or never end
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            self._generation += 1
            f = OpenedFile(self.path, fd, self._generation, existed_at_start=first)
        except OSError:
            os.close(fd)
            return None
        return _Reading(f, idle_since=self._clock())

    def _start(self, cur: _Reading) -> bool:
        f = cur.file
        head = f.head(HEAD_CHECK)
        if b"\n" not in head and len(head) < HEAD_CHECK:
            return False
        start = self._choose(f)
        if start is None:
            return False
        cur.offset, cur.line_no = start.offset, start.line_no
        cur.head = f.head(HEAD_CHECK)
        cur.started = True
        cur.size_seen = -1
        return True

    def _drop(self, cur: _Reading) -> None:
        cur.file.close()
        self._cur = None

    def _name_moved(self, cur: _Reading) -> str | None:
        """None while the name still points to our file; else what became of it."""
        try:
            st = os.stat(self.path)
        except OSError:
            return "deleted"
        if (st.st_dev, st.st_ino) == (cur.file.dev, cur.file.ino):
            return None
        return "deleted" if cur.file.deleted() else "rotated"

    def _truncated(self, cur: _Reading, size: int) -> bool:
        if size < cur.position:
            return True
        if cur.head:
            if cur.file.pread(len(cur.head), 0) != cur.head:
                return True
            if len(cur.head) < HEAD_CHECK and size > len(cur.head):
                cur.head = cur.file.head(min(HEAD_CHECK, size))
        return False

    def _read(self, cur: _Reading, events: list[Event]) -> bool:
        """Read on; returns True when the generation ended (and was closed)."""
        f = cur.file
        size = f.size()
        if size != cur.size_seen:
            if cur.closing is None and self._truncated(cur, size):
                self._read_rest_from_copy(cur, events)
                return self._end(cur, "truncated", events)
            cur.size_seen = size
        now = self._clock()
        if size > cur.position:
            block = f.pread(min(self._read_bytes, size - cur.position), cur.position)
            if block:
                cur.idle_since = now
                self._take(cur, block, events)
            if cur.position < size:
                self.behind = True
                return False
        if cur.closing is not None:
            return self._end(cur, cur.closing, events)
        moved = self._name_moved(cur)
        if moved is None:
            return False
        if moved == "deleted" and not os.path.exists(self.path):
            if now - cur.idle_since >= self._grace:
                return self._end(cur, "deleted", events)
            return False
        # The name points to a new file: the old one is finished once the writer has moved
        # to the new one (it has data). Decided now, drained on the next poll, so that what
        # was written to the old file before the new one got data is read first.
        try:
            new_size = os.stat(self.path).st_size
        except OSError:
            return False
        if new_size > 0:
            cur.closing = moved
            self.behind = True
        return False

    def _read_rest_from_copy(self, cur: _Reading, events: list[Event]) -> None:
        """copytruncate: what was appended after our last read went into the copy, which
        logrotate names ``<path>.1``. Read it from there when that file is verifiably the copy
        (same first bytes, same bytes just before where we stopped)."""
        try:
            fd = os.open(self.path + COPY_SUFFIX, os.O_RDONLY)
        except OSError:
            return
        try:
            size = os.fstat(fd).st_size
            pos = cur.position
            if size <= pos or os.pread(fd, len(cur.head), 0) != cur.head:
                return
            before = cur.last_bytes + cur.carry
            if before and os.pread(fd, len(before), pos - len(before)) != before:
                return
            while pos < size:
                block = os.pread(fd, min(self._read_bytes, size - pos), pos)
                if not block:
                    break
                self._take(cur, block, events)
                pos += len(block)
        finally:
            os.close(fd)

    def _take(self, cur: _Reading, block: bytes, events: list[Event]) -> None:
        data = cur.carry + block if cur.carry else block
        cut = data.rfind(b"\n")
        if cut < 0:
            cur.carry = data
            return
        complete = data[: cut + 1]
        cur.carry = data[cut + 1 :]
        cur.last_bytes = complete[-LAST_BYTES:]
        lines = _decode(complete).split("\n")
        lines.pop()
        start = cur.offset
        cur.offset += len(complete)
        events.append(Lines(cur.file, lines, complete, cur.line_no, start, cur.offset))
        cur.line_no += len(lines)

    def _end(self, cur: _Reading, reason: str, events: list[Event]) -> bool:
        if cur.carry:
            raw = cur.carry
            start = cur.offset
            cur.offset += len(raw)
            cur.carry = b""
            events.append(
                Lines(cur.file, [_decode(raw)], raw, cur.line_no, start, cur.offset, final=True)
            )
            cur.line_no += 1
        events.append(Ended(cur.file, reason, cur.offset))
        cur.file.close()
        self._cur = None
        return True
