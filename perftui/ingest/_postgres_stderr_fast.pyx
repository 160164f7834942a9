# cython: language_level=3, boundscheck=False, cdivision=True
"""Compiled twin of :class:`perftui.ingest.postgres_stderr.PostgresStderrParser` for batch ingest.

Why it exists: on a large stderr log the Python parser plus ``writer.to_arrow`` of its ``Entry``
objects is most of ingest's main-thread time (the DuckDB side runs on another thread and releases
the GIL). Profiled on a 100 MB log, a third of that went to ``to_arrow`` reading 24 attributes of
every Entry, and most of the rest to the per-line loop and building one Entry per message.

What is compiled and what is not:

* The per-line loop (``feed``: continuation lines, prefix match, sessions, attachments) is a
  line-by-line port of ``PostgresStderrParser.feed`` with the sessions as a C class. The prefix
  regex is still Python's ``re`` (same pattern, so the same matches).
* The message that most lines of a slow-query log carry, ``LOG:  duration: X ms  statement: Q``
  with no attachment in a session that holds nothing back, is written straight into column
  buffers: that is exactly the case ``Folder.handle`` emits at once (``_statement_done``).
  So is ``disconnection: …``, and ``connection authorized: …`` completes the held
  ``connection received`` Entry without building one of its own: with ``log_connections``
  these were a third of the remaining time.
* Every other message becomes an ``Entry`` and goes through the Python module's own ``Folder``
  (statement / duration folding, parse / bind / execute, auto_explain, errors, the rest of the
  connection lines); the folder's ``entries`` is a sink that copies each emitted Entry into the
  same buffers. The folder only appends an Entry once it is complete, so copying at append time
  is exact.
* ``take_table`` orders the rows as the driver does (a stable sort by ``line_start`` of the
  entries in the order they were emitted) and builds the Arrow arrays from the buffers.

Numbers and timestamps are converted as Python converts them: the duration with
``_columns.plain_float`` (the value ``float()`` gives) when it is plain digits, else the Python path;
timestamps with the Python parser's own converter, remembered for the previous stamp only.
``tests/ingest/test_postgres_stderr_fast.py`` checks that the tables equal ``to_arrow`` of the
Python parser's entries.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport free, qsort
from libc.string cimport memcmp, memcpy, memset

from perftui.ingest._columns cimport (
    Text as _Text,
    bitmap_rows as _bitmap,
    grow as _realloc,
    has_at as _has,
    is_space as _space,
    new_buffer as _new_buffer,
    plain_float as _plain_float,
)


cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyUnicode_KIND(object o)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    object PyUnicode_Substring(object o, Py_ssize_t start, Py_ssize_t end)
    Py_ssize_t PyUnicode_FindChar(object o, Py_UCS4 ch, Py_ssize_t start, Py_ssize_t end, int direction) except -2


import re

import pyarrow as pa

from perftui.ingest import postgres_stderr as _py
from perftui.ingest.pg_prefix import PREFIX_WINDOW, _second, epoch
from perftui.ingest.records import CONNECT, DISCONNECT, QUERY, Entry, Reject
from perftui.store.writer import _COLUMNS

cdef object _ATTACHMENTS = _py.ATTACHMENTS
cdef Py_ssize_t _WINDOW = PREFIX_WINDOW
cdef bytes _KIND_QUERY = QUERY.encode()
cdef bytes _KIND_DISCONNECT = DISCONNECT.encode()
cdef bytes _KIND_CONNECT = CONNECT.encode()
cdef object _authorized_match = _py._AUTHORIZED.match
cdef object _disconnected_match = _py._DISCONNECTED.match
cdef bytes _LOG = b"LOG"
cdef object _I64 = pa.int64()
cdef object _F64 = pa.float64()
cdef int64_t _I32_MAX = 2147483647


# Entry attributes by column type, in the order of the buffers below.
_TEXT_ATTRS = (
    "kind", "session", "user", "db", "host", "app", "query", "statement_name", "params", "plan",
    "severity", "message",
)
_FLOAT_ATTRS = ("ts", "duration_ms", "lock_ms", "parse_ms", "bind_ms")
_INT_ATTRS = ("rows_sent", "rows_examined", "rows_affected", "bytes_sent")

cdef enum:
    T_KIND = 0
    T_SESSION = 1
    T_USER = 2
    T_DB = 3
    T_HOST = 4
    T_APP = 5
    T_QUERY = 6
    T_SEVERITY = 10
    T_MESSAGE = 11
    N_TEXTS = 12

cdef enum:
    F_TS = 0
    F_DURATION = 1
    N_FLOATS = 5

cdef enum:
    N_INTS = 4


cdef struct _Key:
    int64_t line_start
    int64_t row


cdef int _key_cmp(const void* a, const void* b) noexcept nogil:
    """By line_start, then by emission order: the stable sort the driver applies."""
    cdef const _Key* x = <const _Key*>a
    cdef const _Key* y = <const _Key*>b
    if x.line_start != y.line_start:
        return -1 if x.line_start < y.line_start else 1
    return -1 if x.row < y.row else (1 if x.row > y.row else 0)


cdef class _Rows:
    """Finished entries, column by column, in the order they were emitted.

    Also the ``entries`` of the Python ``Folder``: its ``append`` copies an Entry into the
    columns, so the entries the folder emits need not live until ``take_table``.
    """

    cdef Py_ssize_t n, cap
    cdef int64_t* line_start
    cdef int32_t* n_lines
    cdef double* f64[N_FLOATS]
    cdef uint8_t* f64_ok[N_FLOATS]
    cdef int64_t* i64[N_INTS]
    cdef uint8_t* i64_ok[N_INTS]
    cdef list texts  # _Text per _TEXT_ATTRS
    cdef _Text extra  # JSON text
    cdef int64_t text_limit

    def __cinit__(self, int64_t text_limit) -> None:
        self.text_limit = text_limit
        self.texts = [_Text() for _ in range(N_TEXTS)]
        self.extra = _Text()

    def __dealloc__(self) -> None:
        cdef int k
        free(self.line_start)
        free(self.n_lines)
        for k in range(N_FLOATS):
            free(self.f64[k])
            free(self.f64_ok[k])
        for k in range(N_INTS):
            free(self.i64[k])
            free(self.i64_ok[k])

    def __len__(self) -> int:
        return self.n

    cdef int _grow(self) except -1:
        cdef Py_ssize_t cap = self.cap * 2 if self.cap else 4096
        cdef int k
        self.line_start = <int64_t*>_realloc(self.line_start, cap * 8)
        self.n_lines = <int32_t*>_realloc(self.n_lines, cap * 4)
        for k in range(N_FLOATS):
            self.f64[k] = <double*>_realloc(self.f64[k], cap * 8)
            self.f64_ok[k] = <uint8_t*>_realloc(self.f64_ok[k], cap)
        for k in range(N_INTS):
            self.i64[k] = <int64_t*>_realloc(self.i64[k], cap * 8)
            self.i64_ok[k] = <uint8_t*>_realloc(self.i64_ok[k], cap)
        self.cap = cap
        return 0

    cdef inline Py_ssize_t begin(self, int64_t line_start, int64_t n_lines) except -1:
        """A new row with its position; its other columns are the caller's to add."""
        cdef Py_ssize_t k = self.n
        if k == self.cap:
            self._grow()
        self.line_start[k] = line_start
        self.n_lines[k] = <int32_t>n_lines
        return k

    cdef inline void set_float(self, Py_ssize_t k, int f, object value) except *:
        if value is None:
            self.f64[f][k] = 0.0
            self.f64_ok[f][k] = False
        else:
            self.f64[f][k] = value
            self.f64_ok[f][k] = True

    cdef inline void end(self, Py_ssize_t k) noexcept:
        self.n = k + 1

    def append(self, e: Entry) -> None:
        """Copy a finished Entry into the columns (what ``to_arrow`` reads of it)."""
        cdef Py_ssize_t k = self.begin(e.line_start, e.n_lines)
        cdef int f
        cdef int64_t v
        cdef _Text t = self.texts[0]
        t.add_str(e.kind)
        (<_Text>self.texts[1]).add_str(e.session)
        (<_Text>self.texts[2]).add_str(e.user)
        (<_Text>self.texts[3]).add_str(e.db)
        (<_Text>self.texts[4]).add_str(e.host)
        (<_Text>self.texts[5]).add_str(e.app)
        (<_Text>self.texts[6]).add_str(e.query)
        (<_Text>self.texts[7]).add_str(e.statement_name)
        (<_Text>self.texts[8]).add_str(e.params)
        (<_Text>self.texts[9]).add_str(e.plan)
        (<_Text>self.texts[10]).add_str(e.severity)
        (<_Text>self.texts[11]).add_str(e.message)
        self.set_float(k, 0, e.ts)
        self.set_float(k, 1, e.duration_ms)
        self.set_float(k, 2, e.lock_ms)
        self.set_float(k, 3, e.parse_ms)
        self.set_float(k, 4, e.bind_ms)
        for f in range(N_INTS):
            value = getattr(e, _INT_ATTRS[f])
            self.i64_ok[f][k] = False
            self.i64[f][k] = 0
            if value is not None:
                try:  # to_arrow stores NULL for what int64 cannot hold
                    v = value
                except OverflowError:
                    continue
                self.i64[f][k] = v
                self.i64_ok[f][k] = True
        self.extra.add_json_object(e.extra)  # NULL when None or empty
        self.end(k)

    # -- the table -----------------------------------------------------------------------------

    cdef object _order(self):
        """Row numbers sorted by line_start, ties in emission order (``bytes`` of int64)."""
        cdef Py_ssize_t n = self.n, k
        cdef bint ordered = True
        cdef _Key* keys
        out = bytearray(n * 8)
        cdef int64_t* rows = <int64_t*><char*>out
        for k in range(1, n):
            if self.line_start[k] < self.line_start[k - 1]:
                ordered = False
                break
        if ordered:
            for k in range(n):
                rows[k] = k
            return out
        keys = <_Key*>_realloc(NULL, n * sizeof(_Key))
        try:
            for k in range(n):
                keys[k].line_start = self.line_start[k]
                keys[k].row = k
            qsort(keys, n, sizeof(_Key), _key_cmp)
            for k in range(n):
                rows[k] = keys[k].row
        finally:
            free(keys)
        return out

    def take(self, first_entry_no: int) -> pa.Table:
        """The rows as ``to_arrow`` of the entries sorted by line_start, numbered from
        ``first_entry_no``; the columns start empty again.

        Like ``pa.array`` in ``to_arrow``, text beyond what int32 offsets can address (2 GiB in
        one column) continues in another chunk: the sorted rows are cut into tables whose every
        string column fits, and those are concatenated."""
        cdef Py_ssize_t n = self.n, k, start = 0, c
        cdef int64_t r
        cdef int64_t sums[N_TEXTS + 1]
        cdef bint over
        order = self._order()
        cdef const int64_t* rows = <const int64_t*><char*>order
        cdef list cuts = [0]
        memset(sums, 0, sizeof(sums))
        for k in range(n if self._too_big() else 0):
            r = rows[k]
            over = False
            for c in range(N_TEXTS):
                sums[c] += (<_Text>self.texts[c]).length(r)
                over = over or sums[c] > self.text_limit
            sums[N_TEXTS] += self.extra.length(r)
            over = over or sums[N_TEXTS] > self.text_limit
            if over and k > start:
                cuts.append(k)
                start = k
                memset(sums, 0, sizeof(sums))
                for c in range(N_TEXTS):
                    sums[c] = (<_Text>self.texts[c]).length(r)
                sums[N_TEXTS] = self.extra.length(r)
        cuts.append(n)
        tables = [
            self._table(rows + <Py_ssize_t>cuts[k], cuts[k + 1] - cuts[k], first_entry_no + cuts[k])
            for k in range(len(cuts) - 1)
        ]
        self.n = 0
        for t in self.texts:
            (<_Text>t).clear()
        self.extra.clear()
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    cdef bint _too_big(self):
        """Whether some string column holds more text than one chunk (then the rows are cut)."""
        for t in self.texts:
            if (<_Text>t).bytes(0, self.n) > self.text_limit:
                return True
        return self.extra.bytes(0, self.n) > self.text_limit

    cdef object _fixed(self, object typ, const char* values, Py_ssize_t width, const uint8_t* ok, const int64_t* rows, Py_ssize_t n):
        """``rows`` of an int / float column of ``width``-byte values (``ok`` NULL: no nulls)."""
        cdef char* data
        cdef Py_ssize_t i, nulls = 0
        buf = _new_buffer(n * width, &data, False)
        if width == 8:
            for i in range(n):
                (<int64_t*>data)[i] = (<const int64_t*>values)[rows[i]]
        else:
            for i in range(n):
                memcpy(data + i * width, values + rows[i] * width, width)
        bitmap = None if ok == NULL else _bitmap(ok, rows, n, &nulls)
        return pa.Array.from_buffers(typ, n, [bitmap, buf], null_count=nulls)

    cdef object _table(self, const int64_t* rows, Py_ssize_t n, int64_t first):
        """Rows ``rows[0:n]`` as a table, numbered from ``first``."""
        cdef Py_ssize_t k
        cdef int64_t* numbers
        nbuf = _new_buffer(n * 8, <char**>&numbers, False)
        for k in range(n):
            numbers[k] = first + k
        mine = {
            "line_start": self._fixed(_I64, <char*>self.line_start, 8, NULL, rows, n),
            "n_lines": self._fixed(pa.int32(), <char*>self.n_lines, 4, NULL, rows, n),
        }
        for k in range(N_TEXTS):
            mine[_TEXT_ATTRS[k]] = (<_Text>self.texts[k]).array_rows(rows, n)
        for k in range(N_FLOATS):
            mine[_FLOAT_ATTRS[k]] = self._fixed(_F64, <char*>self.f64[k], 8, self.f64_ok[k], rows, n)
        for k in range(N_INTS):
            mine[_INT_ATTRS[k]] = self._fixed(_I64, <char*>self.i64[k], 8, self.i64_ok[k], rows, n)
        arrays = {"entry_no": pa.Array.from_buffers(_I64, n, [None, nbuf], null_count=0)}
        for attr, col, _typ in _COLUMNS:
            arrays[col] = mine[attr]
        arrays["extra"] = self.extra.array_rows(rows, n)
        return pa.table(arrays)


