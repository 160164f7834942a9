# cython: boundscheck=False, wraparound=False, cdivision=True
"""The fingerprint and its attributes in one pass per step over each text, in C.

``fingerprint.fingerprint_sql`` is a chain of about twenty RE2 passes run by DuckDB; on a 1 GB
log its distinct texts (27-44 MB) took 2.5-4 s of the fingerprinting thread, 10 MB/s. This
module computes the same strings and numbers for the texts that need none of the chain's rare
steps, and declines the rest (None), which then take the SQL path:

- non-ASCII text or control characters other than tab, newline, form feed and carriage return;
- comments (``/*``, ``--``, MySQL's ``#``), backslashes, an unterminated quote;
- PostgreSQL dollar quoting (``$`` not followed by a digit);
- statements the fingerprint names specially (``CALL``, ``USE``, ``administrator command``).

Each step below mirrors one regular expression of ``fingerprint.py`` (quoted above it) with the
same leftmost-first semantics; tests compare both on the sample logs and on generated text.
"""

from libc.stdint cimport int64_t, uint8_t, uintptr_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

import pyarrow as pa


cdef inline bint is_word(uint8_t c) noexcept nogil:
    """RE2's ``\\w`` (ASCII): what ``\\b`` tests on both sides."""
    return (
        (c >= b'a' and c <= b'z') or (c >= b'A' and c <= b'Z') or (c >= b'0' and c <= b'9')
        or c == b'_'
    )


cdef inline bint is_space(uint8_t c) noexcept nogil:
    """RE2's ``\\s``: tab, newline, form feed, carriage return, space (no vertical tab)."""
    return c == b' ' or c == b'\t' or c == b'\n' or c == b'\f' or c == b'\r'


cdef inline bint is_digit(uint8_t c) noexcept nogil:
    return c >= b'0' and c <= b'9'


cdef inline uint8_t lower(uint8_t c) noexcept nogil:
    return c + 32 if c >= b'A' and c <= b'Z' else c


cdef inline bint word_at(const uint8_t* s, Py_ssize_t n, Py_ssize_t i, const char* w) noexcept nogil:
    """``w`` (lower case) at ``s[i:]``, ignoring case."""
    cdef Py_ssize_t k = 0
    while w[k]:
        if i + k >= n or lower(s[i + k]) != <uint8_t>w[k]:
            return False
        k += 1
    return True


cdef inline bint boundary_before(const uint8_t* s, Py_ssize_t i) noexcept nogil:
    """``\\b`` before a word character at ``i``."""
    return i == 0 or not is_word(s[i - 1])


