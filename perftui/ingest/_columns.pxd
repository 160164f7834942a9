"""Column buffers shared by the compiled parsers (``_mysql_slow_fast``, ``_postgres_stderr_fast``):
entries' values are written into C buffers as they finish and handed to Arrow as arrays, so no
``Entry`` or ``str`` per value has to live until ``take_table``. The per-character helpers are
inline here so that both parsers' hot loops compile them in place."""

from cpython.conversion cimport PyOS_string_to_double
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memcmp, memcpy


cdef inline bint is_space(unsigned char c) noexcept nogil:
    """``str.isspace`` / regex ``\\s`` for an ASCII character (what ``str.strip()`` removes)."""
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31


cdef inline bint is_digit(unsigned char c) noexcept nogil:
    return 48 <= c <= 57


cdef inline bint has_at(const char* s, Py_ssize_t pos, Py_ssize_t n, const char* lit, Py_ssize_t k) noexcept nogil:
    """``s[pos:pos + k] == lit`` within ``n`` bytes."""
    return pos + k <= n and memcmp(s + pos, lit, k) == 0


cdef extern from *:
    """
    /* Exact powers of ten: a double holds 10**k exactly up to k = 22. */
    static const double perftui_pow10[23] = {
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    };
    """
    const double* perftui_pow10


cdef inline bint plain_float(const char* s, Py_ssize_t a, Py_ssize_t b, double* out) except -1:
    """Digits with at most one ``.``: the value ``float()`` gives. False for any other text:
    ``float()`` then.

    Most logged numbers (``0.000123``, ``12.345``) have at most 15 significant digits: their
    digits are an exact integer and 10**fraction digits an exact double, and one IEEE division
    of two exact values is correctly rounded, as ``float()`` is (Clinger's fast path). Longer
    ones go to ``PyOS_string_to_double``, the function ``float()`` uses; it also sets the x87
    control word twice per call, which was 7.5 % of the slow-log parser's thread."""
    cdef char buf[64]
    cdef Py_ssize_t k
    cdef bint dot = False, digits = False
    cdef unsigned long long mantissa = 0, grown
    cdef int scale = 0
    cdef bint exact = True
    if b <= a or b - a >= 64:
        return False
    for k in range(a, b):
        if is_digit(s[k]):
            digits = True
            if exact:
                grown = mantissa * 10 + <unsigned long long>(s[k] - 48)
                if grown > 9007199254740992ULL:  # 2**53: past it, not every integer is exact
                    exact = False
                else:
                    mantissa = grown
                    scale += dot
        elif s[k] == 46 and not dot:
            dot = True
        else:
            return False
    if not digits:
        return False
    if exact and scale <= 22:
        out[0] = <double>mantissa / perftui_pow10[scale]
        return True
    memcpy(buf, s + a, b - a)
    buf[b - a] = 0
    out[0] = PyOS_string_to_double(buf, NULL, NULL)
    return True


cdef void* grow(void* p, size_t size) except NULL
cdef object new_buffer(Py_ssize_t size, char** data, bint zeroed)
cdef Py_ssize_t count_nulls(const uint8_t* ok, Py_ssize_t n) noexcept
cdef object bitmap(const uint8_t* ok, Py_ssize_t n)
cdef object bitmap_rows(const uint8_t* ok, const int64_t* rows, Py_ssize_t n, Py_ssize_t* nulls)
cdef object null_array(object typ, Py_ssize_t n)
cdef object fixed_array(object typ, const char* values, Py_ssize_t width, const uint8_t* ok, Py_ssize_t a, Py_ssize_t b)


cdef class Text:
    cdef char* data
    cdef int64_t size, cap
    cdef int64_t* offsets
    cdef uint8_t* ok
    cdef Py_ssize_t n, ncap
    cdef dict memo  # the last object add_json_object wrote (a copy), and its JSON
    cdef bytes memo_json

    cdef int _value(self) except -1
    cdef int add(self, const char* text, Py_ssize_t size) except -1
    cdef int add_null(self) except -1
    cdef int add_str(self, object value) except -1
    cdef int add_json_object(self, object d) except -1
    cdef int _put(self, const char* text, Py_ssize_t size) except -1
    cdef int _put_json_string(self, object value) except -1
    cdef int64_t length(self, int64_t i) noexcept
    cdef int64_t bytes(self, Py_ssize_t a, Py_ssize_t b) noexcept
    cdef object array(self, Py_ssize_t a, Py_ssize_t b)
    cdef object array_rows(self, const int64_t* rows, Py_ssize_t n)
    cdef void clear(self) noexcept