# -- the parser ----------------------------------------------------------------------------------


cdef class _Session:
    """``postgres_stderr._StderrSession`` as a C class: the ``Folder`` reads and writes the
    public fields (what the session holds back and who it is), the feed loop the message being
    assembled (``r_`` fields: its first line's text, prefix end and groups).

    A ``connection received`` is held in ``c_`` fields, not as an Entry (one per connection
    cost more than the rest of its three lines): ``conn`` builds the Entry the ``Folder``
    would hold when Python code reads it, and the compiled parser writes the row itself when
    ``connection authorized`` completes it."""

    cdef public object key
    cdef public int64_t last
    cdef public object stmt, plan, parses, binds, user, db, host, app
    cdef object _conn  # a held connection Entry (the Folder's), or None
    cdef int64_t r_line, r_n
    cdef str r_text
    cdef Py_ssize_t r_end
    cdef tuple r_g
    cdef list r_msg, r_cur
    cdef dict r_att
    # The held ``connection received`` (c_line 0 = none): the Entry's fields.
    cdef int64_t c_line, c_n
    cdef double c_ts
    cdef bint c_ts_ok
    cdef object c_session, c_host, c_severity, c_message
    cdef dict c_extra

    def __init__(self, key: str | None) -> None:
        self.key = key

    @property
    def conn(self):
        """The held connection Entry (built from the ``c_`` fields on first read)."""
        if self.c_line:
            e = Entry(
                self.c_line,
                self.c_n,
                CONNECT,
                self.c_ts if self.c_ts_ok else None,
                self.c_session,
                None,
                None,
                self.c_host,
                None,
            )
            e.severity = self.c_severity
            e.message = self.c_message
            e.extra = self.c_extra
            self.c_line = 0
            self.c_session = self.c_host = self.c_severity = self.c_message = self.c_extra = None
            self._conn = e
        return self._conn

    @conn.setter
    def conn(self, value) -> None:
        self.c_line = 0
        self.c_session = self.c_host = self.c_severity = self.c_message = self.c_extra = None
        self._conn = value

    cdef inline bint holds_conn(self) noexcept:
        return self.c_line != 0 or self._conn is not None

    def oldest(self) -> int | None:
        """First line of the oldest entry or message this session still holds back."""
        starts = [e.line_start for e in (self.stmt, self.plan, self._conn) if e is not None]
        if self.c_line:
            starts.append(self.c_line)
        for phases in (self.parses, self.binds):
            if phases:
                starts.extend(e.line_start for e in phases.values())
        held = min(starts) if starts else None
        if self.r_line and (held is None or self.r_line < held):
            return self.r_line
        return held


