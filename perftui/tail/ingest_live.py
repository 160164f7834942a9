"""Feeding followed files into the store as they grow, in small batches.

:class:`LiveIngest` joins the two halves: a :class:`~perftui.tail.follow.Follower` per path
(bytes, lines, rotations) and an :class:`~perftui.ingest.incremental.IncrementalSource` per file
generation (parser, store, resume point). ``step`` does one round of reading, parsing and
writing and returns what it stored; :func:`follow_loop` runs rounds whenever the watcher says a
file changed, and sleeps otherwise.

Where a file starts: at the offset the store already holds for it (resume); else at its start
with ``from_start``, or for a file that appeared after tailing began (a new file, a rotation);
else at its end (the start of its last, possibly incomplete, line).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import duckdb

from perftui.ingest.driver import IngestError
from perftui.ingest.formats import ParseOptions
from perftui.ingest.incremental import (
    WARMUP_BYTES,
    IncrementalSource,
    Written,
    check_followable,
    find_source,
)
from perftui.ingest.sources import HEAD_BYTES
from perftui.tail.follow import GRACE_S, READ_BYTES, Ended, Follower, Lines, OpenedFile, Start
from perftui.tail.watcher import Watcher

FLUSH_S = 0.25  # a busy file is stored at most this often (a quiet one at once)
FLUSH_ENTRIES = 20_000  # or until this many wait
SETTLE_S = 0.3  # lines read this long ago are complete (see Parser.settle)
SAFETY_POLL_S = 2.0  # even with notifications, look at the files this often
RATE_WINDOW_S = 5.0


@dataclass(slots=True)
class _Followed:
    path: str
    follower: Follower | None = None
    sources: dict[int, IncrementalSource] = field(default_factory=dict)  # by generation
    marks: deque[tuple[float, int, int]] = field(default_factory=deque)  # (time, gen, next line)
    settled: dict[int, int] = field(default_factory=dict)  # generation -> settled before line
    last_flush: float = 0.0
    fed_since_flush: bool = False
    waiting_reason: str | None = None
    error: str | None = None


class LiveIngest:
    """Follows ``paths`` into the store behind ``con`` (see the module docstring).

    ``notice(text)`` receives one-line messages for the user (where a file starts, rotations,
    files that cannot be followed). ``clock`` is injectable so tests decide when "a while ago"
    is; nothing here sleeps.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        paths: Iterable[str],
        *,
        from_start: bool = False,
        log_format: str | None = None,
        options: ParseOptions | None = None,
        notice: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        settle_s: float = SETTLE_S,
        flush_s: float = FLUSH_S,
        grace_s: float = GRACE_S,
        read_bytes: int = READ_BYTES,
    ) -> None:
        self.con = con
        self.from_start = from_start
        self.log_format = log_format
        self.options = options or ParseOptions()
        self._notice = notice or (lambda _text: None)
        self._clock = clock
        self._settle_s = settle_s
        self._flush_s = flush_s
        self.entries_written = 0
        self._rate: deque[tuple[float, int]] = deque()
        self._followed: list[_Followed] = []
        for path in dict.fromkeys(str(p) for p in paths):  # each path once, in order
            st = _Followed(path)
            st.follower = Follower(
                st.path,
                self._chooser(st),
                grace_s=grace_s,
                read_bytes=read_bytes,
                clock=clock,
            )
            self._followed.append(st)
        self.behind = False

    # -- public

    @property
    def paths(self) -> list[str]:
        return [st.path for st in self._followed]

    @property
    def active(self) -> int:
        """Paths still followed (not given up on)."""
        return sum(1 for st in self._followed if st.error is None)

    def errors(self) -> dict[str, str]:
        return {st.path: st.error for st in self._followed if st.error is not None}

    def step(self) -> list[Written]:
        """One round: read what is new in every file, parse it, store what is complete."""
        written: list[Written] = []
        now = self._clock()
        self.behind = False
        for st in self._followed:
            if st.error is not None or st.follower is None:
                continue
            try:
                self._step_one(st, now, written)
            except (IngestError, OSError) as exc:  # this file only: the others go on
                self._give_up(st, exc, written)
        return written

    def _step_one(self, st: _Followed, now: float, written: list[Written]) -> None:
        follower = st.follower
        assert follower is not None
        events = follower.poll()
        self.behind |= follower.behind
        for ev in events:
            if isinstance(ev, Lines):
                src = st.sources[ev.file.generation]
                src.feed(ev.lines, ev.raw, ev.first_line_no, ev.start_offset)
                st.marks.append((now, ev.file.generation, src.next_line))
                st.fed_since_flush = True
            elif isinstance(ev, Ended):
                src = st.sources.pop(ev.file.generation)
                st.settled.pop(ev.file.generation, None)
                self._record(written, src.end())
                self._notice(
                    f"{st.path}: {_ENDED[ev.reason]}; {src.entries_written:,}"
                    " entries from that file"
                )
        self._settle(st, now)
        self._flush(st, now, written)
        if follower.failed is not None:
            self._give_up(st, follower.failed, written)

    def next_due(self) -> float | None:
        """Seconds until a settle or a flush is due without new input (None: nothing due)."""
        now = self._clock()
        due: float | None = None
        for st in self._followed:
            for gen, src in st.sources.items():
                if src.unwritten:
                    due = _min(due, st.last_flush + self._flush_s - now)
                pending_marks = [
                    t for t, g, line in st.marks if g == gen and line > st.settled.get(gen, 0)
                ]
                if pending_marks and src.holding:
                    due = _min(due, min(pending_marks) + self._settle_s - now)
        return None if due is None else max(due, 0.0)

    def lag_bytes(self) -> int:
        return sum(st.follower.lag_bytes() for st in self._followed if st.follower is not None)

    def lag_seconds(self) -> float:
        """How long the slowest file has been behind its writer (0 when all are caught up)."""
        now = self._clock()
        since = [
            st.follower.behind_since
            for st in self._followed
            if st.follower is not None and st.follower.behind_since is not None
        ]
        return now - min(since) if since else 0.0

    def rate(self) -> float:
        """Entries stored per second over the last few seconds."""
        self._trim_rate(self._clock())
        return sum(n for _t, n in self._rate) / RATE_WINDOW_S

    def _trim_rate(self, now: float) -> None:
        while self._rate and self._rate[0][0] < now - RATE_WINDOW_S:
            self._rate.popleft()

    def stop(self) -> list[Written]:
        """Store what is complete and the resume points; stop following. Idempotent."""
        written: list[Written] = []
        for st in self._followed:
            for src in st.sources.values():
                self._record(written, src.stop())
            st.sources.clear()
            if st.follower is not None:
                st.follower.close()
                st.follower = None
        return written

    # -- internals

    def _record(self, written: list[Written], w: Written | None) -> None:
        if w is None:
            return
        written.append(w)
        if w.entries:
            now = self._clock()
            self.entries_written += w.entries
            self._rate.append((now, w.entries))
            self._trim_rate(now)

    def _give_up(self, st: _Followed, exc: Exception, written: list[Written]) -> None:
        """Stop following one path (what it stored so far stays, with its resume point)."""
        st.error = str(exc)
        self._notice(f"{st.path}: {exc}; no longer followed")
        for src in st.sources.values():
            with contextlib.suppress(IngestError):
                self._record(written, src.stop())
        st.sources.clear()
        if st.follower is not None:
            st.follower.close()
            st.follower = None

    def _chooser(self, st: _Followed) -> Callable[[OpenedFile], Start | None]:
        def choose(f: OpenedFile) -> Start | None:
            head = f.head(HEAD_BYTES)
            check_followable(st.path, head)
            stored = find_source(self.con, head, f.ino, f.size())
            if stored is not None and stored.complete:
                src = IncrementalSource.resume(
                    self.con, stored, head, inode=f.ino, options=self.options, read_head=f.head
                )
                where = f"resuming at line {src.start_line:,} (byte {src.start_offset:,})"
            else:
                new = self.from_start or not f.existed_at_start
                offset = 0 if new else f.line_start_before(f.initial_size)
                try:
                    src = IncrementalSource.begin(
                        self.con,
                        st.path,
                        head,
                        inode=f.ino,
                        start_offset=offset,
                        log_format=self.log_format,
                        options=self.options,
                        read_head=f.head,
                        reuse_id=stored.source_id if stored is not None else None,
                    )
                except IngestError as exc:
                    if len(head) < HEAD_BYTES and self.log_format is None:
                        # Too little to recognise yet: wait for more lines.
                        if st.waiting_reason is None:
                            self._notice(f"{st.path}: waiting for more lines ({exc})")
                        st.waiting_reason = str(exc)
                        return None
                    raise
                where = "from the start" if offset == 0 else f"from byte {offset:,} (its end)"
            st.waiting_reason = None
            if src.start_offset > 0:
                src.warm_up(_warm_up_bytes(f, src.start_offset))
            st.sources[f.generation] = src
            self._notice(f"{st.path}: following as {src.format}, {where}")
            return Start(src.start_offset, src.start_line)

        return choose

    def _settle(self, st: _Followed, now: float) -> None:
        """Complete held entries whose lines were read ``settle_s`` ago or earlier."""
        marks = st.marks
        limits: dict[int, int] = {}
        cutoff = now - self._settle_s
        while marks and marks[0][0] <= cutoff:
            _t, gen, line = marks.popleft()
            limits[gen] = line
        for gen, line in limits.items():
            src = st.sources.get(gen)
            if src is None or line <= st.settled.get(gen, 0):
                continue
            st.settled[gen] = line
            if src.holding:
                src.settle(line)

    def _flush(self, st: _Followed, now: float, written: list[Written]) -> None:
        """Store at most every ``flush_s`` (each commit has a fixed cost, so a busy file gets
        fewer, bigger ones), at once after a quiet spell, or when many entries wait."""
        since = now - st.last_flush
        for src in st.sources.values():
            n = src.unwritten
            if (n and (since >= self._flush_s or n >= FLUSH_ENTRIES)) or (
                st.fed_since_flush and since >= 1.0  # only the resume point moved on
            ):
                self._record(written, src.flush())
                st.last_flush = now
                st.fed_since_flush = False


