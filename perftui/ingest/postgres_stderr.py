"""PostgreSQL stderr logs (any ``log_line_prefix``), and the message folding all PG formats share.

A PostgreSQL log is a stream of messages per session; several messages can make one logical
entry (``statement:`` + a later ``duration:``, parse + bind + execute, an auto_explain plan + its
statement, ``connection received`` + ``connection authorized``). :class:`Folder` does that folding
once for the stderr, csvlog and jsonlog parsers, so the three formats of one run give the same
entries. The stderr parser first reassembles messages: ``\\t`` continuation lines, then the
DETAIL/HINT/CONTEXT/STATEMENT/QUERY lines that follow a message in the same session (pid, or %c
when the prefix has it), even when other sessions' lines come in between.

Decisions worth knowing:

* ``session`` is the pid, or the %c session id when the prefix has one (csv/json: the pid, so
  the three formats agree; their session id is in ``extra["session_id"]``).
* ``<unnamed>`` prepared statements get ``statement_name = None``; a portal name (``S_1/C_2``) is
  dropped, the statement name kept. ``execute fetch from`` entries get ``extra["phase"]``.
* Parse / bind lines fold into the next execution of the same statement name and text (params
  from the execute's DETAIL, else the bind's); those never executed become QUERY entries of
  their own with ``extra["phase"] = "parse" | "bind"``.
* An auto_explain plan waits for the next statement-level message of its session; it joins that
  ``statement:`` / ``execute`` / log_statement entry when the query text is the same (and its
  executor time fits in the statement's), otherwise it is a QUERY entry of its own.
* ERROR / FATAL / PANIC: ``message`` is the text without `` at character N`` (in
  ``extra["position"]``) plus ``"\\nDETAIL: …"``; ``query`` is the STATEMENT; HINT / CONTEXT /
  QUERY go to ``extra``.
* A session silent for ``STALE_LINES`` lines is flushed (open message closed, pending pieces
  emitted), which bounds memory and keeps ``pending_line`` moving on logs without
  ``log_disconnections``. DETAIL lines arriving later than that become MESSAGE entries.
* Messages must be in English (``lc_messages = 'C'``), as for pgBadger.

Batch ingest uses a compiled twin of the stderr parser (``_postgres_stderr_fast.pyx``, via
``make_fast``): a port of ``PostgresStderrParser.feed`` / ``close`` that writes Arrow columns and
runs this module's ``Folder`` for every message but the plain ``duration: … statement:`` one. A
change to the stderr parser here must be made there too; ``tests/ingest/
test_postgres_stderr_fast.py`` fails until both agree.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from operator import itemgetter
from typing import ClassVar, cast

from perftui.ingest.formats import ParseOptions
from perftui.ingest.pg_prefix import (
    PREFIX_WINDOW,
    SEVERITIES,
    Prefix,
    compile_prefix,
    count_matches,
    detect_prefix,
    epoch,
)
from perftui.ingest.records import (
    CONNECT,
    DISCONNECT,
    ERROR,
    MESSAGE,
    QUERY,
    ColumnarParser,
    Entry,
    Reject,
)

STALE_LINES = 50_000
SWEEP_EVERY = 65_536
# Lines that belong to the message logged just before them in the same session.
ATTACHMENTS = frozenset(("DETAIL", "HINT", "CONTEXT", "STATEMENT", "QUERY", "LOCATION"))
_ERRORS = frozenset(("ERROR", "FATAL", "PANIC"))

_AUTHORIZED = re.compile(
    r"(?:replication )?connection authorized: user=(?P<user>\S*)(?: database=(?P<db>\S*))?"
    r"(?: application_name=(?P<app>.*?))?(?: SSL enabled \(.*| GSS \(.*)?$"
)
_DISCONNECTED = re.compile(
    r"disconnection: session time: (?P<h>\d+):(?P<m>\d+):(?P<s>[\d.]+)"
    r"(?: user=(?P<user>\S*))?(?: database=(?P<db>\S*))?(?: host=(?P<host>\S*))?"
    r"(?: port=(?P<port>\S*))?"
)
_PLAN_NODE = re.compile(r"\S.*?(?:  \(cost=|\(actual |\(never executed\))")
_AT_CHARACTER = " at character "


# --- folding shared by the three formats ----------------------------------------------------


class Session:
    """What one backend session has pending, plus who it is (from its connection lines)."""

    __slots__ = (
        "app",
        "binds",
        "conn",
        "db",
        "host",
        "key",
        "last",
        "parses",
        "plan",
        "stmt",
        "user",
    )

    def __init__(self, key: str) -> None:
        self.key = key
        self.last = 0  # last line number seen for this session
        self.stmt: Entry | None = None  # log_statement line waiting for its duration
        self.plan: Entry | None = None  # auto_explain plan waiting for its statement line
        self.parses: dict[str | None, Entry] | None = None  # by statement name
        self.binds: dict[str | None, Entry] | None = None
        self.conn: Entry | None = None  # connection received, waiting for authorized
        self.user: str | None = None
        self.db: str | None = None
        self.host: str | None = None
        self.app: str | None = None

    def oldest(self) -> int | None:
        """First line of the oldest entry this session still holds back."""
        starts = [e.line_start for e in (self.stmt, self.plan, self.conn) if e is not None]
        for phases in (self.parses, self.binds):
            if phases:
                starts.extend(e.line_start for e in phases.values())
        return min(starts) if starts else None


class Folder:
    """Turns complete PostgreSQL messages into entries, folding per session (see module doc).

    ``handle`` gets an Entry pre-filled with position, severity and prefix/column fields (the
    caller fills user/db/host/app it lacks from the Session, which knows them from the
    connection lines), the message text and its attachments (``{"DETAIL": …}`` or None).
    """

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self.sessions: dict[str, Session] = {}

    def session(self, key: str) -> Session:
        st = self.sessions.get(key)
        if st is None:
            st = self.sessions[key] = Session(key)
        return st

    def handle(self, st: Session, e: Entry, msg: str, att: dict[str, str] | None) -> None:
        """Fold one message. ``duration: … statement:`` is tested first and emitted at once
        when the session holds nothing back: that is most messages of a slow-query log."""
        if e.severity != "LOG":
            self._message(st, e, msg, att)
        elif msg.startswith("duration: "):
            end = msg.find(" ms", 10)
            try:
                duration = float(msg[10:end]) if end > 0 else None
            except ValueError:
                duration = None
            if duration is None:
                self._message(st, e, msg, att)
                return
            e.duration_ms = duration
            if msg.startswith("  statement: ", end + 3):
                e.query = msg[end + 16 :].strip()
                if att:
                    _query_attachments(e, att)
                self._statement_done(st, e)
            else:
                self._duration_other(st, e, msg, msg[end + 3 :], att)
        elif msg.startswith("statement: "):
            e.query = msg[11:].strip()
            _query_attachments(e, att)
            self._flush_queries(st)
            st.stmt = e
        elif msg.startswith("execute "):
            self._extended(st, e, msg, msg[8:], att, "logged")
        elif msg.startswith(("connection ", "replication connection ")):
            self._connection(st, e, msg)
        elif msg.startswith("disconnection: "):
            self._disconnection(st, e, msg)
        else:
            self._message(st, e, msg, att)

    # -- statements

    def _duration_other(
        self, st: Session, e: Entry, msg: str, rest: str, att: dict[str, str] | None
    ) -> None:
        """``duration: X ms`` followed by anything but ``statement:``."""
        if not rest:
            self._duration_only(st, e, msg)
        elif rest.startswith("  execute "):
            self._extended(st, e, msg, rest[10:], att, "execute")
        elif rest.startswith("  bind "):
            self._extended(st, e, msg, rest[7:], att, "bind")
        elif rest.startswith("  parse "):
            self._extended(st, e, msg, rest[8:], att, "parse")
        elif rest.startswith("  plan:"):
            self._plan(st, e, rest[7:])
        else:
            self._message(st, e, msg, att)

    def _statement_done(self, st: Session, e: Entry) -> None:
        """``duration: … statement: q`` (log_min_duration_statement): a complete execution,
        emitted at once unless the session holds a statement, plan or phase to fold."""
        if st.stmt is None and st.plan is None and st.parses is None and st.binds is None:
            self.entries.append(e)
            return
        self._emit_pending_stmt(st)
        self._flush_phases(st)
        plan = st.plan
        if plan is not None:
            st.plan = None
            if _plan_of(plan, e):
                _take_plan(e, plan)
            else:
                self.entries.append(plan)
        self.entries.append(e)

    def _duration_only(self, st: Session, e: Entry, msg: str) -> None:
        """``duration: X ms`` alone: the statement was logged earlier by log_statement."""
        stmt = st.stmt
        if stmt is None:
            e.kind = MESSAGE
            e.message = msg
            self.entries.append(e)
            return
        st.stmt = None
        stmt.duration_ms = e.duration_ms
        _absorb(stmt, e)
        plan = st.plan
        if plan is not None:
            st.plan = None
            if stmt.plan is None and _plan_of(plan, stmt):
                _take_plan(stmt, plan)
            else:
                self.entries.append(plan)
        self.entries.append(stmt)

    def _extended(
        self, st: Session, e: Entry, msg: str, body: str, att: dict[str, str] | None, phase: str
    ) -> None:
        """parse / bind / execute lines of the extended protocol (``logged`` = log_statement's
        ``execute name: q`` written before the statement runs, without a duration)."""
        fetch = phase in ("execute", "logged") and body.startswith("fetch from ")
        if fetch:
            body = body[11:]
        colon = body.find(": ")
        if colon < 0:
            self._message(st, e, msg, att)
            return
        name = body[:colon]
        slash = name.find("/")
        if slash >= 0:
            name = name[:slash]
        e.statement_name = None if name == "<unnamed>" else name
        e.query = body[colon + 2 :].strip()
        _query_attachments(e, att)
        if phase == "parse" or phase == "bind":
            self._phase(st, e, phase)
            return
        self._emit_pending_stmt(st)
        self._fold_phases(st, e)
        if fetch:
            set_extra(e, "phase", "fetch")
        if phase == "logged":
            self._flush_plan(st)
            st.stmt = e
            return
        plan = st.plan
        if plan is not None:
            st.plan = None
            if _plan_of(plan, e):
                _take_plan(e, plan)
            else:
                self.entries.append(plan)
        self.entries.append(e)

    def _phase(self, st: Session, e: Entry, phase: str) -> None:
        """Hold a parse or bind until the execution of the same statement name."""
        self._emit_pending_stmt(st)
        self._flush_plan(st)
        if phase == "parse":
            e.parse_ms = e.duration_ms
            if st.parses is None:
                st.parses = {}
            pending = st.parses
        else:
            e.bind_ms = e.duration_ms
            if st.binds is None:
                st.binds = {}
            pending = st.binds
        old = pending.pop(e.statement_name, None)
        if old is not None:
            self._emit_phase(old)
        pending[e.statement_name] = e

    def _emit_phase(self, e: Entry) -> None:
        """A parse or bind that no execution claimed: an entry of its own, marked as such."""
        set_extra(e, "phase", "parse" if e.parse_ms is not None else "bind")
        self.entries.append(e)

    def _fold_phases(self, st: Session, e: Entry) -> None:
        """Move this statement's pending parse and bind into its execution entry."""
        name = e.statement_name
        parse = st.parses.pop(name, None) if st.parses else None
        if not st.parses:
            st.parses = None
        if parse is not None:
            if parse.query == e.query:
                e.parse_ms = parse.parse_ms
                _absorb(e, parse)
            else:
                self._emit_phase(parse)
        bind = st.binds.pop(name, None) if st.binds else None
        if not st.binds:
            st.binds = None
        if bind is not None:
            if bind.query == e.query:
                e.bind_ms = bind.bind_ms
                if e.params is None:
                    e.params = bind.params
                _absorb(e, bind)
            else:
                self._emit_phase(bind)

    def _plan(self, st: Session, e: Entry, text: str) -> None:
        """``duration: … plan:`` from auto_explain; waits for its statement line, if any."""
        e.query, e.plan = split_plan(text)
        stmt = st.stmt
        if stmt is not None and stmt.plan is None and stmt.query == e.query:
            stmt.plan = e.plan
            if stmt.duration_ms is None:
                stmt.duration_ms = e.duration_ms  # replaced by the statement's own if logged
            _absorb(stmt, e)
            return
        self._flush_plan(st)
        st.plan = e

    # -- sessions

    def _connection(self, st: Session, e: Entry, msg: str) -> None:
        e.kind = CONNECT
        e.message = msg
        if msg.startswith("connection received: "):
            self.flush_session(st)
            st.user = st.db = st.app = e.user = e.db = e.app = None
            host, _, port = msg[21:].partition(" port=")
            st.host = e.host = host[5:] if host.startswith("host=") else e.host
            if port:
                set_extra(e, "port", port)
            st.conn = e
            return
        if msg.startswith("connection authenticated: "):
            if st.conn is not None:
                _absorb(st.conn, e)
                set_extra(st.conn, "authenticated", msg[26:])
            else:
                st.conn = e
            return
        m = _AUTHORIZED.match(msg)
        if m is None:
            self._message(st, e, msg, None)
            return
        conn = st.conn
        if conn is not None:
            st.conn = None
            _absorb(conn, e)
            conn.message = msg
            e = conn
        e.user = st.user = m.group("user") or e.user
        e.db = st.db = m.group("db") or e.db
        e.app = st.app = m.group("app") or e.app
        self._flush_queries(st)
        self.entries.append(e)

    def _disconnection(self, st: Session, e: Entry, msg: str) -> None:
        m = _DISCONNECTED.match(msg)
        ms = None if m is None else session_ms(m)
        if ms is None:  # not the message's shape, or a time like 0:00:1.2.3
            self._message(st, e, msg, None)
            return
        self.flush_session(st)
        e.kind = DISCONNECT
        e.message = msg
        e.duration_ms = ms
        e.user = m["user"] or e.user
        e.db = m["db"] or e.db
        e.host = m["host"] or e.host
        st.user = st.db = st.host = st.app = None
        self.entries.append(e)

    def _message(self, st: Session, e: Entry, msg: str, att: dict[str, str] | None) -> None:
        """Errors and every other server message; an ERROR ends what its session had pending."""
        if e.severity in _ERRORS:
            e.kind = ERROR
            self._flush_queries(st)
        else:
            e.kind = MESSAGE
        if st.conn is not None:
            self.entries.append(st.conn)
            st.conn = None
        cut = msg.rfind(_AT_CHARACTER)
        if cut > 0 and msg[cut + 14 :].isdigit():
            set_extra(e, "position", msg[cut + 14 :])
            msg = msg[:cut]
        if att:
            detail = att.get("DETAIL")
            if detail is not None:
                msg = f"{msg}\nDETAIL: {detail}"
            e.query = att.get("STATEMENT")
            for key in ("HINT", "CONTEXT", "QUERY"):
                if key in att:
                    set_extra(e, key.lower(), att[key])
        e.message = msg
        self.entries.append(e)

    # -- flushing

    def _emit_pending_stmt(self, st: Session) -> None:
        if st.stmt is not None:
            self.entries.append(st.stmt)
            st.stmt = None

    def _flush_plan(self, st: Session) -> None:
        if st.plan is not None:
            self.entries.append(st.plan)
            st.plan = None

    def _flush_phases(self, st: Session) -> None:
        for phases in (st.parses, st.binds):
            if phases is not None:
                for e in phases.values():
                    self._emit_phase(e)
        st.parses = st.binds = None

    def _flush_queries(self, st: Session) -> None:
        self._emit_pending_stmt(st)
        self._flush_plan(st)
        self._flush_phases(st)

    def flush_session(self, st: Session) -> None:
        """Emit everything the session holds back (end of session, of input, or staleness)."""
        if st.stmt or st.plan or st.parses or st.binds:
            self._flush_queries(st)
        if st.conn is not None:
            self.entries.append(st.conn)
            st.conn = None

    def flush_all(self) -> None:
        for st in self.sessions.values():
            self.flush_session(st)
        self.sessions.clear()

    def sweep(self, line_no: int) -> None:
        """Flush and forget sessions silent for STALE_LINES lines."""
        limit = line_no - STALE_LINES
        for st in [st for st in self.sessions.values() if st.last < limit]:
            self.flush_session(st)
            del self.sessions[st.key]

    def pending_line(self) -> int | None:
        starts = [s for st in self.sessions.values() if (s := st.oldest()) is not None]
        return min(starts) if starts else None


