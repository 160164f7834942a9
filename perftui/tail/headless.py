"""``perftui tail --headless``: one line per new slow query and per new or escalated finding.

Text on a terminal (cut to its width), JSON Lines with ``--format jsonl`` for other tools.
Statements are printed as fingerprints (literals hidden) unless ``--show-literals``; every string
from the log is cleaned of terminal control sequences first. Notices (where each file starts,
rotations) and the closing summary go to standard error, so standard output holds only records.
The advisor runs every ``findings_every`` seconds at most, and only when entries arrived.
"""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import duckdb
import orjson

from perftui.ingest.formats import ParseOptions
from perftui.ingest.incremental import Written
from perftui.report.model import _finding_dict
from perftui.rules import registry
from perftui.rules.base import Finding, Workload, severity_rank
from perftui.store import schema
from perftui.store.results import first
from perftui.tail.ingest_live import LiveIngest, follow_loop
from perftui.tail.watcher import make_watcher
from perftui.textsafe import clean

FINDINGS_EVERY_S = 5.0


@dataclass(slots=True)
class HeadlessOptions:
    db: str
    files: list[str]
    min_ms: float = 0.0
    fmt: str = "text"  # text | jsonl
    show_literals: bool = False
    from_start: bool = False
    log_format: str | None = None
    prefix: str | None = None
    findings_every: float = FINDINGS_EVERY_S
    force_polling: bool = False


_QUERY_SQL = """
SELECT e.entry_no, e.line_start, e.ts, e.duration_ms, e.rows_sent, e.rows_examined,
       e.user_name, e.db, e.host, e.class_id, c.fingerprint, e.query
FROM entries e LEFT JOIN query_classes c USING (class_id)
WHERE e.source_id = ? AND e.entry_no BETWEEN ? AND ? AND e.kind = 'query'
  AND (e.duration_ms >= ? OR (e.duration_ms IS NULL AND ? <= 0))
ORDER BY e.entry_no
"""


def finding_key(f: Finding) -> tuple:
    """What a finding is about (rule, classes, tables, columns): its numbers may change from
    one run of the advisor to the next without it being a different finding."""
    return (f.rule, tuple(sorted(f.query_class_ids)), tuple(f.tables), tuple(f.columns))


@dataclass(slots=True)
class FindingTracker:
    """Which findings were seen, at which severity (keyed by ``finding_key``)."""

    seen: dict[tuple, int] = field(default_factory=dict)

    def update(self, findings: list[Finding]) -> list[tuple[str, Finding, str | None]]:
        """(status, finding, previous severity) for each new or escalated finding."""
        out: list[tuple[str, Finding, str | None]] = []
        for f in findings:
            k = finding_key(f)
            rank = severity_rank(f.severity)
            before = self.seen.get(k)
            if before is None:
                out.append(("new", f, None))
            elif rank > before:
                out.append(("escalated", f, _SEVERITY_NAMES[before]))
            if before is None or rank > before:
                self.seen[k] = rank
        return out


_SEVERITY_NAMES = ("info", "low", "medium", "high", "critical")


class Printer:
    """Writes query and finding records to ``out`` (text or JSON Lines)."""

    def __init__(self, out: TextIO, opts: HeadlessOptions) -> None:
        self.out = out
        self.opts = opts
        self.jsonl = opts.fmt == "jsonl"
        self.width = shutil.get_terminal_size().columns if _isatty(out) else 0
        self.queries = 0
        self.findings_new = 0
        self.findings_escalated = 0

    def print_queries(self, con: duckdb.DuckDBPyConnection, written: list[Written]) -> None:
        lines: list[str] = []
        for w in written:
            if not w.entries:
                continue
            rows = con.execute(
                _QUERY_SQL,
                [
                    w.source_id,
                    w.first_entry_no,
                    w.first_entry_no + w.entries - 1,
                    self.opts.min_ms,
                    self.opts.min_ms,
                ],
            ).fetchall()
            for row in rows:
                lines.append(self._query_line(w.path, row))
        if lines:
            self.queries += len(lines)
            self._write(lines)

    def _query_line(self, path: str, row: tuple) -> str:
        (_no, line, ts, ms, sent, examined, user, db, host, class_id, fingerprint, query) = row
        statement = query if self.opts.show_literals else fingerprint
        if self.jsonl:
            rec: dict[str, Any] = {
                "type": "query",
                "source": clean(path),
                "line": line,
                "ts": _iso(ts),
                "duration_ms": ms,
                "rows_sent": sent,
                "rows_examined": examined,
                "user": _clean_or_none(user),
                "db": _clean_or_none(db),
                "host": _clean_or_none(host),
                "class_id": class_id,
                "fingerprint": _clean_or_none(fingerprint),
            }
            if self.opts.show_literals:
                rec["query"] = _clean_or_none(query)
            return orjson.dumps(rec).decode()
        when = ts.strftime("%H:%M:%S.%f")[:-3] if ts is not None else "--:--:--.---"
        dur = f"{ms:10.3f} ms" if ms is not None else "         - ms"
        who = clean(f"{user or '?'}@{db or '?'}", one_line=True)
        text = f"{when} {dur}  {who}  {class_id or '-'}  {clean(statement, one_line=True)}"
        return self._fit(text)

    def print_findings(self, changes: list[tuple[str, Finding, str | None]]) -> None:
        lines: list[str] = []
        for status, f, before in changes:
            if status == "new":
                self.findings_new += 1
            else:
                self.findings_escalated += 1
            if self.jsonl:
                rec = {"type": "finding", "status": status, "previous_severity": before}
                rec.update(_finding_dict(f, self.opts.show_literals))
                lines.append(orjson.dumps(rec, default=str).decode())
            else:
                what = "NEW" if status == "new" else f"ESCALATED (was {before})"
                classes = ", ".join(f.query_class_ids[:3]) or "-"
                text = (
                    f"finding {what}: {f.severity} {f.rule}: {clean(f.title, one_line=True)}"
                    f"  [{f.impact_ms:,.1f} ms; {classes}]"
                )
                lines.append(self._fit(text))
        if lines:
            self._write(lines)

    def print_summary(self, live: LiveIngest, elapsed: float) -> None:
        if self.jsonl:
            rec = {
                "type": "summary",
                "entries": live.entries_written,
                "queries_printed": self.queries,
                "findings_new": self.findings_new,
                "findings_escalated": self.findings_escalated,
                "seconds": round(elapsed, 3),
                "files": live.paths,
                "errors": live.errors(),
            }
            self._write([orjson.dumps(rec).decode()])

    def _fit(self, text: str) -> str:
        if self.width and len(text) > self.width:
            return text[: max(self.width - 1, 1)] + "…"
        return text

    def _write(self, lines: list[str]) -> None:
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()


