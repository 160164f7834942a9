# cython: language_level=3, boundscheck=False, cdivision=True
"""Compiled twin of :class:`perftui.ingest.mysql_slow.MySQLSlowParser` for batch ingest.

Why it exists: on a large slow log the pure-Python parser plus ``writer.to_arrow`` of its
``Entry`` objects is most of ingest's main-thread time (the DuckDB side runs on another thread
and releases the GIL). This class walks the same lines with the same state machine, but keeps
the open entry in C fields and appends finished entries straight to column buffers, so no
``Entry`` is built and ``take_table`` hands over Arrow arrays made from those buffers.

Exactness comes first: the control flow below is a line-by-line port of
``MySQLSlowParser.feed`` (same order of assignments, same fallbacks), and every rare construct
goes through the Python module's own helpers (``_parse_fields``, ``_parse_uh``,
``_time_to_epoch``, ``_use_db``, ``_is_server_header`` and its regexes) and per-text caches.
Only the lines every entry has get C fast paths, and those only for ASCII lines of the usual
shape; anything else takes the code the Python parser runs. Numbers are converted as Python
converts them: digit-only text with ``_columns.plain_float`` (the value ``float()`` gives), other
text with ``float()`` / ``int()`` themselves. ``tests/ingest/test_mysql_slow_fast.py`` checks
that the tables equal ``to_arrow`` of the Python parser's entries.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8
from libc.stdint cimport uint64_t
from libc.stdlib cimport free
from libc.string cimport memchr, memcmp, memcpy

from perftui.ingest._columns cimport (
    Text as _Text,
    fixed_array as _fixed_array,
    grow as _realloc,
    has_at as _has,
    is_digit as _digit,
    is_space as _space,
    new_buffer as _new_buffer,
    null_array as _null_array,
    plain_float as _plain_float,
)


cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)


import pyarrow as pa

from perftui.ingest import mysql_slow as _py
from perftui.ingest.records import ADMIN, QUERY, Reject
from perftui.store.writer import _COLUMNS
from perftui.store.writer import extra_json as _extra_json

# The Python parser's header codes, read from it so the two cannot drift apart.
cdef int _TIME = _py._TIME
cdef int _UH = _py._UH
cdef int _THREAD = _py._THREAD
cdef int _QT = _py._QT
cdef int _ADMIN = _py._ADMIN
cdef int _FIELDS = _py._FIELDS
cdef int _PLANF = _py._PLANF
cdef int _EXPLAIN = _py._EXPLAIN
cdef int _RA = _py._RA
cdef int _OTHER = _py._OTHER

cdef Py_ssize_t _CACHE_MAX = _py._CACHE_MAX
cdef Py_ssize_t _CACHE_LINE_MAX = _py._CACHE_LINE_MAX
cdef str _SRV_END = _py._SRV_END
cdef tuple _SET_META = _py._SET_META
cdef bytes _SRV_END_B = _SRV_END.encode("ascii")
cdef tuple _SET_META_B = tuple(p.encode("ascii") for p in _SET_META)
cdef object _is_server_header = _py._is_server_header
cdef object _use_db = _py._use_db
cdef object _parse_fields = _py._parse_fields
cdef object _parse_uh = _py._parse_uh
cdef object _time_to_epoch = _py._time_to_epoch
cdef object _thread_match = _py._MARIA_THREAD_RE.match
cdef object _ra_match = _py._MARIA_RA_RE.match

cdef bytes _KIND_ADMIN = ADMIN.encode()
cdef bytes _KIND_QUERY = QUERY.encode()
cdef object _I64 = pa.int64()
cdef int64_t _I32_MAX = 2147483647

# _HEAD as C strings: a header name is compared in place instead of sliced and hashed.
cdef enum:
    _HEAD_SLOTS = 32
    _HEAD_WIDTH = 64

cdef char _head_names[_HEAD_SLOTS][_HEAD_WIDTH]
cdef Py_ssize_t _head_len[_HEAD_SLOTS]
cdef int _head_code_of[_HEAD_SLOTS]
cdef int _n_head = 0


def _load_head() -> None:
    """Copy ``mysql_slow._HEAD`` into the C table; an entry that does not fit is an ImportError,
    so ``make_fast`` falls back to the Python parser instead of parsing differently."""
    global _n_head
    if len(_py._HEAD) > _HEAD_SLOTS:
        raise ImportError("mysql_slow._HEAD has more names than the compiled parser holds")
    for name, code in _py._HEAD.items():
        raw = name.encode("ascii")
        if len(raw) >= _HEAD_WIDTH:
            raise ImportError(f"header name {name!r} too long for the compiled parser")
        memcpy(_head_names[_n_head], <const char*>raw, len(raw))
        _head_len[_n_head] = len(raw)
        _head_code_of[_n_head] = code
        _n_head += 1


_load_head()


cdef inline bint _plain_int(const char* s, Py_ssize_t a, Py_ssize_t b, int64_t* out) noexcept nogil:
    """Digit-only text short enough for int64: its value (what ``int()`` gives). False for
    anything else (signs, underscores, spaces, long numbers): the caller asks ``int()``."""
    cdef int64_t v = 0
    cdef Py_ssize_t k
    if b <= a or b - a > 18:
        return False
    for k in range(a, b):
        if not _digit(s[k]):
            return False
        v = v * 10 + (s[k] - 48)
    out[0] = v
    return True


cdef inline bint _int64_of(object value, int64_t* out) except -1:
    """A Python int as an int64; False when it does not fit (``to_arrow`` stores NULL then)."""
    try:
        out[0] = value
    except OverflowError:
        return False
    return True


cdef inline Py_ssize_t _skip_space(const char* s, Py_ssize_t pos, Py_ssize_t n) noexcept nogil:
    while pos < n and _space(s[pos]):
        pos += 1
    return pos


cdef inline Py_ssize_t _skip_digits(const char* s, Py_ssize_t pos, Py_ssize_t n) noexcept nogil:
    while pos < n and _digit(s[pos]):
        pos += 1
    return pos


cdef inline Py_ssize_t _skip_word(const char* s, Py_ssize_t pos, Py_ssize_t n) noexcept nogil:
    while pos < n and not _space(s[pos]):
        pos += 1
    return pos


cdef bint _match_thread(const char* s, Py_ssize_t n, Py_ssize_t* g) noexcept nogil:
    """``_MARIA_THREAD_RE`` on an ASCII line: ``# Thread_id: (\\d+)\\s+Schema: (\\S*)\\s+QC_hit:
    (\\S+)\\s*$``. Each quantifier is followed by a disjoint class, so no backtracking can find
    another match; ``g`` gets the three groups' bounds."""
    cdef Py_ssize_t pos = 13, p
    if not _has(s, 0, n, b"# Thread_id: ", 13):
        return False
    g[0] = pos
    pos = _skip_digits(s, pos, n)
    if pos == g[0]:
        return False
    g[1] = pos
    p = _skip_space(s, pos, n)
    if p == pos or not _has(s, p, n, b"Schema: ", 8):
        return False
    g[2] = p + 8
    pos = _skip_word(s, g[2], n)
    g[3] = pos
    p = _skip_space(s, pos, n)
    if p == pos or not _has(s, p, n, b"QC_hit: ", 8):
        return False
    g[4] = p + 8
    pos = _skip_word(s, g[4], n)
    if pos == g[4]:
        return False
    g[5] = pos
    return _skip_space(s, pos, n) == n