def session_ms(m: re.Match[str]) -> float | None:
    """The session time of a ``_DISCONNECTED`` match in ms; None when its seconds are no
    number (``[\\d.]+`` also matches ``1.2.3``)."""
    try:
        return (int(m["h"]) * 3600 + int(m["m"]) * 60 + float(m["s"])) * 1000.0
    except ValueError:
        return None


def _absorb(into: Entry, other: Entry) -> None:
    into.n_lines += other.n_lines
    if other.line_start < into.line_start:
        into.line_start = other.line_start


def _plan_of(plan: Entry, e: Entry) -> bool:
    """Whether a held auto_explain plan belongs to this execution: same text, and an executor
    time that fits in the statement's. With thresholds alone a plan cannot wait for another
    run of its text (that run would log its own plan first); this also guards sampling."""
    if plan.query != e.query:
        return False
    return e.duration_ms is None or plan.duration_ms is None or plan.duration_ms <= e.duration_ms


def _take_plan(into: Entry, plan: Entry) -> None:
    into.plan = plan.plan
    _absorb(into, plan)


def set_extra(e: Entry, key: str, value: str) -> None:
    if e.extra is None:
        e.extra = {key: value}
    else:
        e.extra[key] = value


def _query_attachments(e: Entry, att: dict[str, str] | None) -> None:
    """DETAIL ``parameters: …`` becomes params; any other attachment goes to extra."""
    if not att:
        return
    for key, text in att.items():
        if key == "DETAIL" and text[:12].lower() == "parameters: ":
            e.params = text[12:]
        elif key != "LOCATION":
            set_extra(e, key.lower(), text)


