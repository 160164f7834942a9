"""Fingerprints of the texts an ingest has already seen, so a repeated text skips the regexes.

A batch's distinct texts are fingerprinted in DuckDB (``writer._fingerprinted``), and that regex
work is most of the fingerprinting thread's time. Many texts come back batch after batch in
the same words: prepared statements (``$1``), parameterised ORM queries, ``COMMIT``, ``SET
NAMES``. Their fingerprint, class id and attributes depend on the text and the dialect alone,
so they are kept here and taken again instead of computed again.

Bounded by the bytes of text it holds: past ``max_bytes`` it starts over from the texts of the
batch just looked up, which keeps the texts that are still coming.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

MAX_BYTES = 4 << 20  # of text held (RSS grows by ~8x this: texts, fingerprints, copies)


class FingerprintCache:
    """Fingerprinted texts (the rows ``writer._fingerprinted`` returns), looked up by text.

    Lookups are Arrow's ``index_in`` against the cached texts (a hash table built per batch
    from a few MB of text: milliseconds); a dict of Python strings did the same with more CPU
    and twice the memory."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._table: pa.Table | None = None  # one chunk per column
        self._bytes = 0
        self.hits = self.misses = 0  # distinct texts per batch, summed

    def fingerprinted(self, texts: pa.Array, compute: Callable[[pa.Array], pa.Table]) -> pa.Table:
        """The rows for ``texts`` (distinct, non-null): known ones from the cache, the others
        from ``compute(unknown texts)``, which must return one row per text with a ``query``
        column; row order is not kept."""
        if self._table is None:
            self.misses += len(texts)
            result = compute(texts)
            self._start_over(result)
            return result
        known = pc.index_in(texts, value_set=self._table.column("query").chunk(0))
        unknown = texts.filter(known.is_null())
        self.misses += len(unknown)
        self.hits += len(texts) - len(unknown)
        cached = self._table.take(known.drop_null())
        if not len(unknown):
            return cached
        new = compute(unknown)
        result = pa.concat_tables([cached, new]) if cached.num_rows else new
        added = _text_bytes(new)
        if self._bytes + added > self.max_bytes:
            self._start_over(result)
        else:
            self._table = pa.concat_tables([self._table, new]).combine_chunks()
            self._bytes += added
        return result

    def _start_over(self, table: pa.Table) -> None:
        self._table = table.combine_chunks()
        if self._table.num_rows == 0 or self._table.column("query").num_chunks != 1:
            self._table = None  # nothing to look up in (an empty table has no chunk)
        self._bytes = _text_bytes(table)


def _text_bytes(table: pa.Table) -> int:
    return pc.sum(pc.binary_length(table.column("query"))).as_py() or 0