cdef bint _match_ra(const char* s, Py_ssize_t n, Py_ssize_t* g) noexcept nogil:
    """``_MARIA_RA_RE`` on an ASCII line: ``# Rows_affected: (\\d+)\\s+Bytes_sent: (\\d+)\\s*$``."""
    cdef Py_ssize_t pos = 17, p
    if not _has(s, 0, n, b"# Rows_affected: ", 17):
        return False
    g[0] = pos
    pos = _skip_digits(s, pos, n)
    if pos == g[0]:
        return False
    g[1] = pos
    p = _skip_space(s, pos, n)
    if p == pos or not _has(s, p, n, b"Bytes_sent: ", 12):
        return False
    g[2] = p + 12
    pos = _skip_digits(s, g[2], n)
    if pos == g[2]:
        return False
    g[3] = pos
    return _skip_space(s, pos, n) == n


cdef inline bint _token_is(const char* s, Py_ssize_t a, Py_ssize_t b, const char* lit, Py_ssize_t k) noexcept nogil:
    return b - a == k and memcmp(s + a, lit, k) == 0


cdef int _head_code(str line, Py_ssize_t i):
    """``_HEAD.get(line[1:i], _FIELDS)`` without building the slice."""
    cdef Py_ssize_t size = i - 1, j, k
    for j in range(_n_head):
        if _head_len[j] != size:
            continue
        for k in range(size):
            if <Py_UCS4>line[1 + k] != <unsigned char>_head_names[j][k]:
                break
        else:
            return _head_code_of[j]
    return _FIELDS


cdef inline bint _ends_srv(str line, Py_ssize_t n):
    """``line.endswith(_SRV_END)``, with the usual answer (last character not ``:``) in C."""
    return n > 0 and line[n - 1] == u":" and line.endswith(_SRV_END)


# -- the same tests on an ASCII line's bytes --------------------------------------------------------


cdef inline bint _ends_srv_ascii(const char* s, Py_ssize_t n):
    cdef Py_ssize_t k = len(_SRV_END_B)
    return n >= k and s[n - 1] == 58 and memcmp(s + n - k, <const char*>_SRV_END_B, k) == 0


cdef inline bint _starts_set_meta(const char* s, Py_ssize_t n):
    """``line.startswith(_SET_META)``."""
    cdef bytes prefix
    for prefix in _SET_META_B:
        if _has(s, 0, n, <const char*>prefix, len(prefix)):
            return True
    return False


cdef int _head_code_ascii(const char* s, Py_ssize_t i) noexcept nogil:
    """``_head_code`` on bytes."""
    cdef Py_ssize_t size = i - 1, j
    for j in range(_n_head):
        if _head_len[j] == size and memcmp(s + 1, _head_names[j], size) == 0:
            return _head_code_of[j]
    return _FIELDS


cdef inline bint _all_space(const char* s, Py_ssize_t n) noexcept nogil:
    """``not line.strip()``."""
    cdef Py_ssize_t k
    for k in range(n):
        if not _space(s[k]):
            return False
    return True


cdef inline bint _same_bytes(bytes remembered, const char* s, Py_ssize_t n):
    return (
        remembered is not None
        and PyBytes_GET_SIZE(remembered) == n
        and memcmp(PyBytes_AS_STRING(remembered), s, n) == 0
    )


cdef inline object _ascii(const char* s, Py_ssize_t n, object line):
    """The ``str`` of an ASCII line: ``line`` when the caller had it, else made from its bytes."""
    if line is not None:
        return line
    return PyUnicode_DecodeASCII(s, n, NULL)


cdef bint _plain_ascii(const char* s, Py_ssize_t n) noexcept nogil:
    """Whether every byte is 1-127: text that decodes to the same characters (``_decode``
    turns NUL into U+FFFD, and other bytes are UTF-8 sequences or invalid)."""
    cdef Py_ssize_t k = 0
    cdef uint64_t w
    while k + 8 <= n:
        memcpy(&w, s + k, 8)
        if (w & 0x8080808080808080ULL) or ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL):
            return False
        k += 8
    while k < n:
        if <unsigned char>s[k] == 0 or <unsigned char>s[k] >= 128:
            return False
        k += 1
    return True


cdef object _decode_line(const char* s, Py_ssize_t n):
    """One line (no ``\\n``, its CR before LF dropped) as ``sources._decode`` decodes it."""
    text = PyUnicode_DecodeUTF8(s, n, "replace")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text


