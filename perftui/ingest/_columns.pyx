"""Column buffers shared by the compiled parsers (declarations and inline helpers: ``_columns.pxd``)."""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Next
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport int32_t, int64_t, uint8_t, uintptr_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy, memset


cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)


import pyarrow as pa

cdef object _STR = pa.string()
cdef int64_t _I32_MAX = 2147483647
cdef const char* _HEX = b"0123456789abcdef"


cdef void* grow(void* p, size_t size) except NULL:
    """``realloc`` that raises MemoryError instead of returning NULL."""
    cdef void* q = realloc(p, size)
    if q == NULL:
        raise MemoryError()
    return q


cdef object new_buffer(Py_ssize_t size, char** data, bint zeroed):
    """An Arrow-allocated buffer (aligned, counted in Arrow's memory pool)."""
    buf = pa.allocate_buffer(size)
    data[0] = <char*><uintptr_t>buf.address
    if zeroed and size:
        memset(data[0], 0, size)
    return buf


cdef Py_ssize_t count_nulls(const uint8_t* ok, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i, count = 0
    for i in range(n):
        if not ok[i]:
            count += 1
    return count


cdef object bitmap(const uint8_t* ok, Py_ssize_t n):
    """Arrow validity bitmap of one-byte flags; None when nothing is null."""
    cdef Py_ssize_t i
    cdef char* bits
    if count_nulls(ok, n) == 0:
        return None
    buf = new_buffer((n + 7) // 8, &bits, True)
    for i in range(n):
        if ok[i]:
            bits[i >> 3] |= <char>(1 << (i & 7))
    return buf


cdef object bitmap_rows(const uint8_t* ok, const int64_t* rows, Py_ssize_t n, Py_ssize_t* nulls):
    """Arrow validity bitmap of the one-byte flags of ``rows``; None when nothing is null."""
    cdef Py_ssize_t i, count = 0
    cdef char* bits
    for i in range(n):
        if not ok[rows[i]]:
            count += 1
    nulls[0] = count
    if count == 0:
        return None
    buf = new_buffer((n + 7) // 8, &bits, True)
    for i in range(n):
        if ok[rows[i]]:
            bits[i >> 3] |= <char>(1 << (i & 7))
    return buf


cdef object fixed_array(object typ, const char* values, Py_ssize_t width, const uint8_t* ok, Py_ssize_t a, Py_ssize_t b):
    """Rows ``a:b`` of an int / float column of ``width``-byte values (``ok`` NULL: no nulls)."""
    cdef char* data
    cdef Py_ssize_t n = b - a
    buf = new_buffer(n * width, &data, False)
    if n:
        memcpy(data, values + a * width, n * width)
    if ok == NULL:
        return pa.Array.from_buffers(typ, n, [None, buf], null_count=0)
    return pa.Array.from_buffers(typ, n, [bitmap(ok + a, n), buf], null_count=count_nulls(ok + a, n))


cdef dict _null_arrays = {}


cdef object null_array(object typ, Py_ssize_t n):
    """``pa.nulls(n, typ)`` as a slice of one all-null array per type, kept for reuse: a
    parser's columns that its format never fills need no fresh zeroed buffers per batch (they
    were most of the slow-log parser's page faults)."""
    cdef object whole = _null_arrays.get(typ)
    if whole is None or len(whole) < n:
        whole = _null_arrays[typ] = pa.nulls(max(n, 1 << 17), typ)
    return whole.slice(0, n)


cdef bint _same_items(dict a, dict b) except -1:
    """The same keys and values in the same order (JSON text depends on the order); str keys
    and values of the same type, so only what add_json_object accepted is matched (and no
    user ``__eq__`` runs while the borrowed items are in use)."""
    cdef Py_ssize_t i = 0, j = 0
    cdef PyObject* ka
    cdef PyObject* va
    cdef PyObject* kb
    cdef PyObject* vb
    if len(a) != len(b):
        return False
    while PyDict_Next(a, &i, &ka, &va):
        if not PyDict_Next(b, &j, &kb, &vb):
            return False
        if type(<object>ka) is not str or (ka != kb and not (<object>ka == <object>kb)):
            return False  # a key that is not a str goes the checked way (TypeError)
        if va != vb and (type(<object>va) is not type(<object>vb) or not (<object>va == <object>vb)):
            return False
    return True


cdef class Text:
    """A string column being filled: the values' UTF-8 back to back, int64 offsets, one validity
    byte per value. Text is copied in as entries finish, so no str has to live until
    ``take_table``; Arrow's int32 offsets are made per table (the parsers cut tables so that
    each fits them)."""

    def __cinit__(self) -> None:
        self.offsets = <int64_t*>grow(NULL, 8)
        self.offsets[0] = 0

    def __dealloc__(self) -> None:
        free(self.data)
        free(self.offsets)
        free(self.ok)

    cdef int _value(self) except -1:
        """Room for one more value."""
        if self.n == self.ncap:
            self.ncap = self.ncap * 2 if self.ncap else 1024
            self.offsets = <int64_t*>grow(self.offsets, (self.ncap + 1) * 8)
            self.ok = <uint8_t*>grow(self.ok, self.ncap)
        return 0

    cdef int add(self, const char* text, Py_ssize_t size) except -1:
        self._value()
        if self.size + size > self.cap:
            self.cap = max(self.cap * 2, self.size + size, 65536)
            self.data = <char*>grow(self.data, self.cap)
        memcpy(self.data + self.size, text, size)
        self.size += size
        self.ok[self.n] = True
        self.n += 1
        self.offsets[self.n] = self.size
        return 0

    cdef int add_null(self) except -1:
        self._value()
        self.ok[self.n] = False
        self.n += 1
        self.offsets[self.n] = self.size
        return 0

    cdef int add_str(self, object value) except -1:
        """A str (its UTF-8) or None (NULL)."""
        cdef Py_ssize_t size
        cdef const char* text
        if value is None:
            return self.add_null()
        if type(value) is not str:
            raise TypeError(f"string column value {value!r} is not a str")
        if PyUnicode_IS_COMPACT_ASCII(value):
            return self.add(<const char*>PyUnicode_DATA(value), PyUnicode_GET_LENGTH(value))
        text = PyUnicode_AsUTF8AndSize(value, &size)
        return self.add(text, size)

    cdef int add_json_object(self, object d) except -1:
        """A dict of str to str-or-None as the JSON text ``json.dumps(d, ensure_ascii=False,
        separators=(",", ":"))`` gives, byte for byte; None or empty is NULL.

        Entries of one log carry few distinct objects (a slow log's ``{"QC_hit":"No"}`` on
        every entry): an object with the same items in the same order as the last one gets
        the last one's JSON again."""
        cdef bint first = True
        cdef int64_t start = self.size
        if not d:
            return self.add_null()
        if self.memo is not None and _same_items(<dict?>d, self.memo):
            return self.add(<const char*>self.memo_json, len(self.memo_json))
        self._value()
        try:
            self._put("{", 1)
            for key, value in (<dict?>d).items():
                if not first:
                    self._put(",", 1)
                first = False
                self._put_json_string(key)
                self._put(":", 1)
                if value is None:
                    self._put("null", 4)
                else:
                    self._put_json_string(value)
            self._put("}", 1)
        except BaseException:
            self.size = start  # no half-written object before the next value
            raise
        self.memo = dict(d)  # a copy: the caller's dict may change after this
        self.memo_json = PyBytes_FromStringAndSize(self.data + start, self.size - start)
        self.ok[self.n] = True
        self.n += 1
        self.offsets[self.n] = self.size
        return 0

    cdef int _put(self, const char* text, Py_ssize_t size) except -1:
        """Append bytes to the value being built (``add_json_object``)."""
        if self.size + size > self.cap:
            self.cap = max(self.cap * 2, self.size + size, 65536)
            self.data = <char*>grow(self.data, self.cap)
        memcpy(self.data + self.size, text, size)
        self.size += size
        return 0

    cdef int _put_json_string(self, object value) except -1:
        """A str as a JSON string: json's escapes for quote, backslash and control characters
        (``\\u00XX`` in lower-case hex for those without a short form), UTF-8 otherwise."""
        cdef Py_ssize_t size, i, start = 0
        cdef const unsigned char* text
        cdef unsigned char c
        cdef char esc[6]
        if type(value) is not str:
            raise TypeError(f"extra value {value!r} is not a str")
        text = <const unsigned char*>PyUnicode_AsUTF8AndSize(value, &size)
        self._put("\"", 1)
        for i in range(size):
            c = text[i]
            if c >= 0x20 and c != 34 and c != 92:
                continue
            if i > start:
                self._put(<const char*>text + start, i - start)
            start = i + 1
            esc[0] = 92
            if c == 34 or c == 92:
                esc[1] = c
                self._put(esc, 2)
            elif c == 10 or c == 13 or c == 9 or c == 8 or c == 12:
                esc[1] = b"n"[0] if c == 10 else b"r"[0] if c == 13 else b"t"[0] if c == 9 else (
                    b"b"[0] if c == 8 else b"f"[0])
                self._put(esc, 2)
            else:
                esc[1] = b"u"[0]
                esc[2] = b"0"[0]
                esc[3] = b"0"[0]
                esc[4] = _HEX[c >> 4]
                esc[5] = _HEX[c & 15]
                self._put(esc, 6)
        if size > start:
            self._put(<const char*>text + start, size - start)
        self._put("\"", 1)
        return 0

    cdef int64_t length(self, int64_t i) noexcept:
        """Bytes of value ``i``."""
        return self.offsets[i + 1] - self.offsets[i]

    cdef int64_t bytes(self, Py_ssize_t a, Py_ssize_t b) noexcept:
        """Bytes of values ``a:b``."""
        return self.offsets[b] - self.offsets[a]

    cdef object array(self, Py_ssize_t a, Py_ssize_t b):
        """Values ``a:b`` as a ``pa.string()`` array (their text must fit int32 offsets)."""
        cdef Py_ssize_t n = b - a, i
        cdef int64_t base = self.offsets[a], size = self.offsets[b] - base
        cdef int32_t* offsets
        cdef char* data
        if size > _I32_MAX:  # one value this long: pa.array cannot store it either
            raise OverflowError(f"a string of {size} bytes does not fit an Arrow string column")
        obuf = new_buffer((n + 1) * 4, <char**>&offsets, False)
        for i in range(n + 1):
            offsets[i] = <int32_t>(self.offsets[a + i] - base)
        dbuf = new_buffer(size, &data, False)
        if size:
            memcpy(data, self.data + base, size)
        return pa.Array.from_buffers(
            _STR, n, [bitmap(self.ok + a, n), obuf, dbuf], null_count=count_nulls(self.ok + a, n)
        )

    cdef object array_rows(self, const int64_t* rows, Py_ssize_t n):
        """Values ``rows[0:n]``, in that order, as a ``pa.string()`` array (their text must fit
        int32 offsets: the caller cuts the rows so that it does)."""
        cdef Py_ssize_t i, nulls
        cdef int64_t size = 0, pos = 0, r, length
        cdef int32_t* offsets
        cdef char* data
        for i in range(n):
            size += self.length(rows[i])
        if size > _I32_MAX:  # one value this long: pa.array cannot store it either
            raise OverflowError(f"a string of {size} bytes does not fit an Arrow string column")
        obuf = new_buffer((n + 1) * 4, <char**>&offsets, False)
        dbuf = new_buffer(size, &data, False)
        offsets[0] = 0
        for i in range(n):
            r = rows[i]
            length = self.offsets[r + 1] - self.offsets[r]
            if length:
                memcpy(data + pos, self.data + self.offsets[r], length)
            pos += length
            offsets[i + 1] = <int32_t>pos
        valid = bitmap_rows(self.ok, rows, n, &nulls)
        return pa.Array.from_buffers(_STR, n, [valid, obuf, dbuf], null_count=nulls)

    cdef void clear(self) noexcept:
        self.n = 0
        self.size = 0


def plain_float_value(bytes text) -> float | None:
    """``plain_float`` for the tests: the value, or None where it declines the text."""
    cdef double out = 0.0
    return out if plain_float(text, 0, len(text), &out) else None


def json_texts(list objects) -> list:
    """What ``add_json_object`` stores for each object in turn, for the tests."""
    cdef Text t = Text()
    for d in objects:
        t.add_json_object(d)
    return t.array(0, t.n).to_pylist()