# Debian's and Ubuntu's default log_line_prefix, the one most logs carry. Its regex (see
# pg_prefix.compile_prefix) is matched by _debian_prefix in C; other prefixes use the regex.
_DEBIAN_PREFIX = "%m [%p] %q%u@%d "
_DEBIAN_GROUPS = {"ts": 1, "pid": 2, "user": 3, "db": 4, "sev": 5, "host": 6, "app": 7}


cdef inline Py_ssize_t _severity_end(int kind, void* data, Py_ssize_t at, Py_ssize_t w):
    """End of ``[A-Z]+[1-5]?:  `` matched at ``at`` within ``w`` characters, or -1."""
    cdef Py_ssize_t j = at
    cdef Py_UCS4 c
    while j < w:
        c = PyUnicode_READ(kind, data, j)
        if c < 65 or c > 90:  # A-Z
            break
        j += 1
    if j == at:
        return -1
    if j < w:
        c = PyUnicode_READ(kind, data, j)
        if 49 <= c <= 53:  # 1-5
            j += 1
    if (
        j + 3 <= w
        and PyUnicode_READ(kind, data, j) == 58  # ':'
        and PyUnicode_READ(kind, data, j + 1) == 32
        and PyUnicode_READ(kind, data, j + 2) == 32
    ):
        return j + 3
    return -1


