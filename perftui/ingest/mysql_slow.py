"""MySQL / MariaDB / Percona Server slow query log parser.

One parser covers every variant because they share a skeleton: ``# Name: value`` header lines,
optional ``use db;`` and ``SET timestamp=N;`` lines, then the statement, which runs until the
next header line that can begin an entry. The variants only add header lines (Percona's
``Thread_id`` / InnoDB block, MariaDB's ``Rows_affected`` / ``Full_scan`` / ``# explain:`` lines,
MySQL 8's ``log_slow_extra`` fields on the ``Query_time`` line), so the per-line work is a
first-character dispatch plus, for header lines, a dict lookup on the header name.

Speed is the main constraint (a 1 GB log must parse far faster than pt-query-digest): statement
lines cost a couple of string tests and an append; the header lines whose values change every
entry (``Query_time``, ``User@Host``, MariaDB's ``Thread_id`` / ``Rows_affected``) have split or
regex fast paths, the others repeat and are parsed once per distinct text; ``# Time:`` is only
converted when an entry has no ``SET timestamp``.

Entries are contiguous in a slow log, so an entry's ``n_lines`` is simply the distance from its
first line to the line before whatever ended it, and every line that is not inside an entry is
a :class:`Reject`.

Batch ingest uses a compiled twin of this parser when it is built (``_mysql_slow_fast.pyx``, see
``make_fast``): a port of ``MySQLSlowParser.feed`` that fills Arrow columns instead of ``Entry``
objects and calls this module's helpers for everything rare. A change to the parser here must be
made there too; ``tests/ingest/test_mysql_slow_fast.py`` fails until both agree.
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import UTC, datetime
from typing import ClassVar

from perftui.ingest.formats import ParseOptions
from perftui.ingest.records import ADMIN, ColumnarParser, Entry, Reject

# Header codes. Codes up to _ADMIN can begin an entry (and end a statement); the rest are only
# read inside an entry's header block and are statement text after the statement has begun.
_TIME, _UH, _THREAD, _QT, _ADMIN, _FIELDS, _PLANF, _EXPLAIN, _RA, _OTHER = range(10)

_HEAD: dict[str, int] = {
    " Time": _TIME,
    " User@Host": _UH,
    " Thread_id": _THREAD,  # Percona / MariaDB, after User@Host
    " Schema": _THREAD,  # Percona 5.6: "# Schema: db  Last_errno: 0  Killed: 0"
    " Client": _THREAD,
    " Query_time": _QT,
    " administrator command": _ADMIN,
    # log_slow_verbosity=query_plan lines (MariaDB and Percona): fields, and kept as the plan.
    " Full_scan": _PLANF,
    " QC_Hit": _PLANF,  # Percona: "# QC_Hit: No  Full_scan: Yes  Full_join: No …"
    " Filesort": _PLANF,
    " explain": _EXPLAIN,  # MariaDB log_slow_verbosity=explain
    " Rows_affected": _RA,  # MariaDB: "# Rows_affected: 0  Bytes_sent: 1517"
}

# Server header lines, written when the log is opened (server start, FLUSH LOGS):
# "<path>, Version: … started with:", "Tcp port: …" ("TCP Port: …" on Windows) and
# "Time  Id Command  Argument" (MariaDB pads that one with tabs). Only lines that start with "T"
# or end with _SRV_END can be one, which is all the hot loop tests.
_SRV_T = ("Tcp port:", "TCP Port:")
_SRV_END = "started with:"

_SET_META = ("SET timestamp=", "SET insert_id=", "SET last_insert_id=")

# "Name: value" pairs. An empty value ("Schema:   Last_errno: 0") must not swallow the next name.
_PAIR_RE = re.compile(r"([A-Za-z_][\w@]*):(?:[ \t]+(?![A-Za-z_][\w@]*:)(\S+))?")
_UH_RE = re.compile(
    r"# User@Host: ([^\[]*)\[([^\]]*)\]\s*@\s*([^\s\[]*)\s*\[([^\]]*)\](?:\s+Id:\s*(\d+))?"
)
# Fast paths for the two MariaDB lines whose values vary too much for the per-text cache.
_MARIA_THREAD_RE = re.compile(r"# Thread_id: (\d+)\s+Schema: (\S*)\s+QC_hit: (\S+)\s*$")
_MARIA_RA_RE = re.compile(r"# Rows_affected: (\d+)\s+Bytes_sent: (\d+)\s*$")
_CLASSIC_TIME_RE = re.compile(r"(\d\d)(\d\d)(\d\d)\s+(\d{1,2}):(\d\d):(\d\d)(\.\d+)?$")

_INT_FIELDS = {
    "Rows_sent": "rows_sent",
    "Rows_examined": "rows_examined",
    "Rows_affected": "rows_affected",
    "Bytes_sent": "bytes_sent",
}
_MS_FIELDS = {"Query_time": "duration_ms", "Lock_time": "lock_ms"}

_CACHE_MAX = 50_000  # distinct header texts kept; cleared when full (values repeat in bursts)
_CACHE_LINE_MAX = 512  # longer header texts are parsed but not cached

_Specials = tuple[tuple[str, object], ...]
# Per distinct header text: Entry attributes, extra fields, and the text as a plan line.
_Fields = tuple[_Specials, dict[str, str] | None, str]


def _is_server_header(line: str) -> bool:
    """The lines a server writes when it opens the log, wherever they appear."""
    line = line.rstrip()
    if line.endswith("Argument"):
        return line.startswith("Time") and "Command" in line
    return line.startswith(_SRV_T) or line.endswith("started with:")


def _use_db(line: str) -> str | None:
    """``use db;`` → db; MariaDB quotes the name (``use `shop`;``)."""
    name = line[4:].strip().rstrip(";").strip()
    if len(name) > 1 and name[0] == "`" and name[-1] == "`":
        name = name[1:-1].replace("``", "`")
    return name or None


_SPECIAL_NAMES = frozenset({*_INT_FIELDS, *_MS_FIELDS, "Thread_id", "Id", "Schema"})


def _parse_fields(text: str) -> tuple[_Specials, dict[str, str] | None]:
    """Split ``Name: value`` pairs into Entry attributes and ``extra`` strings.

    Most pairs go to ``extra`` untouched, so the dict is built in C and only the few names that
    map to Entry attributes are looked at.
    """
    extra = dict(_PAIR_RE.findall(text))
    names = _SPECIAL_NAMES.intersection(extra)
    if not names:
        return (), (extra or None)
    specials: list[tuple[str, object]] = []
    for name in names:
        value = extra[name]
        try:
            if name in _INT_FIELDS:
                specials.append((_INT_FIELDS[name], int(value)))
            elif name in _MS_FIELDS:
                specials.append((_MS_FIELDS[name], float(value) * 1000.0))
            elif name == "Schema":
                # "" marks an explicitly empty Schema: no db, and no inheriting one either.
                specials.append(("db", value))
            elif value:  # Thread_id / Id
                specials.append(("session", value))
            else:
                continue
        except ValueError:
            continue  # unparsable numbers stay in extra as text
        del extra[name]
    return tuple(specials), (extra or None)


def _parse_uh(line: str) -> tuple[str | None, str | None, str | None, dict[str, str] | None]:
    """``# User@Host: user[user] @ host [ip]  Id: N`` → (user, host, thread id, extra)."""
    m = _UH_RE.match(line)
    if m is None:
        return None, None, None, {"User@Host": line[12:].strip()}
    user = m[1].strip() or m[2].strip() or None  # "[SQL_SLAVE] @ …" has only the bracketed name
    host = m[3] or m[4] or None
    return user, host, m[5], None