def _iso(ts: dt.datetime | None) -> str | None:
    return None if ts is None else ts.isoformat() + "Z"


def _clean_or_none(text: str | None) -> str | None:
    return None if text is None else clean(text)


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


class Advisor:
    """Runs the rules now and then; returns what is new or escalated since the last run."""

    def __init__(self, con: duckdb.DuckDBPyConnection, every_s: float) -> None:
        self.con = con
        self.every_s = every_s
        self.tracker = FindingTracker()
        self.last_run = 0.0
        self.last_took = 0.0
        self.dirty = False
        self.error: str | None = None

    def run(self) -> list[tuple[str, Finding, str | None]]:
        start = time.monotonic()
        try:
            found = registry.run(Workload(self.con))
        except Exception as exc:  # a rule failing must not stop the tail
            if self.error is None:
                self.error = f"advisor failed: {type(exc).__name__}: {exc}"
            found = []
        self.last_took = time.monotonic() - start
        self.last_run = time.monotonic()
        self.dirty = False
        return self.tracker.update(found)

    def due_in(self) -> float | None:
        """Seconds until the next run is due (None when nothing new arrived)."""
        if not self.dirty or self.every_s <= 0:
            return None
        interval = max(self.every_s, 5 * self.last_took)
        return max(self.last_run + interval - time.monotonic(), 0.0)


def run(opts: HeadlessOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Follow ``opts.files`` until Ctrl-C / SIGTERM; returns the exit code (2 when no file
    could be followed)."""
    out = out or sys.stdout
    err = err or sys.stderr
    stop = threading.Event()

    def notice(text: str) -> None:
        err.write("perftui tail: " + clean(text, one_line=True) + "\n")
        err.flush()

    con = schema.connect(opts.db)
    printer = Printer(out, opts)
    advisor = Advisor(con, opts.findings_every)
    has_entries = first(con.execute("SELECT EXISTS (SELECT 1 FROM entries)"))[0]
    if opts.findings_every > 0 and has_entries:
        advisor.run()  # what the store already shows is not news
    live = LiveIngest(
        con,
        opts.files,
        from_start=opts.from_start,
        log_format=opts.log_format,
        options=ParseOptions(prefix=opts.prefix),
        notice=notice,
    )
    watcher = make_watcher(opts.files, force_polling=opts.force_polling)
    previous = _install_signals(stop, watcher.wake)
    started = time.monotonic()

    def on_written(written: list[Written]) -> None:
        printer.print_queries(con, written)
        if any(w.entries for w in written):
            advisor.dirty = True

    def tick() -> float | None:
        due = advisor.due_in()
        if due is None or due > 0:
            return due
        printer.print_findings(advisor.run())
        if advisor.error:
            notice(advisor.error)
            advisor.error = None
        return advisor.due_in()

    pipe_open = True
    try:
        on_written(live.step())  # start points fixed before the user is told we follow
        notice(f"following {len(opts.files)} file(s) into {opts.db} ({watcher.kind}); Ctrl-C stops")
        follow_loop(live, watcher, on_written, stop.is_set, tick=tick)
    except BrokenPipeError:
        pipe_open = False  # the reader went away: stop as cleanly as for Ctrl-C
    finally:
        _restore_signals(previous)
        watcher.close()
        written = live.stop()
        try:
            if pipe_open:
                on_written(written)
                if advisor.dirty and opts.findings_every > 0:
                    printer.print_findings(advisor.run())
                printer.print_summary(live, time.monotonic() - started)
        except BrokenPipeError:
            pass
        finally:
            con.close()
        elapsed = time.monotonic() - started
        rate = live.entries_written / elapsed if elapsed > 0 else 0.0
        notice(
            f"stopped: {live.entries_written:,} entries in {elapsed:,.1f} s ({rate:,.1f}/s); "
            f"{printer.queries:,} queries shown, {printer.findings_new} new and "
            f"{printer.findings_escalated} escalated findings; resume points saved in {opts.db}"
        )
    return 2 if live.active == 0 and live.errors() else 0


def _install_signals(stop: threading.Event, wake: Any) -> dict[int, Any]:
    """First Ctrl-C / SIGTERM: stop cleanly after the current round; a second one: at once."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        wake()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