_ENDED = {
    "rotated": "rotated away and finished",
    "deleted": "deleted and finished",
    "truncated": "truncated; the new content is a new source",
    "closed": "closed",
}


def _warm_up_bytes(f: OpenedFile, offset: int) -> bytes:
    """Up to WARMUP_BYTES before ``offset``, from a line start."""
    start = max(0, offset - WARMUP_BYTES)
    raw = f.pread(offset - start, start)
    if start > 0:
        cut = raw.find(b"\n")
        raw = raw[cut + 1 :] if cut >= 0 else b""
    return raw


def _min(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def follow_loop(
    live: LiveIngest,
    watcher: Watcher,
    on_written: Callable[[list[Written]], None],
    should_stop: Callable[[], bool],
    *,
    tick: Callable[[], float | None] | None = None,
) -> None:
    """Run ``live.step`` whenever a file may have changed, until ``should_stop()``.

    Sleeps in ``watcher.wait`` between rounds (no busy loop): until a change, a settle or flush
    falls due, ``tick()`` (if given; it returns seconds until it wants to run again) is due,
    or at most ``SAFETY_POLL_S``.
    """
    while not should_stop():
        written = live.step()
        if written:
            on_written(written)
        wait = tick() if tick is not None else None
        if live.behind or should_stop():
            continue
        due = live.next_due()
        timeout = SAFETY_POLL_S
        for t in (due, wait):
            if t is not None:
                timeout = min(timeout, t)
        if timeout > 0:
            watcher.wait(timeout)