def _time_to_epoch(raw: str) -> float | None:
    """``# Time:`` text → epoch seconds. Classic ``YYMMDD H:MM:SS`` is server local time (taken as
    UTC); RFC 3339 carries its offset (naive values are taken as UTC)."""
    m = _CLASSIC_TIME_RE.match(raw)
    try:
        if m is not None:
            dt = datetime(
                2000 + int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), tzinfo=UTC
            )
            return dt.timestamp() + (float(m[7]) if m[7] else 0.0)
        dt = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class MySQLSlowParser:
    """Stateful slow-log parser; see the module docstring for the approach.

    ``use db;`` is written by the server only when the schema differs from the last one it
    wrote to the file (one value for the whole log, not per thread), and ``# Time:`` only when
    the second changes, so both carry over to later entries until replaced or until a server
    header (restart) resets them.
    """

    name: ClassVar[str] = "mysql-slow"

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.rejects: list[Reject] = []
        # The open entry and its pieces.
        self._cur: Entry | None = None
        self._phase = 0  # 0: no entry open, 1: reading its headers, 2: reading its statement
        self._rank = -1  # highest entry-starting header code seen in the open entry
        self._qlines: list[str] = []
        self._plan: list[str] = []
        self._use: str | None = None
        self._set_ts: float | None = None
        # Carried across entries.
        self._last_use: str | None = None
        self._last_time: str | None = None
        self._last_no = 0
        # Per distinct text caches.
        self._fcache: dict[str, _Fields] = {}
        self._uhcache: dict[
            str, tuple[str | None, str | None, str | None, dict[str, str] | None]
        ] = {}
        self._tcache: dict[str, float | None] = {}

    @property
    def pending_line(self) -> int | None:
        return None if self._cur is None else self._cur.line_start

    # -- the hot loop -------------------------------------------------------------------------

    def feed(self, lines: list[str], first_line_no: int) -> None:
        # Everything the loop touches is bound to a local first: global and attribute loads are
        # paid per line, and this loop runs ~10 M times per GB.
        c_time, c_uh, c_thread, c_qt, c_admin = _TIME, _UH, _THREAD, _QT, _ADMIN
        c_fields, c_planf, c_explain, c_ra, c_other = _FIELDS, _PLANF, _EXPLAIN, _RA, _OTHER
        srv_end, set_meta = _SRV_END, _SET_META
        new_entry, new_reject, is_server_header = Entry, Reject, _is_server_header
        rejects = self.rejects
        emit = self._emit
        fcache = self._fcache
        fields = self._fields
        head_get = _HEAD.get
        thread_match = _MARIA_THREAD_RE.match
        ra_match = _MARIA_RA_RE.match
        uhcache = self._uhcache
        cur = self._cur
        phase = self._phase
        rank = self._rank
        qlines = self._qlines
        plan = self._plan
        use = self._use
        set_ts = self._set_ts
        no = first_line_no - 1
        for no, line in enumerate(lines, first_line_no):
            c = line[:1]
            if c != "#":
                if phase == 2:  # statement text, unless a server header interrupts it
                    if (c != "T" and not line.endswith(srv_end)) or not is_server_header(line):
                        qlines.append(line)
                        continue
                elif c == "S" and line.startswith(set_meta) and (cur is None or set_ts is None):
                    if cur is None:  # no headers (e.g. a log cut mid-entry): still an entry
                        cur = new_entry(no, 0)
                        qlines, plan, use, set_ts, phase, rank = [], [], None, None, 1, c_qt
                    if line[4] == "t" and line[-1] == ";":  # the usual "SET timestamp=N;"
                        try:
                            set_ts = float(line[14:-1])
                        except ValueError:
                            set_ts = self._set_line(cur, line)
                    else:
                        set_ts = self._set_line(cur, line)
                    continue
                elif c == "u" and line.startswith("use ") and (cur is None or use is None):
                    if cur is None:
                        cur = new_entry(no, 0)
                        qlines, plan, use, set_ts, phase, rank = [], [], None, None, 1, c_qt
                    use = _use_db(line)
                    continue
                elif (c != "T" and not line.endswith(srv_end)) or not is_server_header(line):
                    if cur is None:
                        reason = "text outside an entry" if line.strip() else "blank line"
                        rejects.append(new_reject(no, reason, line))
                    else:  # the statement's first line
                        phase = 2
                        qlines.append(line)
                    continue
                # A server header: it ends any open entry and is counted as a reject.
                if cur is not None:
                    emit(cur, no - 1, qlines, plan, use, set_ts)
                    cur = None
                    phase = 0
                self._reset_carried()
                rejects.append(new_reject(no, "server header", line))
                continue

            # A "#" line: its header name is the text between "# " and the first ":".
            i = line.find(":", 2, 64)
            code = head_get(line[1:i], c_fields) if i > 0 else c_other
            if phase == 2:
                if code > c_admin:  # not a header that starts an entry: a comment in the SQL
                    qlines.append(line)
                    continue
                emit(cur, no - 1, qlines, plan, use, set_ts)
                cur = None
                phase = 0
            if code <= c_admin:
                if cur is not None and code <= rank:  # e.g. a second User@Host: a new entry
                    emit(cur, no - 1, qlines, plan, use, set_ts)
                    cur = None
                if cur is None:
                    cur = new_entry(no, 0)
                    qlines, plan, use, set_ts, phase = [], [], None, None, 1
                if code == c_uh:
                    rank = c_uh
                    u = uhcache.get(line)
                    if u is None or u[3] is not None:
                        self._user_host(cur, line)
                    else:
                        cur.user = u[0]
                        cur.host = u[1]
                        if u[2] is not None:
                            cur.session = u[2]
                elif code == c_qt:
                    rank = c_qt
                    # "# Query_time: 0.000291  Lock_time: 0.000093 Rows_sent: 100  Rows_examined:
                    # 111", then for Percona / log_slow_extra more pairs (values have no spaces).
                    p = line.split()
                    if (
                        len(p) >= 9
                        and p[3] == "Lock_time:"
                        and p[5] == "Rows_sent:"
                        and p[7] == "Rows_examined:"
                    ):
                        try:
                            cur.duration_ms = float(p[2]) * 1000.0
                            cur.lock_ms = float(p[4]) * 1000.0
                            cur.rows_sent = int(p[6])
                            cur.rows_examined = int(p[8])
                        except ValueError:
                            fields(cur, line)
                        else:
                            if len(p) > 9:
                                fields(cur, " ".join(p[9:]))
                    else:
                        fields(cur, line)
                elif code == c_thread:
                    rank = c_thread
                    m = thread_match(line)
                    if m is None:
                        fields(cur, line)
                    else:
                        cur.session = m[1]
                        cur.db = m[2]
                        if cur.extra is None:
                            cur.extra = {"QC_hit": m[3]}
                        else:
                            cur.extra["QC_hit"] = m[3]
                elif code == c_time:
                    rank = self._time_line(cur, line)
                else:  # "# administrator command: Quit;" is the entry's statement, and its end
                    q = line[2:].strip()
                    cur.kind = ADMIN
                    cur.query = q[:-1].rstrip() if q.endswith(";") else q
                    emit(cur, no, qlines, plan, use, set_ts)
                    cur = None
                    phase = 0
                continue
            if cur is None:
                if code == c_other:
                    rejects.append(new_reject(no, "comment outside an entry", line))
                    continue
                # Header fields with no entry start (e.g. a log cut mid-entry): open one.
                cur = new_entry(no, 0)
                qlines, plan, use, set_ts, phase, rank = [], [], None, None, 1, c_qt
            if code == c_ra:
                m = ra_match(line)
                if m is not None:
                    cur.rows_affected = int(m[1])
                    cur.bytes_sent = int(m[2])
                    continue
                code = c_fields
            if code == c_fields and line[1:2] == "#":
                code = c_other  # "## …": the MariaDB 10.0 explain block, below
            if code <= c_planf:  # _FIELDS or _PLANF (the only codes left below _EXPLAIN)
                f = fcache.get(line)
                if f is None:
                    f = self._cache_fields(line)
                if f[0]:
                    for attr, value in f[0]:
                        setattr(cur, attr, value)
                ex = f[1]
                if ex is not None:
                    if cur.extra is None:
                        cur.extra = ex.copy()
                    else:
                        cur.extra.update(ex)
                if code == c_planf:
                    plan.append(f[2])
            elif code == c_explain:
                plan.append(line[i + 1 :].strip(" \r"))
            elif line.startswith("##"):  # MariaDB 10.0 "## <explain> … ## </explain>" block
                text = line[2:].strip()
                if text and text != "<explain>" and text != "</explain>":
                    plan.append(text)
            # Anything else ("#", "# No InnoDB statistics available …") is consumed as is.

        self._cur = cur
        self._phase = phase
        self._rank = rank
        self._qlines = qlines
        self._plan = plan
        self._use = use
        self._set_ts = set_ts
        self._last_no = no

    def finish(self) -> None:
        if self._cur is not None:
            self._emit(self._cur, self._last_no, self._qlines, self._plan, self._use, self._set_ts)
        self._cur = None
        self._phase = 0
        self._rank = -1
        self._qlines, self._plan, self._use, self._set_ts = [], [], None, None

    def settle(self, before_line: int) -> None:
        """An entry in its statement (phase 2) begun before ``before_line`` is complete: only
        more statement text could follow, and the server writes an entry in one go."""
        cur = self._cur
        if cur is not None and self._phase == 2 and cur.line_start < before_line:
            self.finish()

    # -- per entry / per distinct text helpers ---------------------------------------------------

    def _emit(
        self,
        e: Entry,
        end_no: int,
        qlines: list[str],
        plan: list[str],
        use: str | None,
        set_ts: float | None,
    ) -> None:
        e.n_lines = end_no - e.line_start + 1
        if qlines:
            q = (qlines[0] if len(qlines) == 1 else "\n".join(qlines)).strip()
            if q[-1:] == ";":
                q = q[:-1].rstrip()
            e.query = q or None
        if plan:
            e.plan = "\n".join(plan)
        if use is not None:
            e.db = use
            self._last_use = use
        elif e.db is None:
            e.db = self._last_use
        elif not e.db:
            e.db = None  # "Schema:" present but empty
        if set_ts is not None:
            e.ts = set_ts
        elif self._last_time is not None:
            raw = self._last_time
            tc = self._tcache
            ts = tc.get(raw, -1.0)
            if ts == -1.0:
                if len(tc) >= _CACHE_MAX:
                    tc.clear()
                ts = tc[raw] = _time_to_epoch(raw)
            e.ts = ts
        self.entries.append(e)

    def _cache_fields(self, text: str) -> _Fields:
        """Parse ``text``'s pairs (and its plan text) and cache them by text."""
        specials, extra = _parse_fields(text)
        f = (specials, extra, text[2:].strip())
        if len(text) <= _CACHE_LINE_MAX:
            fc = self._fcache
            if len(fc) >= _CACHE_MAX:
                fc.clear()
            fc[text] = f
        return f

    def _fields(self, e: Entry, text: str) -> None:
        """Apply the ``Name: value`` pairs of ``text`` to ``e`` (cached per distinct text)."""
        f = self._fcache.get(text)
        if f is None:
            f = self._cache_fields(text)
        for attr, value in f[0]:
            setattr(e, attr, value)
        ex = f[1]
        if ex is not None:
            if e.extra is None:
                e.extra = ex.copy()
            else:
                e.extra.update(ex)

    def _user_host(self, e: Entry, line: str) -> None:
        uc = self._uhcache
        u = uc.get(line)
        if u is None:
            u = _parse_uh(line)
            if len(uc) >= _CACHE_MAX:
                uc.clear()
            uc[line] = u
        e.user, e.host = u[0], u[1]
        if u[2] is not None:
            e.session = u[2]
        if u[3] is not None:
            e.extra = {**(e.extra or {}), **u[3]}

    def _time_line(self, e: Entry, line: str) -> int:
        """Record a ``# Time:`` line; Percona may append ``# User@Host: …`` on the same line.
        Returns the entry's new rank."""
        rest = line[7:]
        j = rest.find(" # ")
        if j < 0:
            self._last_time = rest.strip()
            return _TIME
        self._last_time = rest[:j].strip()
        rank = _TIME
        for seg in rest[j + 3 :].split(" # "):
            seg = "# " + seg.strip()
            if seg.startswith("# User@Host:"):
                self._user_host(e, seg)
                rank = max(rank, _UH)
            else:
                self._fields(e, seg)
                rank = max(rank, _THREAD)
        return rank

    def _set_line(self, e: Entry, line: str) -> float | None:
        """``SET [last_insert_id=N,][insert_id=N,]timestamp=N;`` → the timestamp; ids → extra."""
        s = line.rstrip()
        if s.endswith(";"):
            s = s[:-1]
        ts: float | None = None
        for part in s[4:].split(","):
            name, _, value = part.partition("=")
            name = name.strip()
            if name == "timestamp":
                with contextlib.suppress(ValueError):
                    ts = float(value)
            elif name:
                if e.extra is None:
                    e.extra = {}
                e.extra[name] = value.strip()
        return ts

    def _reset_carried(self) -> None:
        """A server header means a (re)started server: forget the inherited db and time."""
        self._last_use = None
        self._last_time = None