cdef inline Py_ssize_t skip_space(const uint8_t* s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    while i < n and is_space(s[i]):
        i += 1
    return i


cdef inline Py_ssize_t skip_digits(const uint8_t* s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    while i < n and is_digit(s[i]):
        i += 1
    return i


cdef bint declined(const uint8_t* s, Py_ssize_t n, bint pg) noexcept nogil:
    """Text with any construct only the SQL chain handles (see the module docstring)."""
    cdef Py_ssize_t i
    cdef uint8_t c
    for i in range(n):
        c = s[i]
        if c >= 0x7f or (c < 0x20 and not is_space(c)) or c == b'\\':
            return True
        if c == b'/' and i + 1 < n and s[i + 1] == b'*':
            return True
        if c == b'-' and i + 1 < n and s[i + 1] == b'-':
            return True
        if c == b'#' and not pg:
            return True
        if c == b'$' and pg and not (i + 1 < n and is_digit(s[i + 1])):
            return True
    i = skip_space(s, n, 0)
    return (
        word_at(s, n, i, b"call") or word_at(s, n, i, b"use")
        or word_at(s, n, 0, b"administrator")
    )


cdef Py_ssize_t multi_row_end(const uint8_t* s, Py_ssize_t n) noexcept nogil:
    """Where the first tuple of a multi-row INSERT/REPLACE ends (else ``n``):
    ``(?is)^(\\s*(?:INSERT|REPLACE)(?:\\s+IGNORE)?\\s+INTO.+?VALUES\\s*\\(.*?\\))\\s*,\\s*\\(.*$``
    """
    cdef Py_ssize_t i = skip_space(s, n, 0), j, k, into = -1, v, c, r, t
    if word_at(s, n, i, b"insert"):
        i += 6
    elif word_at(s, n, i, b"replace"):
        i += 7
    else:
        return n
    # (?:\s+IGNORE)?\s+INTO: with IGNORE when it is there, else without.
    j = skip_space(s, n, i)
    if j > i and word_at(s, n, j, b"ignore"):
        k = skip_space(s, n, j + 6)
        if k > j + 6 and word_at(s, n, k, b"into"):
            into = k + 4
    if into < 0:
        if j > i and word_at(s, n, j, b"into"):
            into = j + 4
        else:
            return n
    # .+?VALUES\s*\( : the first VALUES (one character after INTO at least) followed by "(".
    # A later VALUES could only find fewer ")" after it, so the first one decides.
    v = into + 1
    c = -1
    while v + 6 <= n:
        if lower(s[v]) == b'v' and word_at(s, n, v, b"values"):
            t = skip_space(s, n, v + 6)
            if t < n and s[t] == b'(':
                c = t
                break
        v += 1
    if c < 0:
        return n
    # .*?\) followed by \s*,\s*\( : the first such ")".
    r = c + 1
    while r < n:
        if s[r] == b')':
            t = skip_space(s, n, r + 1)
            if t < n and s[t] == b',':
                t = skip_space(s, n, t + 1)
                if t < n and s[t] == b'(':
                    return r + 1
        r += 1
    return n


cdef Py_ssize_t literals(
    const uint8_t* s, Py_ssize_t n, uint8_t* out, bint pg
) noexcept nogil:
    """Each literal as ``?`` (-1 for an unterminated quote), then ``[xb.+-]\\?`` as ``?``:
    ``(?s)".*?"|'.*?'|(?i:\\bfalse\\b|\\btrue\\b)|\\$[0-9]+|\\b[0-9+-][0-9a-f.xb+-]*``
    (PostgreSQL: no ``"…"`` strings; its dollar quotes are declined before)."""
    cdef Py_ssize_t i = 0, o = 0, j
    cdef uint8_t c
    while i < n:
        c = s[i]
        if c == b'\'' or (c == b'"' and not pg):
            j = i + 1
            while j < n and s[j] != c:
                j += 1
            if j >= n:
                return -1
            out[o] = b'?'
            o += 1
            i = j + 1
            continue
        if (c == b'f' or c == b'F') and boundary_before(s, i) and word_at(s, n, i, b"false") and (
            i + 5 >= n or not is_word(s[i + 5])
        ):
            out[o] = b'?'
            o += 1
            i += 5
            continue
        if (c == b't' or c == b'T') and boundary_before(s, i) and word_at(s, n, i, b"true") and (
            i + 4 >= n or not is_word(s[i + 4])
        ):
            out[o] = b'?'
            o += 1
            i += 4
            continue
        if c == b'$' and i + 1 < n and is_digit(s[i + 1]):
            out[o] = b'?'
            o += 1
            i = skip_digits(s, n, i + 1)
            continue
        if (is_digit(c) and boundary_before(s, i)) or (
            (c == b'+' or c == b'-') and i > 0 and is_word(s[i - 1])
        ):
            i += 1
            while i < n and (
                is_digit(s[i]) or (s[i] >= b'a' and s[i] <= b'f') or s[i] == b'.'
                or s[i] == b'x' or s[i] == b'+' or s[i] == b'-'
            ):
                i += 1
            out[o] = b'?'
            o += 1
            continue
        out[o] = c
        o += 1
        i += 1
    # [xb.+-]\? -> ? (in place: the output never outruns the input)
    j = 0
    i = 0
    while i < o:
        c = out[i]
        if i + 1 < o and out[i + 1] == b'?' and (
            c == b'x' or c == b'b' or c == b'.' or c == b'+' or c == b'-'
        ):
            out[j] = b'?'
            i += 2
        else:
            out[j] = c
            i += 1
        j += 1
    return j


cdef Py_ssize_t fold(const uint8_t* s, Py_ssize_t n, uint8_t* out) noexcept nogil:
    """``lower(trim(regexp_replace(x, '[\\t\\n\\f\\r ]{2,}|[\\t\\n\\f\\r]', ' ')))``."""
    cdef Py_ssize_t i = skip_space(s, n, 0), o = 0
    while n > i and is_space(s[n - 1]):
        n -= 1
    while i < n:
        if is_space(s[i]):
            out[o] = b' '
            i = skip_space(s, n, i)
        else:
            out[o] = lower(s[i])
            i += 1
        o += 1
    return o


cdef Py_ssize_t nulls(const uint8_t* s, Py_ssize_t n, uint8_t* out) noexcept nogil:
    """``\\bnull\\b`` -> ``?``."""
    cdef Py_ssize_t i = 0, o = 0
    while i < n:
        if s[i] == b'n' and boundary_before(s, i) and word_at(s, n, i, b"null") and (
            i + 4 >= n or not is_word(s[i + 4])
        ):
            out[o] = b'?'
            i += 4
        else:
            out[o] = s[i]
            i += 1
        o += 1
    return o


cdef Py_ssize_t lists_end(const uint8_t* s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """End of ``(?:[\\s,]*\\([\\s?,]*\\))+`` from ``i``, or -1."""
    cdef Py_ssize_t end = -1, p
    while True:
        p = i
        while p < n and (is_space(s[p]) or s[p] == b','):
            p += 1
        if p >= n or s[p] != b'(':
            return end
        p += 1
        while p < n and (is_space(s[p]) or s[p] == b'?' or s[p] == b','):
            p += 1
        if p >= n or s[p] != b')':
            return end
        i = end = p + 1


cdef Py_ssize_t lists(const uint8_t* s, Py_ssize_t n, uint8_t* out) noexcept nogil:
    """``\\b(in|values?)(?:[\\s,]*\\([\\s?,]*\\))+`` -> ``\\1(?+)``."""
    cdef Py_ssize_t i = 0, o = 0, kw, end
    while i < n:
        end = -1
        kw = 0
        if (s[i] == b'i' or s[i] == b'v') and boundary_before(s, i):
            if word_at(s, n, i, b"in"):
                kw = 2
                end = lists_end(s, n, i + 2)
            elif word_at(s, n, i, b"value"):
                if i + 5 < n and s[i + 5] == b's':
                    kw = 6
                    end = lists_end(s, n, i + 6)
                if end < 0:
                    kw = 5
                    end = lists_end(s, n, i + 5)
        if end < 0:
            out[o] = s[i]
            o += 1
            i += 1
            continue
        memcpy(out + o, s + i, kw)
        memcpy(out + o + kw, b"(?+)", 4)
        o += kw + 4
        i = end
    return o


cdef Py_ssize_t first_limit(const uint8_t* s, Py_ssize_t n, uint8_t* out) noexcept nogil:
    """The first ``\\blimit \\?(?:, ?\\?| offset \\?)?`` -> ``limit ?``."""
    cdef Py_ssize_t i = 0, end = -1
    while i < n:
        if s[i] == b'l' and boundary_before(s, i) and word_at(s, n, i, b"limit ?"):
            end = i + 7
            if word_at(s, n, end, b", ?"):
                end += 3
            elif word_at(s, n, end, b",?"):
                end += 2
            elif word_at(s, n, end, b" offset ?"):
                end += 9
            break
        i += 1
    if end < 0:
        memcpy(out, s, n)
        return n
    memcpy(out, s, i + 7)
    memcpy(out + i + 7, s + end, n - end)
    return i + 7 + n - end


# --- attributes, read from the statement as logged --------------------------------------------

cdef Py_ssize_t word_starts(
    const uint8_t* s, Py_ssize_t n, Py_ssize_t* words
) noexcept nogil:
    """Where words starting with l, o or i (any case) begin: the only places ``\\blimit``,
    ``\\boffset`` and ``\\bin`` can match, so the attribute scans look there alone."""
    cdef Py_ssize_t i, nw = 0
    cdef uint8_t c
    for i in range(n):
        c = s[i] | 0x20
        if (c == b'l' or c == b'o' or c == b'i') and boundary_before(s, i) and is_word(s[i]):
            words[nw] = i
            nw += 1
    return nw


cdef bint number(const uint8_t* s, Py_ssize_t a, Py_ssize_t b, int64_t* value) noexcept nogil:
    """``TRY_CAST(digits AS BIGINT)``: False when it does not fit."""
    cdef int64_t v = 0
    cdef int d
    while a < b:
        d = s[a] - 48
        if v > (<int64_t>9223372036854775807 - d) // 10:
            return False
        v = v * 10 + d
        a += 1
    value[0] = v
    return True


cdef inline Py_ssize_t keyword_number(
    const uint8_t* s, Py_ssize_t n, Py_ssize_t i, const char* keyword, Py_ssize_t length,
    Py_ssize_t* digits
) noexcept nogil:
    """``keyword\\s+(\\d+)`` at a word start ``i``: the end of the digits (their start in
    ``digits``), or -1."""
    cdef Py_ssize_t p, q
    if not word_at(s, n, i, keyword):
        return -1
    p = skip_space(s, n, i + length)
    q = skip_digits(s, n, p)
    if p == i + length or q == p:
        return -1
    digits[0] = p
    return q


cdef inline bint comma_after(const uint8_t* s, Py_ssize_t n, Py_ssize_t q) noexcept nogil:
    """``\\s*,`` at ``q``."""
    q = skip_space(s, n, q)
    return q < n and s[q] == b','


cdef bint limit_value(
    const uint8_t* s, Py_ssize_t n, const Py_ssize_t* words, Py_ssize_t nw, int64_t* value
) noexcept nogil:
    """coalesce(first ``\\blimit\\s+\\d+\\s*,\\s*(\\d+)``, first ``\\blimit\\s+(\\d+)``)."""
    cdef Py_ssize_t k, p, q
    for k in range(nw):
        q = keyword_number(s, n, words[k], b"limit", 5, &p)
        if q >= 0 and comma_after(s, n, q):
            p = skip_space(s, n, skip_space(s, n, q) + 1)
            q = skip_digits(s, n, p)
            if q > p:
                if number(s, p, q, value):
                    return True
                break
    for k in range(nw):
        q = keyword_number(s, n, words[k], b"limit", 5, &p)
        if q >= 0:
            return number(s, p, q, value)
    return False


cdef bint offset_value(
    const uint8_t* s, Py_ssize_t n, const Py_ssize_t* words, Py_ssize_t nw, int64_t* value
) noexcept nogil:
    """coalesce(first ``\\boffset\\s+(\\d+)``, first ``\\blimit\\s+(\\d+)\\s*,``)."""
    cdef Py_ssize_t k, p, q
    for k in range(nw):
        q = keyword_number(s, n, words[k], b"offset", 6, &p)
        if q >= 0:
            if number(s, p, q, value):
                return True
            break
    for k in range(nw):
        q = keyword_number(s, n, words[k], b"limit", 5, &p)
        if q >= 0 and comma_after(s, n, q):
            return number(s, p, q, value)
    return False


cdef Py_ssize_t in_open(const uint8_t* s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """After ``\\bin\\s*\\(`` at ``i``, or -1."""
    if lower(s[i]) != b'i' or not (boundary_before(s, i) and word_at(s, n, i, b"in")):
        return -1
    i = skip_space(s, n, i + 2)
    return i + 1 if i < n and s[i] == b'(' else -1


cdef bint in_list_len(
    const uint8_t* s, Py_ssize_t n, const Py_ssize_t* words, Py_ssize_t nw, int64_t* value
) noexcept nogil:
    """Items of the first ``\\bin\\s*\\(([^()]*)\\)`` (1 when none) when some
    ``\\bin\\s*\\(\\s*[^()\\s]`` is there and no ``\\bin\\s*\\(\\s*select\\b``."""
    cdef Py_ssize_t i, k, p, q
    cdef bint listed = False
    cdef int64_t commas
    for k in range(nw):
        i = words[k]
        p = in_open(s, n, i)
        if p < 0:
            continue
        p = skip_space(s, n, p)
        if p < n and s[p] != b'(' and s[p] != b')':
            listed = True
        if word_at(s, n, p, b"select") and (p + 6 >= n or not is_word(s[p + 6])):
            return False
    if not listed:
        return False
    value[0] = 1
    for k in range(nw):
        i = words[k]
        p = in_open(s, n, i)
        if p < 0:
            continue
        commas = 0
        q = p
        while q < n and s[q] != b'(' and s[q] != b')':
            if s[q] == b',':
                commas += 1
            q += 1
        if q < n and s[q] == b')':
            value[0] = commas + 1
            break
    return True


cdef bint values_rows(const uint8_t* s, Py_ssize_t n, int64_t* value) noexcept nogil:
    """``len(regexp_extract_all(q, '\\)\\s*,\\s*\\(')) + 1`` when
    ``(?is)^\\s*(insert|replace)\\b.*\\bvalues?\\s*\\(`` matches."""
    cdef Py_ssize_t i = skip_space(s, n, 0), p
    cdef int64_t rows = 1
    cdef bint found = False
    if word_at(s, n, i, b"insert"):
        i += 6
    elif word_at(s, n, i, b"replace"):
        i += 7
    else:
        return False
    if i < n and is_word(s[i]):
        return False
    while i < n and not found:
        if lower(s[i]) == b'v' and boundary_before(s, i) and word_at(s, n, i, b"value"):
            p = skip_space(s, n, i + 5)
            if p < n and s[p] == b'(':
                found = True
            elif i + 5 < n and lower(s[i + 5]) == b's':
                p = skip_space(s, n, i + 6)
                found = p < n and s[p] == b'('
        i += 1
    if not found:
        return False
    i = 0
    while i < n:
        if s[i] == b')':
            p = skip_space(s, n, i + 1)
            if p < n and s[p] == b',':
                p = skip_space(s, n, p + 1)
                if p < n and s[p] == b'(':
                    rows += 1
                    i = p + 1
                    continue
        i += 1
    value[0] = rows
    return True


# --- the batch -------------------------------------------------------------------------------

cdef class _Column:
    """An int64 column with validity bytes, turned into an Arrow array at the end."""
    cdef int64_t* values
    cdef uint8_t* ok
    cdef Py_ssize_t n

    def __cinit__(self, Py_ssize_t n):
        self.n = n
        self.values = <int64_t*>malloc(max(n, 1) * sizeof(int64_t))
        self.ok = <uint8_t*>malloc(max(n, 1))
        if self.values == NULL or self.ok == NULL:
            raise MemoryError()
        memset(self.ok, 0, max(n, 1))

    def __dealloc__(self):
        free(self.values)
        free(self.ok)

    cdef object array(self):
        return pa.array(_as_list(self.values, self.ok, self.n), pa.int64())


cdef list _as_list(const int64_t* values, const uint8_t* ok, Py_ssize_t n):
    return [values[i] if ok[i] else None for i in range(n)]


def fingerprint_texts(texts, bint pg):
    """(fingerprints, limit_value, offset_value, in_list_len, values_rows) for ``texts`` (an
    Arrow string array without nulls): Arrow arrays, null where a text is declined (its
    attributes are then null too and must come from the SQL path with its fingerprint)."""
    if texts.null_count:
        raise ValueError("fingerprint_texts takes texts without nulls")
    arr = texts.cast(pa.large_string())
    cdef Py_ssize_t n = len(arr), i, a, b, m, size, total = 0, cap
    cdef void* grown
    bufs = arr.buffers()
    cdef uintptr_t offsets_address = bufs[1].address
    cdef uintptr_t data_address = bufs[2].address if bufs[2] is not None else 0
    cdef const int64_t* offsets = (<const int64_t*>offsets_address) + <Py_ssize_t>arr.offset
    cdef const uint8_t* data = <const uint8_t*>data_address
    cdef uint8_t* one = NULL
    cdef uint8_t* two = NULL
    cdef uint8_t* out = NULL
    cdef Py_ssize_t* words = NULL  # word starts of one text (attributes)
    cdef Py_ssize_t nw
    cdef int64_t* out_offsets = <int64_t*>malloc((n + 1) * sizeof(int64_t))
    cdef uint8_t* ok = <uint8_t*>malloc(max(n, 1))
    cdef _Column limits = _Column(n), offsets_ = _Column(n), in_lists = _Column(n)
    cdef _Column values = _Column(n)
    cdef size_t scratch = 0
    if out_offsets == NULL or ok == NULL:
        free(out_offsets)
        free(ok)
        raise MemoryError()
    cap = max(offsets[n] - offsets[0], 16) + 16
    out = <uint8_t*>malloc(cap)
    try:
        if out == NULL:
            raise MemoryError()
        out_offsets[0] = 0
        for i in range(n):
            a = offsets[i]
            b = offsets[i + 1]
            size = b - a
            ok[i] = 0
            out_offsets[i + 1] = total
            if declined(data + a, size, pg):
                continue
            # Scratch space: "in()" -> "in(?+)" grows 4 bytes to 6, nothing else grows.
            if <size_t>(2 * size + 16) > scratch:
                scratch = 2 * size + 16
                free(one)
                free(two)
                free(words)
                one = <uint8_t*>malloc(scratch)
                two = <uint8_t*>malloc(scratch)
                words = <Py_ssize_t*>malloc(scratch * sizeof(Py_ssize_t))
                if one == NULL or two == NULL or words == NULL:
                    raise MemoryError()
            m = literals(data + a, multi_row_end(data + a, size), one, pg)
            if m < 0:
                continue
            m = fold(one, m, two)
            m = nulls(two, m, one)
            m = lists(one, m, two)
            m = first_limit(two, m, one)
            if total + m > cap:
                cap = 2 * (total + m)
                grown = realloc(out, cap)
                if grown == NULL:
                    raise MemoryError()
                out = <uint8_t*>grown
            memcpy(out + total, one, m)
            total += m
            out_offsets[i + 1] = total
            ok[i] = 1
            nw = word_starts(data + a, size, words)
            limits.ok[i] = limit_value(data + a, size, words, nw, &limits.values[i])
            offsets_.ok[i] = offset_value(data + a, size, words, nw, &offsets_.values[i])
            in_lists.ok[i] = in_list_len(data + a, size, words, nw, &in_lists.values[i])
            values.ok[i] = values_rows(data + a, size, &values.values[i])
        fingerprints = pa.Array.from_buffers(
            pa.large_string(),
            n,
            [
                _validity(ok, n),
                pa.py_buffer((<char*>out_offsets)[: (n + 1) * sizeof(int64_t)]),
                pa.py_buffer((<char*>out)[:total]),
            ],
        )
    finally:
        free(one)
        free(two)
        free(words)
        free(out)
        free(out_offsets)
        free(ok)
    return (
        fingerprints, limits.array(), offsets_.array(), in_lists.array(), values.array()
    )


cdef object _validity(const uint8_t* ok, Py_ssize_t n):
    cdef bytearray bits = bytearray((n + 7) // 8)
    cdef Py_ssize_t i
    for i in range(n):
        if ok[i]:
            bits[i >> 3] |= 1 << (i & 7)
    return pa.py_buffer(bytes(bits))