cdef tuple _debian_prefix(str line, Py_ssize_t* end):
    """The groups (ts, pid, user, db, sev, host = "", app = "") and end of the regex
    ``(?P<ts>\\d[^\\[]*)\\ \\[(?P<pid>\\d+)\\]\\ (?:(?:\\[unknown\\]|(?P<user>[^@]+))?@``
    ``(?:\\[unknown\\]|(?P<db>[^\\ ]+))?\\ )?(?P<sev>[A-Z]+[1-5]?):  `` + the two empty groups,
    matched at 0 within the first PREFIX_WINDOW characters, when this scan can tell; None
    when it cannot (the regex then decides).

    The regex backtracks only where a field could end elsewhere, and none can: ts ends before
    the first ``[`` (which must follow a space), the pid digits at the ``]``, user at the first
    ``@``, db at the first space after it, the severity's letters at the first other character.
    So the user@db group either matches that one way or not at all, and then the severity must
    follow ``] `` directly. Non-ASCII digits (``\\d`` takes them) and every failure go to the regex.
    """
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(line)
    cdef Py_ssize_t w = n if n < _WINDOW else _WINDOW
    cdef int kind = PyUnicode_KIND(line)
    cdef void* data = PyUnicode_DATA(line)
    cdef Py_ssize_t i, p, q, r, a, b, e
    cdef Py_UCS4 c
    if w < 1:
        return None
    c = PyUnicode_READ(kind, data, 0)
    if c < 48 or c > 57:
        return None
    i = PyUnicode_FindChar(line, 91, 1, w, 1)  # '['
    if i < 2 or PyUnicode_READ(kind, data, i - 1) != 32:
        return None
    p = q = i + 1
    while q < w:
        c = PyUnicode_READ(kind, data, q)
        if c < 48 or c > 57:
            break
        q += 1
    if q == p or q + 1 >= w or PyUnicode_READ(kind, data, q) != 93 or (
        PyUnicode_READ(kind, data, q + 1) != 32
    ):
        return None
    r = q + 2
    user = db = None
    e = -1
    a = PyUnicode_FindChar(line, 64, r, w, 1)  # '@'
    if a >= 0:
        b = PyUnicode_FindChar(line, 32, a + 1, w, 1)
        if b >= 0:
            e = _severity_end(kind, data, b + 1, w)
            if e >= 0:
                if a > r:
                    user = PyUnicode_Substring(line, r, a)
                    if user == "[unknown]":
                        user = None
                if b > a + 1:
                    db = PyUnicode_Substring(line, a + 1, b)
                    if db == "[unknown]":
                        db = None
                r = b + 1
    if e < 0:
        e = _severity_end(kind, data, r, w)
        if e < 0:
            return None
    end[0] = e
    return (
        PyUnicode_Substring(line, 0, i - 1),
        PyUnicode_Substring(line, p, q),
        user,
        db,
        PyUnicode_Substring(line, r, e - 3),
        "",
        "",
    )


def debian_prefix_groups(str line) -> tuple | None:
    """``_debian_prefix`` for the tests: (groups, end) or None."""
    cdef Py_ssize_t end = 0
    g = _debian_prefix(line, &end)
    return None if g is None else (g, end)


# -- connection lines without the regex -------------------------------------------------------
# ``postgres_stderr._AUTHORIZED`` / ``_DISCONNECTED`` were most of the time of the three lines
# of a connection. For ASCII messages without control characters (where ``\\S`` is "not a
# space", ``.`` is any character and ``$`` is the end) the fields are read in C as the regexes
# read them; anything else (and any text these readers decline) goes to the regex.

cdef inline bint _plain_ascii(str msg) noexcept:
    """Compact ASCII without control characters (no tab, newline or DEL)."""
    cdef const unsigned char* s
    cdef Py_ssize_t i
    if not PyUnicode_IS_COMPACT_ASCII(msg):
        return False
    s = <const unsigned char*>PyUnicode_DATA(msg)
    for i in range(PyUnicode_GET_LENGTH(msg)):
        if s[i] < 32 or s[i] == 127:
            return False
    return True


cdef inline Py_ssize_t _word_end(const char* s, Py_ssize_t i, Py_ssize_t n) noexcept:
    """End of the ``\\S*`` run at ``i`` (plain ASCII: up to the next space)."""
    while i < n and s[i] != 32:
        i += 1
    return i


cdef inline object _part(str msg, Py_ssize_t a, Py_ssize_t b):
    """``msg[a:b] or None``."""
    return PyUnicode_Substring(msg, a, b) if b > a else None


cdef inline Py_ssize_t _tls_marker(const char* s, Py_ssize_t i, Py_ssize_t n) noexcept:
    """The first position from ``i`` where `` SSL enabled (`` or `` GSS (`` starts, else n."""
    while i < n:
        if s[i] == 32 and (_has(s, i, n, b" SSL enabled (", 14) or _has(s, i, n, b" GSS (", 6)):
            return i
        i += 1
    return n


def authorized_fields(str msg) -> tuple | None:
    """``_authorized_fields``, for the differential test."""
    return _authorized_fields(msg)


cdef tuple _authorized_fields(str msg):
    """(user, db, app) of ``connection authorized: user=…`` as ``_AUTHORIZED`` reads them
    (empty = None); None when the text is not plain ASCII or not of that shape (the regex
    decides those)."""
    cdef const char* s
    cdef Py_ssize_t n, i, j
    if not _plain_ascii(msg):
        return None
    s = <const char*>PyUnicode_DATA(msg)
    n = PyUnicode_GET_LENGTH(msg)
    if not _has(s, 0, n, b"connection authorized: user=", 28):
        return None
    j = _word_end(s, 28, n)
    user = _part(msg, 28, j)
    db = None
    i = j
    if _has(s, i, n, b" database=", 10):
        j = _word_end(s, i + 10, n)
        db = _part(msg, i + 10, j)
        i = j
    if _has(s, i, n, b" application_name=", 18):
        # ``.*?`` then an optional TLS/GSS tail and the end: up to the first tail, else all
        j = _tls_marker(s, i + 18, n)
        return (user, db, _part(msg, i + 18, j))
    if i == n or _tls_marker(s, i, n) == i:
        return (user, db, None)
    return None