def split_plan(text: str) -> tuple[str | None, str]:
    """(query text, plan) of an auto_explain message body (what follows ``plan:``).

    The text format starts with ``Query Text: …`` (possibly several lines) and the plan tree
    begins at the first unindented line that carries ``(cost=`` / ``(actual`` or at
    ``Query Parameters:``; without such a line, only the first line is taken as the query.
    """
    body = text.lstrip("\n")
    if body.startswith("{"):
        try:
            query = json.loads(body).get("Query Text")
        except (ValueError, AttributeError):
            query = None
        return (query.strip() if isinstance(query, str) else None), body
    if not body.startswith("Query Text: "):
        return None, body
    lines = body.split("\n")
    end = 1
    for i in range(1, len(lines)):
        line = lines[i]
        if line.startswith("Query Parameters: ") or _PLAN_NODE.match(line):
            end = i
            break
    query = "\n".join([lines[0][12:], *lines[1:end]]).strip()
    return query, "\n".join(lines[end:])


# --- the stderr parser ------------------------------------------------------------------------


class _StderrSession(Session):
    """A session plus the message being assembled from its lines (``r_`` fields)."""

    __slots__ = ("r_att", "r_cur", "r_line", "r_m", "r_msg", "r_n")

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.r_line = 0  # first line of the open message, 0 = none
        self.r_n = 0
        self.r_m: re.Match[str] | None = None  # its first line; the text follows m.end()
        # Message lines once a continuation arrived (None: just the first line's text), and
        # the list the next continuation line goes to (None: the message, not yet a list).
        self.r_msg: list[str] | None = None
        self.r_cur: list[str] | None = None
        self.r_att: dict[str, list[str]] | None = None

    def oldest(self) -> int | None:
        held = super().oldest()
        if self.r_line and (held is None or self.r_line < held):
            return self.r_line
        return held