# Indexes of the int64 attributes in the open entry and the column buffers ...
cdef enum:
    I_ROWS_SENT = 0
    I_ROWS_EXAMINED = 1
    I_ROWS_AFFECTED = 2
    I_BYTES_SENT = 3
    N_INTS = 4

# ... and of the float64 ones.
cdef enum:
    F_TS = 0
    F_DURATION = 1
    F_LOCK = 2
    N_FLOATS = 3

_INT_ATTRS = ("rows_sent", "rows_examined", "rows_affected", "bytes_sent")
_FLOAT_ATTRS = ("ts", "duration_ms", "lock_ms")


cdef class FastMySQLSlowParser:
    """``MySQLSlowParser`` producing Arrow columns (``entry_count`` / ``take_table``) instead of
    ``entries``; rejects are still :class:`Reject` objects (they are rare).

    The open entry lives in the ``_c_*`` fields; the attribute names in comments refer to the
    ``Entry`` the Python parser would be filling.
    """

    name = "mysql-slow"

    cdef public list rejects
    # State of the Python parser's feed loop.
    cdef bint _open  # cur is not None
    cdef int _phase, _rank
    cdef list _plan
    # The open entry's statement lines, joined by "\n" as UTF-8; _qascii while all are ASCII.
    cdef char* _q
    cdef Py_ssize_t _qlen, _qcap, _qn
    cdef bint _qascii
    # The last User@Host and Thread_id lines (bytes) and what they gave: consecutive entries
    # mostly repeat them, and a hit needs no str and no dict lookup.
    cdef bytes _uh_line, _thread_line
    cdef object _uh_value, _thread_session, _thread_db, _thread_qc
    cdef object _use
    cdef bint _has_set_ts
    cdef double _set_ts
    cdef object _last_use, _last_time
    cdef int64_t _last_no
    cdef dict _fcache, _uhcache, _tcache
    # The open entry.
    cdef int64_t _c_line_start
    cdef bint _c_admin
    cdef object _c_session, _c_user, _c_db, _c_host, _c_query, _c_extra
    # A QC_hit value not yet put in _c_extra: while it is the entry's only extra field (the
    # MariaDB entry's usual case) no dict is made; its JSON is remembered for the last value.
    cdef object _c_qc, _qc_last
    cdef bytes _qc_json
    cdef double _c_f64[N_FLOATS]
    cdef bint _c_f64_ok[N_FLOATS]
    cdef int64_t _c_i64[N_INTS]
    cdef bint _c_i64_ok[N_INTS]
    # Finished entries, column by column.
    cdef Py_ssize_t _n, _cap
    cdef int64_t* _line_start
    cdef int32_t* _n_lines
    cdef double* _f64[N_FLOATS]
    cdef uint8_t* _f64_ok[N_FLOATS]
    cdef int64_t* _i64[N_INTS]
    cdef uint8_t* _i64_ok[N_INTS]
    cdef _Text _kind, _session, _user, _db, _host, _query, _planc, _extra
    cdef int64_t _text_limit

    def __cinit__(self, *, text_limit: int = _I32_MAX) -> None:
        """``text_limit``: the most text of one column in one Arrow chunk (int32 offsets);
        lowered only by the tests of the chunking."""
        self._text_limit = text_limit
        self.rejects = []
        self._phase = 0
        self._rank = -1
        self._plan = []
        self._qascii = True
        self._fcache = {}
        self._uhcache = {}
        self._tcache = {}
        self._kind, self._session, self._user, self._db = _Text(), _Text(), _Text(), _Text()
        self._host, self._query, self._planc = _Text(), _Text(), _Text()
        self._extra = _Text()

    def __dealloc__(self) -> None:
        cdef int k
        free(self._q)
        free(self._line_start)
        free(self._n_lines)
        for k in range(N_FLOATS):
            free(self._f64[k])
            free(self._f64_ok[k])
        for k in range(N_INTS):
            free(self._i64[k])
            free(self._i64_ok[k])

    @property
    def pending_line(self) -> int | None:
        return self._c_line_start if self._open else None

    @property
    def entry_count(self) -> int:
        """Finished entries that ``take_table`` would return."""
        return self._n

    # -- the open entry ----------------------------------------------------------------------

    cdef inline void _new_entry(self, int64_t no) noexcept:
        """``cur = Entry(no, 0)`` and fresh ``qlines`` / ``plan`` / ``use`` / ``set_ts``."""
        cdef int k
        self._open = True
        self._c_line_start = no
        self._c_admin = False
        self._c_session = self._c_user = self._c_db = self._c_host = None
        self._c_query = self._c_extra = self._c_qc = None
        for k in range(N_FLOATS):
            self._c_f64_ok[k] = False
        for k in range(N_INTS):
            self._c_i64_ok[k] = False
        self._qlen = self._qn = 0
        self._qascii = True
        if self._plan:
            self._plan = []
        self._use = None
        self._has_set_ts = False
        self._phase = 1

    cdef int _set_int(self, int k, object value) except -1:
        self._c_i64_ok[k] = _int64_of(value, &self._c_i64[k])
        return 0

    cdef int _int_at(self, int k, const char* s, Py_ssize_t a, Py_ssize_t b) except -1:
        """Int attribute ``k`` from the ASCII text ``s[a:b]``: in C when it is plain digits,
        else as ``int()`` reads it (which may raise ValueError, as in the Python parser)."""
        cdef int64_t iv
        if _plain_int(s, a, b, &iv):
            self._c_i64[k] = iv
            self._c_i64_ok[k] = True
            return 0
        return self._set_int(k, int(_ascii(s + a, b - a, None)))

    cdef int _setattr(self, str attr, object value) except -1:
        """``setattr(cur, attr, value)`` for the attributes ``_parse_fields`` produces."""
        if attr == "duration_ms":
            self._c_f64[F_DURATION] = value
            self._c_f64_ok[F_DURATION] = True
        elif attr == "lock_ms":
            self._c_f64[F_LOCK] = value
            self._c_f64_ok[F_LOCK] = True
        elif attr == "db":
            self._c_db = value
        elif attr == "session":
            self._c_session = value
        elif attr in _INT_ATTRS:
            self._set_int(_INT_ATTRS.index(attr), value)
        else:
            raise AttributeError(f"the compiled slow-log parser does not know Entry.{attr}")
        return 0

    cdef int _update_extra(self, dict ex) except -1:
        self._own_extra()
        if self._c_extra is None:
            self._c_extra = ex.copy()
        else:
            (<dict>self._c_extra).update(ex)
        return 0

    cdef inline int _own_extra(self) except -1:
        """Put a pending QC_hit in ``_c_extra`` (first, as it came first) before it changes."""
        if self._c_qc is not None:
            self._c_extra = {"QC_hit": self._c_qc}
            self._c_qc = None
        return 0

    # -- the hot loop: MySQLSlowParser.feed, statement for statement -------------------------
    #
    # Two ports of the Python parser's loop body: ``_ascii_line`` for ASCII lines, which reads
    # the line's bytes in C and makes a ``str`` only for the rare steps that hand the line to the
    # Python helpers, and ``_line`` for every other line, on its ``str``. ``feed`` (decoded
    # lines) and ``feed_bytes`` (the log's bytes) both send each line to one of them.

    def feed(self, list lines, first_line_no: int) -> None:
        cdef Py_ssize_t nl = len(lines), idx
        cdef int64_t first = first_line_no
        cdef str line
        for idx in range(nl):
            line = lines[idx]
            if PyUnicode_IS_COMPACT_ASCII(line):
                self._ascii_line(
                    <const char*>PyUnicode_DATA(line), PyUnicode_GET_LENGTH(line), line, first + idx
                )
            else:
                self._line(line, first + idx)
        self._last_no = first + nl - 1

    def feed_bytes(self, bytes data, Py_ssize_t start, Py_ssize_t end, first_line_no: int) -> int:
        """Feed the lines of ``data[start:end]`` as ``sources.line_batches`` would decode them
        (every line ends with ``\\n`` except, at the end of the log, the last one); returns
        the number of lines.

        The lines the driver hands ``feed`` are ``str(block, "utf-8", "replace")`` split at
        ``\\n``, with CRLF folded to LF and NUL replaced by U+FFFD. A line of bytes 1-127 (after
        its CR before LF is dropped) is that ``str``'s text as is, and goes to ``_ascii_line``
        without any ``str`` made; other lines are decoded as ``_decode`` does, one at a time."""
        cdef const char* base = PyBytes_AS_STRING(data)
        cdef const char* s
        cdef const char* nl
        cdef Py_ssize_t pos = start, n, stop
        cdef int64_t no = first_line_no
        cdef bint terminated, clean
        if start < 0 or end > PyBytes_GET_SIZE(data) or start > end:
            raise ValueError("feed_bytes: range outside the data")
        clean = _plain_ascii(base + start, end - start)
        while pos < end:
            s = base + pos
            nl = <const char*>memchr(s, 10, end - pos)
            terminated = nl != NULL
            stop = (nl - base) if terminated else end
            n = stop - pos
            if terminated and n > 0 and s[n - 1] == 13:  # CRLF: "\r\n" folds to "\n"
                n -= 1
            if clean or _plain_ascii(s, n):
                self._ascii_line(s, n, None, no)
            else:
                self._line(_decode_line(s, n), no)
            no += 1
            pos = stop + 1
        self._last_no = no - 1
        return no - first_line_no

    cdef int _ascii_line(self, const char* s, Py_ssize_t n, object line, int64_t no) except -1:
        """One ASCII line ``s[:n]``; ``line`` is its ``str`` when the caller has one (None: made
        here when a step needs it)."""
        cdef char c = s[0] if n else 0
        cdef Py_ssize_t i = -1, j, lim
        cdef int code
        cdef object u, f, ex
        cdef Py_ssize_t g[6]
        if c != 35:  # not "#"
            if self._phase == 2:  # statement text, unless a server header interrupts it
                if (c != 84 and not _ends_srv_ascii(s, n)) or not _is_server_header(
                    _ascii(s, n, line)
                ):
                    self._qadd(s, n, True)
                    return 0
            elif (
                c == 83  # "S"
                and _starts_set_meta(s, n)
                and (not self._open or not self._has_set_ts)
            ):
                if not self._open:  # no headers (e.g. a log cut mid-entry): still an entry
                    self._new_entry(no)
                    self._rank = _QT
                if s[4] == 116 and s[n - 1] == 59:  # the usual "SET timestamp=N;"
                    self._set_timestamp_ascii(s, n, line)
                else:
                    self._set_line(_ascii(s, n, line))
                return 0
            elif (
                c == 117  # "u"
                and _has(s, 0, n, b"use ", 4)
                and (not self._open or self._use is None)
            ):
                if not self._open:
                    self._new_entry(no)
                    self._rank = _QT
                self._use = _use_db(_ascii(s, n, line))
                return 0
            elif (c != 84 and not _ends_srv_ascii(s, n)) or not _is_server_header(
                _ascii(s, n, line)
            ):
                if not self._open:
                    reason = "blank line" if _all_space(s, n) else "text outside an entry"
                    self.rejects.append(Reject(no, reason, _ascii(s, n, line)))
                else:  # the statement's first line
                    self._phase = 2
                    self._qadd(s, n, True)
                return 0
            # A server header: it ends any open entry and is counted as a reject.
            self._server_header(_ascii(s, n, line), no)
            return 0

        # A "#" line: its header name is the text between "# " and the first ":".
        lim = n if n < 64 else 64
        for j in range(2, lim):
            if s[j] == 58:
                i = j
                break
        code = _head_code_ascii(s, i) if i > 0 else _OTHER
        if self._phase == 2:
            if code > _ADMIN:  # not a header that starts an entry: a comment in the SQL
                self._qadd(s, n, True)
                return 0
            self._emit(no - 1)
            self._open = False
            self._phase = 0
        if code <= _ADMIN:
            if self._open and code <= self._rank:  # e.g. a second User@Host: a new entry
                self._emit(no - 1)
                self._open = False
            if not self._open:
                self._new_entry(no)
            if code == _UH:
                self._rank = _UH
                if not _same_bytes(self._uh_line, s, n):
                    line = _ascii(s, n, line)
                    u = self._uhcache.get(line)
                    if u is None or (<tuple>u)[3] is not None:
                        u = self._user_host(line)
                        if (<tuple>u)[3] is not None:  # its extra fields: not remembered
                            return 0
                    self._uh_line = PyBytes_FromStringAndSize(s, n)
                    self._uh_value = u
                u = self._uh_value  # the last User@Host line again: its parsed values
                self._c_user = (<tuple>u)[0]
                self._c_host = (<tuple>u)[1]
                if (<tuple>u)[2] is not None:
                    self._c_session = (<tuple>u)[2]
            elif code == _QT:
                self._rank = _QT
                if not self._query_time_ascii(s, n, line):
                    self._query_time(_ascii(s, n, line))
            elif code == _THREAD:
                self._rank = _THREAD
                if _same_bytes(self._thread_line, s, n):
                    self._thread(self._thread_session, self._thread_db, self._thread_qc)
                elif _match_thread(s, n, g):
                    self._thread_line = PyBytes_FromStringAndSize(s, n)
                    self._thread_session = _ascii(s + g[0], g[1] - g[0], None)
                    self._thread_db = _ascii(s + g[2], g[3] - g[2], None)
                    self._thread_qc = _ascii(s + g[4], g[5] - g[4], None)
                    self._thread(self._thread_session, self._thread_db, self._thread_qc)
                else:
                    self._fields(_ascii(s, n, line))
            elif code == _TIME:
                self._rank = self._time_line(_ascii(s, n, line))
            else:  # "# administrator command: Quit;" is the entry's statement, and its end
                self._admin(_ascii(s, n, line), no)
            return 0
        if not self._open:
            if code == _OTHER:
                self.rejects.append(Reject(no, "comment outside an entry", _ascii(s, n, line)))
                return 0
            # Header fields with no entry start (e.g. a log cut mid-entry): open one.
            self._new_entry(no)
            self._rank = _QT
        if code == _RA:
            if _match_ra(s, n, g):
                self._int_at(I_ROWS_AFFECTED, s, g[0], g[1])
                self._int_at(I_BYTES_SENT, s, g[2], g[3])
                return 0
            code = _FIELDS
        if code == _FIELDS and n >= 2 and s[1] == 35:
            code = _OTHER  # "## …": the MariaDB 10.0 explain block
        if code <= _EXPLAIN or (n >= 2 and s[1] == 35):
            self._other_header(_ascii(s, n, line), code, i)
        # Anything else ("#", "# No InnoDB statistics available …") is consumed as is.
        return 0

    cdef int _line(self, str line, int64_t no) except -1:
        """One line that is not ASCII, on its ``str``: ``_ascii_line``'s steps with Python's
        string operations (and the regexes where that one matches in C)."""
        cdef Py_ssize_t n = len(line), i = -1, j, lim
        cdef Py_UCS4 c = line[0] if n else 0
        cdef int code
        cdef object u, m
        if c != u"#":
            if self._phase == 2:  # statement text, unless a server header interrupts it
                if (c != u"T" and not _ends_srv(line, n)) or not _is_server_header(line):
                    self._qadd_str(line)
                    return 0
            elif (
                c == u"S"
                and line.startswith(_SET_META)
                and (not self._open or not self._has_set_ts)
            ):
                if not self._open:  # no headers (e.g. a log cut mid-entry): still an entry
                    self._new_entry(no)
                    self._rank = _QT
                if line[4] == u"t" and line[n - 1] == u";":  # the usual "SET timestamp=N;"
                    self._set_timestamp(line)
                else:
                    self._set_line(line)
                return 0
            elif (
                c == u"u"
                and line.startswith("use ")
                and (not self._open or self._use is None)
            ):
                if not self._open:
                    self._new_entry(no)
                    self._rank = _QT
                self._use = _use_db(line)
                return 0
            elif (c != u"T" and not _ends_srv(line, n)) or not _is_server_header(line):
                if not self._open:
                    reason = "text outside an entry" if line.strip() else "blank line"
                    self.rejects.append(Reject(no, reason, line))
                else:  # the statement's first line
                    self._phase = 2
                    self._qadd_str(line)
                return 0
            self._server_header(line, no)
            return 0

        lim = n if n < 64 else 64
        for j in range(2, lim):
            if line[j] == u":":
                i = j
                break
        code = _head_code(line, i) if i > 0 else _OTHER
        if self._phase == 2:
            if code > _ADMIN:
                self._qadd_str(line)
                return 0
            self._emit(no - 1)
            self._open = False
            self._phase = 0
        if code <= _ADMIN:
            if self._open and code <= self._rank:
                self._emit(no - 1)
                self._open = False
            if not self._open:
                self._new_entry(no)
            if code == _UH:
                self._rank = _UH
                u = self._uhcache.get(line)
                if u is None or (<tuple>u)[3] is not None:
                    self._user_host(line)
                else:
                    self._c_user = (<tuple>u)[0]
                    self._c_host = (<tuple>u)[1]
                    if (<tuple>u)[2] is not None:
                        self._c_session = (<tuple>u)[2]
            elif code == _QT:
                self._rank = _QT
                self._query_time(line)
            elif code == _THREAD:
                self._rank = _THREAD
                m = _thread_match(line)
                if m is None:
                    self._fields(line)
                else:
                    self._thread(m[1], m[2], m[3])
            elif code == _TIME:
                self._rank = self._time_line(line)
            else:
                self._admin(line, no)
            return 0
        if not self._open:
            if code == _OTHER:
                self.rejects.append(Reject(no, "comment outside an entry", line))
                return 0
            self._new_entry(no)
            self._rank = _QT
        if code == _RA:
            m = _ra_match(line)
            if m is not None:
                self._set_int(I_ROWS_AFFECTED, int(m[1]))
                self._set_int(I_BYTES_SENT, int(m[2]))
                return 0
            code = _FIELDS
        if code == _FIELDS and n >= 2 and line[1] == u"#":
            code = _OTHER
        self._other_header(line, code, i)
        return 0

    cdef int _server_header(self, str line, int64_t no) except -1:
        """A server header line: it ends any open entry and is counted as a reject."""
        if self._open:
            self._emit(no - 1)
            self._open = False
            self._phase = 0
        self._last_use = None
        self._last_time = None
        self.rejects.append(Reject(no, "server header", line))
        return 0

    cdef int _admin(self, str line, int64_t no) except -1:
        """``# administrator command: Quit;`` is the entry's statement, and its end."""
        q = line[2:].strip()
        self._c_admin = True
        self._c_query = q[:-1].rstrip() if q.endswith(";") else q
        self._emit(no)
        self._open = False
        self._phase = 0
        return 0

    cdef int _other_header(self, object line, int code, Py_ssize_t i) except -1:
        """The open entry's other ``#`` lines: field pairs, plan lines, an explain block."""
        cdef object f, ex
        if code <= _PLANF:  # _FIELDS or _PLANF (the only codes left below _EXPLAIN)
            f = self._fcache.get(line)
            if f is None:
                f = self._cache_fields(line)
            if (<tuple>f)[0]:
                for attr, value in (<tuple>f)[0]:
                    self._setattr(attr, value)
            ex = (<tuple>f)[1]
            if ex is not None:
                self._update_extra(ex)
            if code == _PLANF:
                self._plan.append((<tuple>f)[2])
        elif code == _EXPLAIN:
            self._plan.append(line[i + 1 :].strip(" \r"))
        elif len(line) >= 2 and line[1] == u"#":  # MariaDB 10.0 "## <explain> … ## </explain>"
            text = line[2:].strip()
            if text and text != "<explain>" and text != "</explain>":
                self._plan.append(text)
        # Anything else ("#", "# No InnoDB statistics available …") is consumed as is.
        return 0

    def finish(self) -> None:
        if self._open:
            self._emit(self._last_no)
        self._open = False
        self._phase = 0
        self._rank = -1
        self._qlen = self._qn = 0
        self._qascii = True
        self._plan, self._use, self._has_set_ts = [], None, False

    def settle(self, before_line: int) -> None:
        """An entry in its statement (phase 2) begun before ``before_line`` is complete: only
        more statement text could follow, and the server writes an entry in one go."""
        if self._open and self._phase == 2 and self._c_line_start < before_line:
            self.finish()

    # -- per line helpers ----------------------------------------------------------------------

    cdef int _set_timestamp_ascii(self, const char* s, Py_ssize_t n, object line) except -1:
        """``_set_timestamp`` of an ASCII line, with the usual number read in C."""
        cdef double v
        if _plain_float(s, 14, n - 1, &v):
            self._set_ts = v
            self._has_set_ts = True
            return 0
        return self._set_timestamp(_ascii(s, n, line))

    cdef int _set_timestamp(self, str line) except -1:
        """``set_ts = float(line[14:-1])``, else ``_set_line`` (the Python parser's order)."""
        try:
            self._set_ts = float(line[14:-1])
            self._has_set_ts = True
        except ValueError:
            self._set_line(line)
        return 0

    cdef int _thread(self, object session, object db, object qc_hit) except -1:
        """A MariaDB ``# Thread_id: N  Schema: db  QC_hit: X`` line's three values."""
        self._c_session = session
        self._c_db = db
        if self._c_extra is None:
            self._c_qc = qc_hit
        else:
            self._c_extra["QC_hit"] = qc_hit
        return 0

    cdef bint _query_time_ascii(self, const char* s, Py_ssize_t n, object line) except -1:
        """The ``line.split()`` fast path of an ASCII ``# Query_time:`` line, with the split
        done in C. False (nothing done) when the line does not have the usual shape."""
        cdef Py_ssize_t a[10]
        cdef Py_ssize_t b[10]
        cdef Py_ssize_t pos = 0
        cdef int nt = 0
        cdef double d
        while nt < 10:
            pos = _skip_space(s, pos, n)
            if pos >= n:
                break
            a[nt] = pos
            pos = _skip_word(s, pos, n)
            b[nt] = pos
            nt += 1
        if not (
            nt >= 9
            and _token_is(s, a[3], b[3], b"Lock_time:", 10)
            and _token_is(s, a[5], b[5], b"Rows_sent:", 10)
            and _token_is(s, a[7], b[7], b"Rows_examined:", 14)
        ):
            return False
        try:
            if _plain_float(s, a[2], b[2], &d):
                self._c_f64[F_DURATION] = d * 1000.0
            else:
                self._c_f64[F_DURATION] = float(_ascii(s + a[2], b[2] - a[2], None)) * 1000.0
            self._c_f64_ok[F_DURATION] = True
            if _plain_float(s, a[4], b[4], &d):
                self._c_f64[F_LOCK] = d * 1000.0
            else:
                self._c_f64[F_LOCK] = float(_ascii(s + a[4], b[4] - a[4], None)) * 1000.0
            self._c_f64_ok[F_LOCK] = True
            self._int_at(I_ROWS_SENT, s, a[6], b[6])
            self._int_at(I_ROWS_EXAMINED, s, a[8], b[8])
        except ValueError:
            self._fields(_ascii(s, n, line))
        else:
            if nt > 9:  # " ".join(p[9:]): the rest of the line, single-spaced
                self._fields(" ".join(_ascii(s + a[9], n - a[9], None).split()))
        return True

    cdef int _query_time(self, str line) except -1:
        """The Python parser's ``# Query_time:`` code as is (non-ASCII or unusual lines)."""
        p = line.split()
        if (
            len(p) >= 9
            and p[3] == "Lock_time:"
            and p[5] == "Rows_sent:"
            and p[7] == "Rows_examined:"
        ):
            try:
                self._c_f64[F_DURATION] = float(p[2]) * 1000.0
                self._c_f64_ok[F_DURATION] = True
                self._c_f64[F_LOCK] = float(p[4]) * 1000.0
                self._c_f64_ok[F_LOCK] = True
                self._set_int(I_ROWS_SENT, int(p[6]))
                self._set_int(I_ROWS_EXAMINED, int(p[8]))
            except ValueError:
                self._fields(line)
            else:
                if len(p) > 9:
                    self._fields(" ".join(p[9:]))
        else:
            self._fields(line)
        return 0

    # -- per entry / per distinct text helpers: MySQLSlowParser's, on the open entry -----------

    cdef int _emit(self, int64_t end_no) except -1:
        """Append the open entry to the columns (``MySQLSlowParser._emit`` + ``to_arrow``)."""
        cdef Py_ssize_t k = self._n
        cdef int f
        cdef object ts
        if k == self._cap:
            self._grow()
        self._line_start[k] = self._c_line_start
        self._n_lines[k] = <int32_t>(end_no - self._c_line_start + 1)
        if self._c_admin:
            self._kind.add(_KIND_ADMIN, len(_KIND_ADMIN))
        else:
            self._kind.add(_KIND_QUERY, len(_KIND_QUERY))
        if self._qn == 0:
            self._query.add_str(self._c_query)
        elif self._qascii:
            self._ascii_query()
        else:  # "\n".join(lines).strip(), then one ";" and rstrip(), in Python
            q = PyUnicode_DecodeUTF8(self._q, self._qlen, NULL).strip()
            if q[-1:] == ";":
                q = q[:-1].rstrip()
            self._query.add_str(q or None)
        self._planc.add_str("\n".join(self._plan) if self._plan else None)
        db = self._c_db
        if self._use is not None:
            db = self._use
            self._last_use = self._use
        elif db is None:
            db = self._last_use
        elif not db:
            db = None  # "Schema:" present but empty
        self._db.add_str(db)
        self._session.add_str(self._c_session)
        self._user.add_str(self._c_user)
        self._host.add_str(self._c_host)
        if self._c_qc is not None:  # {"QC_hit": X} alone
            if self._c_qc is not self._qc_last and self._c_qc != self._qc_last:
                self._qc_json = _extra_json({"QC_hit": self._c_qc}).encode()
            self._qc_last = self._c_qc
            self._extra.add(<const char*>self._qc_json, len(self._qc_json))
        else:
            self._extra.add_json_object(self._c_extra)  # NULL when None or empty
        if self._has_set_ts:
            self._c_f64[F_TS] = self._set_ts
            self._c_f64_ok[F_TS] = True
        elif self._last_time is not None:
            raw = self._last_time
            tc = self._tcache
            ts = tc.get(raw, -1.0)
            if ts == -1.0:
                if len(tc) >= _CACHE_MAX:
                    tc.clear()
                ts = tc[raw] = _time_to_epoch(raw)
            self._c_f64_ok[F_TS] = ts is not None
            if ts is not None:
                self._c_f64[F_TS] = ts
        for f in range(N_FLOATS):
            self._f64[f][k] = self._c_f64[f] if self._c_f64_ok[f] else 0.0
            self._f64_ok[f][k] = self._c_f64_ok[f]
        for f in range(N_INTS):
            self._i64[f][k] = self._c_i64[f] if self._c_i64_ok[f] else 0
            self._i64_ok[f][k] = self._c_i64_ok[f]
        self._n = k + 1
        return 0

    cdef int _ascii_query(self) except -1:
        """The ASCII statement stripped in C as ``_emit`` strips it (``strip()``, then one ``;``
        and ``rstrip()``), straight into the column."""
        cdef const char* s = self._q
        cdef Py_ssize_t a = 0, b = self._qlen
        while a < b and _space(s[a]):
            a += 1
        while b > a and _space(s[b - 1]):
            b -= 1
        if b > a and s[b - 1] == 59:  # ";"
            b -= 1
            while b > a and _space(s[b - 1]):
                b -= 1
        if b > a:
            self._query.add(s + a, b - a)
        else:
            self._query.add_null()
        return 0

    cdef int _qadd(self, const char* s, Py_ssize_t n, bint ascii) except -1:
        """Append one statement line (UTF-8) to the open entry's text."""
        cdef Py_ssize_t need = self._qlen + n + 1
        if need > self._qcap:
            self._qcap = max(need, 2 * self._qcap, 4096)
            self._q = <char*>_realloc(self._q, self._qcap)
        if self._qn:
            self._q[self._qlen] = 10
            self._qlen += 1
        memcpy(self._q + self._qlen, s, n)
        self._qlen += n
        self._qn += 1
        if not ascii:
            self._qascii = False
        return 0

    cdef int _qadd_str(self, str line) except -1:
        cdef Py_ssize_t size
        cdef const char* text
        if PyUnicode_IS_COMPACT_ASCII(line):
            return self._qadd(<const char*>PyUnicode_DATA(line), PyUnicode_GET_LENGTH(line), True)
        text = PyUnicode_AsUTF8AndSize(line, &size)
        return self._qadd(text, size, False)

    cdef int _grow(self) except -1:
        cdef Py_ssize_t cap = self._cap * 2 if self._cap else 4096
        cdef int f
        self._line_start = <int64_t*>_realloc(self._line_start, cap * 8)
        self._n_lines = <int32_t*>_realloc(self._n_lines, cap * 4)
        for f in range(N_FLOATS):
            self._f64[f] = <double*>_realloc(self._f64[f], cap * 8)
            self._f64_ok[f] = <uint8_t*>_realloc(self._f64_ok[f], cap)
        for f in range(N_INTS):
            self._i64[f] = <int64_t*>_realloc(self._i64[f], cap * 8)
            self._i64_ok[f] = <uint8_t*>_realloc(self._i64_ok[f], cap)
        self._cap = cap
        return 0

    cdef object _cache_fields(self, str text):
        """Parse ``text``'s pairs (and its plan text) and cache them by text."""
        specials, extra = _parse_fields(text)
        f = (specials, extra, text[2:].strip())
        if len(text) <= _CACHE_LINE_MAX:
            fc = self._fcache
            if len(fc) >= _CACHE_MAX:
                fc.clear()
            fc[text] = f
        return f

    cdef int _fields(self, str text) except -1:
        """Apply the ``Name: value`` pairs of ``text`` to the open entry (cached per text)."""
        f = self._fcache.get(text)
        if f is None:
            f = self._cache_fields(text)
        for attr, value in (<tuple>f)[0]:
            self._setattr(attr, value)
        ex = (<tuple>f)[1]
        if ex is not None:
            self._update_extra(ex)
        return 0

    cdef tuple _user_host(self, str line):
        """Apply a ``# User@Host:`` line (parsed once per text); returns its parsed values."""
        uc = self._uhcache
        u = uc.get(line)
        if u is None:
            u = _parse_uh(line)
            if len(uc) >= _CACHE_MAX:
                uc.clear()
            uc[line] = u
        self._c_user, self._c_host = u[0], u[1]
        if u[2] is not None:
            self._c_session = u[2]
        if u[3] is not None:
            self._own_extra()
            self._c_extra = {**(self._c_extra or {}), **u[3]}
        return u

    cdef int _time_line(self, str line) except -1:
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
                self._user_host(seg)
                rank = max(rank, _UH)
            else:
                self._fields(seg)
                rank = max(rank, _THREAD)
        return rank

    cdef int _set_line(self, str line) except -1:
        """``SET [last_insert_id=N,][insert_id=N,]timestamp=N;`` → the timestamp; ids → extra."""
        s = line.rstrip()
        if s.endswith(";"):
            s = s[:-1]
        ts = None
        for part in s[4:].split(","):
            name, _, value = part.partition("=")
            name = name.strip()
            if name == "timestamp":
                try:
                    ts = float(value)
                except ValueError:
                    pass
            elif name:
                self._own_extra()
                if self._c_extra is None:
                    self._c_extra = {}
                self._c_extra[name] = value.strip()
        self._has_set_ts = ts is not None
        if ts is not None:
            self._set_ts = ts
        return 0

    # -- the columns ---------------------------------------------------------------------------

    def take_table(self, first_entry_no: int) -> pa.Table:
        """The finished entries as ``writer.to_arrow`` would build them from the Python parser's
        entries (same columns, types, nulls and ``extra`` key order), numbered from
        ``first_entry_no``; the columns start empty again.

        Like ``pa.array`` in ``to_arrow``, text beyond what int32 offsets can address (2 GiB in
        one column) continues in another chunk: the rows are cut into tables whose every string
        column fits, and those are concatenated."""
        cdef Py_ssize_t n = self._n, start = 0, k
        cdef list cuts = [0]
        if self._too_big(0, n):
            for k in range(1, n + 1):
                if k - 1 > start and self._too_big(start, k):
                    cuts.append(k - 1)
                    start = k - 1
        cuts.append(n)
        tables = [
            self._table(cuts[k], cuts[k + 1], first_entry_no + cuts[k])
            for k in range(len(cuts) - 1)
        ]
        self._n = 0
        for col in self._texts():
            (<_Text>col).clear()
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    cdef tuple _texts(self):
        return (
            self._kind,
            self._session,
            self._user,
            self._db,
            self._host,
            self._query,
            self._planc,
            self._extra,
        )

    cdef bint _too_big(self, Py_ssize_t a, Py_ssize_t b) except -1:
        """Whether some string column's text in rows ``a:b`` exceeds one chunk."""
        for col in self._texts():
            if (<_Text>col).bytes(a, b) > self._text_limit:
                return True
        return False

    cdef object _table(self, Py_ssize_t a, Py_ssize_t b, int64_t first):
        """Rows ``a:b`` as a table, numbered from ``first``."""
        cdef Py_ssize_t n = b - a, k
        cdef int64_t* numbers
        nbuf = _new_buffer(n * 8, <char**>&numbers, False)
        for k in range(n):
            numbers[k] = first + k
        mine = {
            "line_start": _fixed_array(_I64, <char*>self._line_start, 8, NULL, a, b),
            "n_lines": _fixed_array(pa.int32(), <char*>self._n_lines, 4, NULL, a, b),
            "kind": self._kind.array(a, b),
            "session": self._session.array(a, b),
            "user": self._user.array(a, b),
            "db": self._db.array(a, b),
            "host": self._host.array(a, b),
            "query": self._query.array(a, b),
            "plan": self._planc.array(a, b),
        }
        for k in range(N_FLOATS):
            mine[_FLOAT_ATTRS[k]] = _fixed_array(
                pa.float64(), <char*>self._f64[k], 8, self._f64_ok[k], a, b
            )
        for k in range(N_INTS):
            mine[_INT_ATTRS[k]] = _fixed_array(_I64, <char*>self._i64[k], 8, self._i64_ok[k], a, b)
        arrays = {"entry_no": pa.Array.from_buffers(_I64, n, [None, nbuf], null_count=0)}
        for attr, col, typ in _COLUMNS:
            # The attributes this parser never sets (PostgreSQL ones) are all NULL.
            array = mine.get(attr)
            arrays[col] = _null_array(typ, n) if array is None else array
        arrays["extra"] = self._extra.array(a, b)
        return pa.table(arrays)