cdef inline Py_ssize_t _digits_end(const char* s, Py_ssize_t i, Py_ssize_t n) noexcept:
    while i < n and 48 <= s[i] <= 57:
        i += 1
    return i


def disconnected_fields(str msg) -> tuple | None:
    """``_disconnected_fields``, for the differential test."""
    return _disconnected_fields(msg)


cdef tuple _disconnected_fields(str msg):
    """(session ms, user, db, host) of ``disconnection: session time: H:M:S …`` as
    ``Folder._disconnection`` computes them from ``_DISCONNECTED`` (empty = None); None when
    the text is not plain ASCII or not of that shape, or a number is not plain (the regex and
    ``int`` / ``float`` decide those)."""
    cdef const char* s
    cdef Py_ssize_t n, i, j, k
    cdef int64_t h = 0, m = 0
    cdef double sec
    if not _plain_ascii(msg):
        return None
    s = <const char*>PyUnicode_DATA(msg)
    n = PyUnicode_GET_LENGTH(msg)
    if not _has(s, 0, n, b"disconnection: session time: ", 29):
        return None
    j = _digits_end(s, 29, n)
    if j == 29 or j - 29 > 15 or not _has(s, j, n, b":", 1):
        return None
    for k in range(29, j):
        h = h * 10 + (s[k] - 48)
    i = j + 1
    j = _digits_end(s, i, n)
    if j == i or j - i > 15 or not _has(s, j, n, b":", 1):
        return None
    for k in range(i, j):
        m = m * 10 + (s[k] - 48)
    i = j + 1
    j = i
    while j < n and (48 <= s[j] <= 57 or s[j] == 46):
        j += 1
    if j == i or not _plain_float(s, i, j, &sec):
        return None
    user = db = host = None
    i = j
    if _has(s, i, n, b" user=", 6):
        j = _word_end(s, i + 6, n)
        user = _part(msg, i + 6, j)
        i = j
    if _has(s, i, n, b" database=", 10):
        j = _word_end(s, i + 10, n)
        db = _part(msg, i + 10, j)
        i = j
    if _has(s, i, n, b" host=", 6):
        host = _part(msg, i + 6, _word_end(s, i + 6, n))
    return ((<double>(h * 3600 + m * 60) + sec) * 1000.0, user, db, host)