class PostgresStderrParser:
    """Parser for stderr logs written with ``prefix`` (see the module docstring)."""

    name: ClassVar[str] = "postgres-stderr"

    def __init__(self, prefix: Prefix) -> None:
        self.prefix = prefix.text
        self.entries: list[Entry] = []
        self.rejects: list[Reject] = []
        self._folder = Folder(self.entries)
        # The folder's sessions, all created here, with their message-assembly fields.
        self._sessions = cast(dict[str, _StderrSession], self._folder.sessions)
        index = prefix.regex.groupindex
        ts_group = "ts" if "ts" in index else "epoch"
        self._to_ts = epoch if ts_group == "ts" else float
        key_group = prefix.session_group or "pid"
        self._key_is_session = prefix.session_group is not None
        # A prefix without one of these gets an empty group (cheaper than one that never
        # matches), so that one itemgetter reads the fields of every line.
        wanted = (ts_group, "user", "db", "host", "app", key_group)
        missing = "".join(f"(?P<{g}>)" for g in wanted if g not in index)
        regex = re.compile(prefix.regex.pattern + missing)
        self._match = regex.match
        self._fields = itemgetter(*(regex.groupindex[g] for g in wanted[:5]))
        self._key = regex.groupindex[key_group]
        self._sev = regex.groupindex["sev"]
        # Prefix fields kept in extra when they differ from the usual value.
        self._extras = tuple(
            (name, regex.groupindex[group], usual)
            for name, group, usual in (
                ("sqlstate", "sqlstate", "00000"),
                ("query_id", "queryid", "0"),
                ("backend_type", "btype", "client backend"),
            )
            if group in index
        )
        self._cont: _StderrSession | None = None  # whose message a "\t" line continues
        self._next_sweep = SWEEP_EVERY
        self._close = self._closer()

    def feed(self, lines: list[str], first_line_no: int) -> None:
        """Assemble messages; the hot loop, hence the inlined attribute work."""
        if lines and (lines[0][-1:] == "\r" or lines[-1][-1:] == "\r"):
            lines = [s[:-1] if s[-1:] == "\r" else s for s in lines]
        match = self._match
        sessions = self._sessions
        key_i, sev_i = self._key, self._sev
        close = self._close
        reject = self.rejects.append
        cont = self._cont
        line_no = first_line_no - 1
        for line in lines:
            line_no += 1
            if line[:1] == "\t":
                if cont is None:
                    reject(Reject(line_no, "continuation without a message", line))
                    continue
                cur = cont.r_cur
                if cur is None:
                    first = cont.r_m
                    cont.r_msg = cont.r_cur = [first.string[first.end() :], line[1:]]  # type: ignore[union-attr]
                else:
                    cur.append(line[1:])
                cont.r_n += 1
                continue
            m = match(line, 0, PREFIX_WINDOW)
            if m is None:
                reject(Reject(line_no, "no log_line_prefix match", line))
                cont = None
                continue
            key = m[key_i]
            st = sessions.get(key)
            if st is None:
                st = sessions[key] = _StderrSession(key)
            st.last = line_no
            cont = st
            if st.r_line:
                sev = m[sev_i]
                if sev in ATTACHMENTS:
                    part = [line[m.end() :]]
                    att = st.r_att
                    if att is None:
                        st.r_att = {sev: part}
                    elif sev in att:
                        att[sev] += part
                    else:
                        att[sev] = part
                    st.r_cur = part
                    st.r_n += 1
                    continue
                close(st)
            st.r_line = line_no
            st.r_n = 1
            st.r_m = m
        self._cont = cont
        if line_no >= self._next_sweep:
            self._next_sweep = line_no + SWEEP_EVERY
            self._sweep(line_no)

    def _closer(self) -> Callable[[_StderrSession], None]:
        """``close(st)``: the session's open message is complete, build its entry and fold it.
        A closure over the parser's settings, as it runs once per message."""
        fields, to_ts, sev_i, extras = self._fields, self._to_ts, self._sev, self._extras
        key_is_session = self._key_is_session
        handle = self._folder.handle

        def close(st: _StderrSession) -> None:
            """Leaves r_line / r_m to the caller, which reopens or clears them."""
            m: re.Match[str] = st.r_m  # type: ignore[assignment]  # (no cast call: hot path)
            parts = st.r_msg
            att = None
            if st.r_cur is not None:  # continuation or attachment lines came
                st.r_cur = st.r_msg = None
                if st.r_att is not None:
                    att = {k: "\n".join(v) for k, v in st.r_att.items()}
                    st.r_att = None
            ts, user, db, host, app = fields(m)
            e = Entry(
                st.r_line,
                st.r_n,
                QUERY,
                to_ts(ts) if ts else None,
                st.key if key_is_session else None,
                user or st.user,
                db or st.db,
                host or st.host,
                app or st.app,
            )
            e.severity = m[sev_i]
            if extras:
                for name, i, usual in extras:
                    value = (m[i] or "").strip()
                    if value and value != usual:
                        set_extra(e, name, value)
            handle(st, e, m.string[m.end() :] if parts is None else "\n".join(parts), att)

        return close

    def _sweep(self, line_no: int) -> None:
        limit = line_no - STALE_LINES
        for st in list(self._sessions.values()):
            if st.last < limit and st.r_line:
                self._close(st)
                st.r_line = 0
                if self._cont is st:
                    self._cont = None
        self._folder.sweep(line_no)

    def finish(self) -> None:
        open_messages = [st for st in self._sessions.values() if st.r_line]
        for st in sorted(open_messages, key=lambda st: st.r_line):
            self._close(st)
            st.r_line = 0
        self._folder.flush_all()
        self._cont = None

    def settle(self, before_line: int) -> None:
        """Close open messages (``r_line``) begun before ``before_line``, as ``finish`` does;
        the folds waiting for a later message stay."""
        ready = [st for st in self._sessions.values() if 0 < st.r_line < before_line]
        for st in sorted(ready, key=lambda st: st.r_line):
            self._close(st)
            st.r_line = 0
            if self._cont is st:
                self._cont = None

    @property
    def pending_line(self) -> int | None:
        return self._folder.pending_line()