# -- format registry hooks ------------------------------------------------------------------------

# Header lines every slow-log entry has. A lone "# Time:" is not among them: a line of junk or a
# shell comment looks like one, and it must not turn a PostgreSQL log into "statement text".
_CORE = frozenset({" User@Host", " Query_time"})


def sniff(lines: list[str]) -> float:
    """Fraction of non-blank sample lines that look like slow-log lines.

    Header, ``SET timestamp``, ``use`` and server header lines always count; other lines count
    only once a ``# User@Host`` / ``# Query_time`` header has been seen (statement text), so
    PostgreSQL logs and folded stacks score 0.
    """
    total, hits, _headers = _scan(lines)
    return hits / total if total else 0.0


def evidence(lines: list[str]) -> int:
    """Sample lines only a slow log writes (headers, ``SET timestamp``, ``use``): statement text
    is any text, so when another format also scores, these decide (see ``formats.detect``)."""
    return _scan(lines)[2]


def _scan(lines: list[str]) -> tuple[int, int, int]:
    """(non-blank lines, slow-log lines, header-like lines); both 0 without a core header."""
    total = text = headers = 0
    core = in_entry = False
    for raw in lines:
        line = raw[:256].rstrip()
        if not line:
            continue
        total += 1
        if line[0] == "#":
            i = line.find(":", 2, 64)
            key = line[1:i] if i > 0 else ""
            if key in _CORE:
                core = in_entry = True
                headers += 1
            elif key in _HEAD or key.lstrip().startswith("InnoDB_"):
                headers += 1
            elif in_entry:
                text += 1
        elif _is_server_header(line):
            core, in_entry = True, False
            headers += 1
        elif line.startswith(_SET_META) or (line.startswith("use ") and line.endswith(";")):
            headers += 1
        elif in_entry:
            text += 1
    if not core:
        return total, 0, 0
    return total, text + headers, headers


def make(sample: list[str], options: ParseOptions) -> MySQLSlowParser:
    """The slow-log format needs nothing from the sample or the options."""
    return MySQLSlowParser()


def make_fast(sample: list[str], options: ParseOptions) -> MySQLSlowParser | ColumnarParser:
    """The parser for batch ingest (``Format.make_fast``): the compiled
    ``FastMySQLSlowParser``, which hands over Arrow tables (``take_table``) instead of
    ``entries``, when it was built and ``PERFTUI_PURE_PYTHON`` is not set; else the Python one.

    ``make`` stays pure Python because the tailer and the tests read ``entries``.
    """
    if not os.environ.get("PERFTUI_PURE_PYTHON"):
        try:
            from perftui.ingest._mysql_slow_fast import FastMySQLSlowParser
        except ImportError:  # not compiled (no C compiler at install time)
            pass
        else:
            return FastMySQLSlowParser()
    return MySQLSlowParser()