cdef class FastPostgresStderrParser:
    """``PostgresStderrParser`` producing Arrow columns (``entry_count`` / ``take_table``)
    instead of ``entries``; rejects are still :class:`Reject` objects (they are rare)."""

    name = "postgres-stderr"

    cdef public str prefix
    cdef public list rejects
    cdef _Rows _rows
    cdef object _folder, _handle, _match, _to_ts
    cdef dict _sessions
    cdef bint _key_is_session
    cdef bint _debian  # the prefix is _DEBIAN_PREFIX: matched by _debian_prefix first
    cdef Py_ssize_t _ts_i, _user_i, _db_i, _host_i, _app_i, _key_i, _sev_i
    cdef tuple _extras
    cdef _Session _cont
    cdef int64_t _next_sweep
    cdef object _last_ts_text, _last_ts
    cdef bint _ms_stamps  # to_ts is epoch: millisecond stamps take _ts's C path
    cdef object _sec_text, _sec_base  # the last such stamp and the epoch of its second

    def __init__(self, prefix: object, *, text_limit: int = _I32_MAX) -> None:
        """``text_limit``: the most text of one column in one Arrow chunk (int32 offsets);
        lowered only by the tests of the chunking."""
        self.prefix = prefix.text
        self.rejects = []
        self._rows = _Rows(text_limit)
        self._folder = _py.Folder(self._rows)
        self._handle = self._folder.handle
        self._sessions = self._folder.sessions
        index = prefix.regex.groupindex
        ts_group = "ts" if "ts" in index else "epoch"
        self._to_ts = epoch if ts_group == "ts" else float
        key_group = prefix.session_group or "pid"
        self._key_is_session = prefix.session_group is not None
        # As in the Python parser: groups the prefix lacks are added empty, so every line has
        # them; here they are read from ``m.groups()`` (0-based).
        wanted = (ts_group, "user", "db", "host", "app", key_group)
        missing = "".join(f"(?P<{g}>)" for g in wanted if g not in index)
        regex = re.compile(prefix.regex.pattern + missing)
        self._match = regex.match
        groups = regex.groupindex
        self._debian = prefix.text == _DEBIAN_PREFIX and dict(groups) == _DEBIAN_GROUPS
        self._ts_i, self._user_i, self._db_i, self._host_i, self._app_i, self._key_i = (
            groups[g] - 1 for g in wanted
        )
        self._sev_i = groups["sev"] - 1
        self._extras = tuple(
            (name, groups[group] - 1, usual)
            for name, group, usual in (
                ("sqlstate", "sqlstate", "00000"),
                ("query_id", "queryid", "0"),
                ("backend_type", "btype", "client backend"),
            )
            if group in index
        )
        self._cont = None
        self._next_sweep = _py.SWEEP_EVERY
        self._last_ts_text = None
        self._ms_stamps = self._to_ts is epoch

    @property
    def pending_line(self) -> int | None:
        return self._folder.pending_line()

    @property
    def entry_count(self) -> int:
        """Finished entries that ``take_table`` would return."""
        return self._rows.n

    def take_table(self, first_entry_no: int) -> pa.Table:
        """The finished entries as ``writer.to_arrow`` builds them from the Python parser's
        entries once the driver has sorted them by line_start (same columns, types, nulls and
        ``extra`` key order), numbered from ``first_entry_no``; the columns start empty again."""
        return self._rows.take(first_entry_no)

    def feed(self, list lines, first_line_no: int) -> None:
        """``PostgresStderrParser.feed``, statement for statement."""
        cdef int64_t line_no = first_line_no - 1
        cdef _Session st
        cdef _Session cont = self._cont
        cdef str line
        cdef tuple g
        cdef list cur, part
        cdef dict att
        cdef Py_ssize_t key_i = self._key_i, sev_i = self._sev_i, end = 0
        if lines and ((<str>lines[0])[-1:] == "\r" or (<str>lines[-1])[-1:] == "\r"):
            lines = [s[:-1] if s[-1:] == "\r" else s for s in lines]
        match = self._match
        sessions = self._sessions
        reject = self.rejects.append
        for line in lines:
            line_no += 1
            if PyUnicode_GET_LENGTH(line) and line[0] == u"\t":
                if cont is None:
                    reject(Reject(line_no, "continuation without a message", line))
                    continue
                cur = cont.r_cur
                if cur is None:
                    cont.r_msg = cont.r_cur = [cont.r_text[cont.r_end :], line[1:]]
                else:
                    cur.append(line[1:])
                cont.r_n += 1
                continue
            g = _debian_prefix(line, &end) if self._debian else None
            if g is None:
                m = match(line, 0, _WINDOW)
                if m is None:
                    reject(Reject(line_no, "no log_line_prefix match", line))
                    cont = None
                    continue
                g = m.groups()
                end = m.end()
            key = g[key_i]
            st = sessions.get(key)
            if st is None:
                st = sessions[key] = _Session(key)
            st.last = line_no
            cont = st
            if st.r_line:
                sev = g[sev_i]
                if sev in _ATTACHMENTS:
                    part = [line[end:]]
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
                self._close(st)
            st.r_line = line_no
            st.r_n = 1
            st.r_g = g
            st.r_text = line
            st.r_end = end
        self._cont = cont
        if line_no >= self._next_sweep:
            # Read from the Python module at run time, as it does (tests lower them).
            self._next_sweep = line_no + _py.SWEEP_EVERY
            self._sweep(line_no)

    cdef bint _ts(self, object text, double* out) except -1:
        """``to_ts(text) if text else None`` into ``out``; False for None.

        ``epoch`` of PostgreSQL's millisecond stamp (``YYYY-MM-DD HH:MM:SS.mmm[ TZ]``) is the
        epoch of its second plus ``float(".mmm")``: the second's value is kept while the second
        and zone stay the same, and the fraction is converted in C as ``float()`` converts it.
        Any other stamp goes to ``to_ts``, with the previous stamp's value reused (the
        conversion depends on the text alone)."""
        cdef const char* s
        cdef const char* p
        cdef Py_ssize_t n
        if not text:
            return False
        if self._ms_stamps and PyUnicode_IS_COMPACT_ASCII(text):
            s = <const char*>PyUnicode_DATA(text)
            n = PyUnicode_GET_LENGTH(text)
            if (
                n >= 23
                and s[19] == 46  # "."
                and 48 <= s[20] <= 57 and 48 <= s[21] <= 57 and 48 <= s[22] <= 57
                and (n == 23 or s[23] == 32)
            ):
                p = <const char*>PyUnicode_DATA(self._sec_text) if self._sec_text is not None else NULL
                if not (
                    p != NULL
                    and PyUnicode_GET_LENGTH(self._sec_text) == n
                    and memcmp(s, p, 19) == 0
                    and memcmp(s + 23, p + 23, n - 23) == 0
                ):
                    try:
                        self._sec_base = _second(text[:19] + text[23:])
                    except (ValueError, OverflowError):  # as epoch(): no time
                        self._sec_base = None
                    self._sec_text = text
                if self._sec_base is None:
                    return False
                # float(".mmm"): an exact integer over an exact 1000.0, correctly rounded
                out[0] = <double>self._sec_base + <double>(
                    (s[20] - 48) * 100 + (s[21] - 48) * 10 + (s[22] - 48)
                ) / 1000.0
                return True
        if text != self._last_ts_text:
            self._last_ts = self._to_ts(text)
            self._last_ts_text = text
        if self._last_ts is None:
            return False
        out[0] = self._last_ts
        return True

    cdef object _prefix_extra(self, tuple g):
        """The prefix fields kept in extra (a new dict in the Python parser's key order), or
        None."""
        cdef dict extra = None
        for name, i, usual in self._extras:
            value = (g[i] or "").strip()
            if value and value != usual:
                if extra is None:
                    extra = {name: value}
                else:
                    extra[name] = value
        return extra

    cdef int _close(self, _Session st) except -1:
        """The session's open message is complete: fold it (the Python parser's ``close``).
        Leaves r_line to the caller, which reopens or clears it."""
        cdef tuple g = st.r_g
        cdef list parts = st.r_msg
        cdef str text
        cdef Py_ssize_t base
        att = None
        if st.r_cur is not None:  # continuation or attachment lines came
            st.r_cur = None
            st.r_msg = None
            if st.r_att is not None:
                att = {k: "\n".join(v) for k, v in st.r_att.items()}
                st.r_att = None
        if parts is None:
            text, base = st.r_text, st.r_end
        else:
            text, base = "\n".join(parts), 0
        sev = g[self._sev_i]
        if att is None and sev == "LOG":
            if (
                st.stmt is None
                and st.plan is None
                and st.parses is None
                and st.binds is None
                and PyUnicode_IS_COMPACT_ASCII(text)
                and self._statement(st, g, text, base)
            ):
                return 0
            if st.holds_conn() and text.startswith("connection authorized: ", base):
                if self._authorized(st, text[base:]):
                    return 0
            elif text.startswith("connection received: ", base):
                self._received(st, g, sev, text[base:])
                return 0
            elif text.startswith("disconnection: ", base):
                if self._disconnection(st, g, text[base:]):
                    return 0
        if (
            sev == "LOG"
            and st.stmt is None
            and st.plan is None
            and PyUnicode_IS_COMPACT_ASCII(text)
            and self._extended(st, g, sev, text, base, att)
        ):
            return 0
        e = self._entry(st, g, sev)
        self._handle(st, e, text[base:] if base else text, att)
        return 0

    cdef object _entry(self, _Session st, tuple g, object sev):
        """The Entry of the open message as the Python parser's ``close`` builds it: position,
        stamp, session, prefix fields (else the session's), severity and prefix extras."""
        cdef double ts
        e = Entry(
            st.r_line,
            st.r_n,
            QUERY,
            ts if self._ts(g[self._ts_i], &ts) else None,
            st.key if self._key_is_session else None,
            g[self._user_i] or st.user,
            g[self._db_i] or st.db,
            g[self._host_i] or st.host,
            g[self._app_i] or st.app,
        )
        e.severity = sev
        if self._extras:
            e.extra = self._prefix_extra(g)
        return e

    cdef bint _statement(self, _Session st, tuple g, str text, Py_ssize_t base) except -1:
        """``duration: X ms  statement: Q`` (ASCII ``text[base:]``) in a session that holds
        nothing back: the entry ``Folder.handle`` would emit at once, written to the columns.
        False (nothing done) for any other message, which then takes the Python path."""
        cdef const char* s = <const char*>PyUnicode_DATA(text)
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), end, a, b, k
        cdef double duration
        if not _has(s, base, n, b"duration: ", 10):
            return False
        end = -1
        for k in range(base + 10, n - 2):
            if s[k] == 32 and s[k + 1] == 109 and s[k + 2] == 115:  # " ms"
                end = k
                break
        if end < 0 or not _has(s, end + 3, n, b"  statement: ", 13):
            return False
        if not _plain_float(s, base + 10, end, &duration):
            return False
        a, b = end + 16, n
        while a < b and _space(s[a]):
            a += 1
        while b > a and _space(s[b - 1]):
            b -= 1
        self._put(
            st,
            g,
            _KIND_QUERY,
            g[self._user_i] or st.user,
            g[self._db_i] or st.db,
            g[self._host_i] or st.host,
            g[self._app_i] or st.app,
            duration,
            s + a,
            b - a,
            None,
        )
        return True

    cdef bint _extended(
        self, _Session st, tuple g, object sev, str text, Py_ssize_t base, dict att
    ) except -1:
        """``duration: X ms  parse|bind|execute name: Q`` (ASCII ``text[base:]``, the DETAIL
        parameters as the only attachment if any) in a session that holds no statement or
        plan: what ``Folder.handle`` does with it (``_extended``, ``_phase``) in C, then the
        Folder's own ``_fold_phases``. False (nothing done) for any other message."""
        cdef const char* s = <const char*>PyUnicode_DATA(text)
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), end, k, body, colon
        cdef double duration
        cdef int phase  # 0 execute, 1 bind, 2 parse
        cdef bint fetch
        if not _has(s, base, n, b"duration: ", 10):
            return False
        end = -1
        for k in range(base + 10, n - 2):
            if s[k] == 32 and s[k + 1] == 109 and s[k + 2] == 115:  # " ms"
                end = k
                break
        if end < 0:
            return False
        k = end + 3
        if _has(s, k, n, b"  execute ", 10):
            phase, body = 0, k + 10
        elif _has(s, k, n, b"  bind ", 7):
            phase, body = 1, k + 7
        elif _has(s, k, n, b"  parse ", 8):
            phase, body = 2, k + 8
        else:
            return False
        params = None
        if att is not None:
            detail = att.get("DETAIL")
            if len(att) != 1 or detail is None or detail[:12].lower() != "parameters: ":
                return False
            params = detail[12:]
        fetch = phase == 0 and _has(s, body, n, b"fetch from ", 11)
        if fetch:
            body += 11
        colon = text.find(": ", body)
        if colon < 0 or not _plain_float(s, base + 10, end, &duration):
            return False
        name = text[body:colon]
        slash = name.find("/")
        if slash >= 0:
            name = name[:slash]
        if name == "<unnamed>":
            name = None
        e = self._entry(st, g, sev)
        e.duration_ms = duration
        e.statement_name = name
        e.query = text[colon + 2 :].strip()
        if params is not None:
            e.params = params
        if phase:  # Folder._phase: held until the execution of the same name
            if phase == 2:
                e.parse_ms = duration
                if st.parses is None:
                    st.parses = {}
                pending = st.parses
            else:
                e.bind_ms = duration
                if st.binds is None:
                    st.binds = {}
                pending = st.binds
            old = pending.pop(name, None)
            if old is not None:
                self._folder._emit_phase(old)
            pending[name] = e
            return True
        self._folder._fold_phases(st, e)
        if fetch:
            if e.extra is None:
                e.extra = {"phase": "fetch"}
            else:
                e.extra["phase"] = "fetch"
        self._rows.append(e)
        return True

    cdef int _received(self, _Session st, tuple g, object sev, str msg) except -1:
        """``connection received: …``: what ``Folder._connection`` does with it, the Entry it
        would hold kept in the session's ``c_`` fields."""
        cdef double ts = 0.0
        cdef bint ts_ok = self._ts(g[self._ts_i], &ts)
        host = g[self._host_i] or st.host
        extra = self._prefix_extra(g) if self._extras else None
        if (
            st.stmt is not None
            or st.plan is not None
            or st.parses is not None
            or st.binds is not None
            or st.holds_conn()
        ):
            self._folder.flush_session(st)
        st.user = st.db = st.app = None
        address, _, port = msg[21:].partition(" port=")
        if address.startswith("host="):
            host = address[5:]
        st.host = host
        if port:
            if extra is None:
                extra = {"port": port}
            else:
                extra["port"] = port
        st._conn = None
        st.c_line = st.r_line
        st.c_n = st.r_n
        st.c_ts = ts
        st.c_ts_ok = ts_ok
        st.c_session = st.key if self._key_is_session else None
        st.c_host = host
        st.c_severity = sev
        st.c_message = msg
        st.c_extra = extra
        return 0

    cdef bint _authorized(self, _Session st, str msg) except -1:
        """``connection authorized: …`` after the session's ``connection received``: what
        ``Folder._connection`` does then, without the Entry it would build for this message
        and replace by the held one at once. False (nothing done) when the text does not
        parse."""
        fields = _authorized_fields(msg)
        if fields is None:
            m = _authorized_match(msg)
            if m is None:
                return False
            fields = (m.group("user") or None, m.group("db") or None, m.group("app") or None)
        if st.c_line:  # held in the c_ fields: its row is written here
            user = st.user = fields[0]
            db = st.db = fields[1]
            app = st.app = fields[2]
            if (
                st.stmt is not None
                or st.plan is not None
                or st.parses is not None
                or st.binds is not None
            ):
                self._folder._flush_queries(st)
            self._row(
                st.c_line if st.c_line <= st.r_line else st.r_line,
                st.c_n + st.r_n,
                st.c_ts_ok,
                st.c_ts,
                st.c_session,
                _KIND_CONNECT,
                user,
                db,
                st.c_host,
                app,
                False,
                0.0,
                NULL,
                0,
                msg,
                st.c_extra,
            )
            st.conn = None
            return True
        conn = st.conn
        st.conn = None
        conn.n_lines += st.r_n  # _absorb(conn, e)
        if st.r_line < conn.line_start:
            conn.line_start = st.r_line
        conn.message = msg
        conn.user = st.user = fields[0] or conn.user
        conn.db = st.db = fields[1] or conn.db
        conn.app = st.app = fields[2] or conn.app
        if st.stmt is not None or st.plan is not None or st.parses is not None or st.binds is not None:
            self._folder._flush_queries(st)
        self._rows.append(conn)
        return True

    cdef bint _disconnection(self, _Session st, tuple g, str msg) except -1:
        """``disconnection: session time: …``: ``Folder._disconnection`` written to the
        columns (the user / db / host / app it starts from are taken before the flush, as the
        Entry's are). False (nothing done) when the text does not parse."""
        cdef double duration
        fields = _disconnected_fields(msg)
        if fields is None:
            m = _disconnected_match(msg)
            ms = None if m is None else _py.session_ms(m)
            if ms is None:  # the Folder makes it a message
                return False
            fields = (ms, m["user"] or None, m["db"] or None, m["host"] or None)
        user = g[self._user_i] or st.user
        db = g[self._db_i] or st.db
        host = g[self._host_i] or st.host
        app = g[self._app_i] or st.app
        if (
            st.stmt is not None
            or st.plan is not None
            or st.parses is not None
            or st.binds is not None
            or st.holds_conn()
        ):
            self._folder.flush_session(st)
        duration = fields[0]
        user = fields[1] or user
        db = fields[2] or db
        host = fields[3] or host
        st.user = st.db = st.host = st.app = None
        self._put(st, g, _KIND_DISCONNECT, user, db, host, app, duration, NULL, 0, msg)
        return True

    cdef int _put(
        self,
        _Session st,
        tuple g,
        bytes kind,
        object user,
        object db,
        object host,
        object app,
        double duration,
        const char* query,
        Py_ssize_t query_size,
        object message,
    ) except -1:
        """One row of the open message's position, stamp, session and prefix extras, with
        these values; ``query`` NULL is a NULL query. Every other column is NULL."""
        cdef double ts = 0.0
        cdef bint ts_ok = self._ts(g[self._ts_i], &ts)
        self._row(
            st.r_line,
            st.r_n,
            ts_ok,
            ts,
            st.key if self._key_is_session else None,
            kind,
            user,
            db,
            host,
            app,
            True,
            duration,
            query,
            query_size,
            message,
            self._prefix_extra(g) if self._extras else None,
        )
        return 0

    cdef int _row(
        self,
        int64_t line_start,
        int64_t n_lines,
        bint ts_ok,
        double ts,
        object session,
        bytes kind,
        object user,
        object db,
        object host,
        object app,
        bint duration_ok,
        double duration,
        const char* query,
        Py_ssize_t query_size,
        object message,
        object extra,
    ) except -1:
        """One row of severity LOG with these values (``query`` NULL: a NULL query); every
        other column is NULL."""
        cdef _Rows rows = self._rows
        cdef Py_ssize_t k = rows.begin(line_start, n_lines)
        cdef int f
        rows.f64[F_TS][k] = ts if ts_ok else 0.0
        rows.f64_ok[F_TS][k] = ts_ok
        rows.f64[F_DURATION][k] = duration if duration_ok else 0.0
        rows.f64_ok[F_DURATION][k] = duration_ok
        for f in range(2, N_FLOATS):
            rows.f64[f][k] = 0.0
            rows.f64_ok[f][k] = False
        for f in range(N_INTS):
            rows.i64[f][k] = 0
            rows.i64_ok[f][k] = False
        (<_Text>rows.texts[T_KIND]).add(kind, len(kind))
        (<_Text>rows.texts[T_SESSION]).add_str(session)
        (<_Text>rows.texts[T_USER]).add_str(user)
        (<_Text>rows.texts[T_DB]).add_str(db)
        (<_Text>rows.texts[T_HOST]).add_str(host)
        (<_Text>rows.texts[T_APP]).add_str(app)
        if query == NULL:
            (<_Text>rows.texts[T_QUERY]).add_null()
        else:
            (<_Text>rows.texts[T_QUERY]).add(query, query_size)
        for f in range(T_QUERY + 1, T_SEVERITY):
            (<_Text>rows.texts[f]).add_null()
        (<_Text>rows.texts[T_SEVERITY]).add(_LOG, 3)
        (<_Text>rows.texts[T_MESSAGE]).add_str(message)
        rows.extra.add_json_object(extra)
        rows.end(k)
        return 0

    def _sweep(self, line_no: int) -> None:
        limit = line_no - _py.STALE_LINES
        for st in list(self._sessions.values()):
            if (<_Session>st).last < limit and (<_Session>st).r_line:
                self._close(st)
                (<_Session>st).r_line = 0
                if self._cont is st:
                    self._cont = None
        self._folder.sweep(line_no)

    def finish(self) -> None:
        open_messages = [st for st in self._sessions.values() if (<_Session>st).r_line]
        for st in sorted(open_messages, key=_r_line):
            self._close(st)
            (<_Session>st).r_line = 0
        self._folder.flush_all()
        self._cont = None

    def settle(self, before_line: int) -> None:
        """Close open messages begun before ``before_line``, as ``finish`` does; the folds
        waiting for a later message stay."""
        ready = [
            st for st in self._sessions.values() if 0 < (<_Session>st).r_line < before_line
        ]
        for st in sorted(ready, key=_r_line):
            self._close(st)
            (<_Session>st).r_line = 0
            if self._cont is st:
                self._cont = None


def _r_line(_Session st) -> int:
    return st.r_line