# --- registry hooks ---------------------------------------------------------------------------

_SEVERITY_ANYWHERE = re.compile(
    r"(?<![A-Za-z])(?:" + "|".join(sorted(SEVERITIES, key=len, reverse=True)) + r"):  "
)


def sniff(lines: list[str]) -> float:
    """Fraction of non-blank lines that carry ``<SEVERITY>:  `` after some prefix, or continue
    such a line with a tab."""
    total = hits = 0
    previous_hit = False
    for line in lines:
        if not line.strip():
            continue
        total += 1
        if line[0] == "{":
            previous_hit = False
        elif line[0] != "\t":
            previous_hit = _SEVERITY_ANYWHERE.search(line, 0, 400) is not None
        hits += previous_hit
    return hits / total if total else 0.0


def make(sample: list[str], options: ParseOptions) -> PostgresStderrParser:
    """Parser for the user's ``--prefix``, else for the detected prefix; ValueError if the
    chosen prefix matches none of the sample lines."""
    return PostgresStderrParser(_chosen_prefix(sample, options))


def make_fast(sample: list[str], options: ParseOptions) -> PostgresStderrParser | ColumnarParser:
    """The parser for batch ingest (``Format.make_fast``): the compiled
    ``FastPostgresStderrParser``, which hands over Arrow tables (``take_table``) instead of
    ``entries``, when it was built and ``PERFTUI_PURE_PYTHON`` is not set; else the Python one.
    Same prefix choice and errors as ``make``, which stays pure Python because the tailer and
    the tests read ``entries``.
    """
    prefix = _chosen_prefix(sample, options)
    if not os.environ.get("PERFTUI_PURE_PYTHON"):
        try:
            from perftui.ingest._postgres_stderr_fast import FastPostgresStderrParser
        except ImportError:  # not compiled (no C compiler at install time)
            pass
        else:
            return FastPostgresStderrParser(prefix)
    return PostgresStderrParser(prefix)


def _chosen_prefix(sample: list[str], options: ParseOptions) -> Prefix:
    """The user's ``--prefix``, else the detected one (see ``make``)."""
    sample = [s.rstrip("\r") for s in sample]
    has_lines = any(s.strip() for s in sample)
    if options.prefix is not None:
        prefix = compile_prefix(options.prefix)
        if has_lines and count_matches(prefix, sample) == 0:
            detected, _ = detect_prefix(sample)
            hint = f"; detected {detected.text!r}" if detected is not None else ""
            raise ValueError(
                f"--prefix {options.prefix!r} matches none of the first lines"
                f" (first line: {_first_line(sample)}){hint}"
            )
        return prefix
    detected, hits = detect_prefix(sample)
    if detected is None or hits == 0:
        if not has_lines:
            return compile_prefix("%m [%p] %q%u@%d ")
        raise ValueError(
            "no known log_line_prefix matches the first lines"
            f" (first line: {_first_line(sample)}); pass --prefix '<log_line_prefix>'"
        )
    return detected


def _first_line(sample: list[str]) -> str:
    line = next((s for s in sample if s.strip() and s[0] != "\t"), "")
    return repr("".join(ch if ch.isprintable() else "?" for ch in line[:100]))
