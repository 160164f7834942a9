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

MAX_BYTES = 8 << 20  # of text held (the dict's keys and the table's copy each hold it once)


class FingerprintCache:
    """Fingerprinted texts (the rows ``writer._fingerprinted`` returns) by text."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._rows: dict[str, int] = {}  # text -> row of _table
        self._table: pa.Table | None = None
        self._bytes = 0
        self.hits = self.misses = 0  # distinct texts per batch, summed

    def fingerprinted(self, texts: pa.Array, compute: Callable[[pa.Array], pa.Table]) -> pa.Table:
        """The rows for ``texts`` (distinct, non-null): known ones from the cache, the others
        from ``compute(unknown texts)``, which must return one row per text with a ``query``
        column; row order is not kept."""
        rows = self._rows
        found = [rows.get(t) for t in texts.to_pylist()]
        known = pa.array(found, pa.int64())
        unknown = texts.filter(known.is_null())
        self.misses += len(unknown)
        self.hits += len(texts) - len(unknown)
        if self._table is not None and not len(unknown):
            return self._table.take(known.drop_null())
        new = compute(unknown)
        if self._table is None or known.null_count == len(known):
            result = new
        else:
            result = pa.concat_tables([self._table.take(known.drop_null()), new])
        added = pc.sum(pc.binary_length(new.column("query"))).as_py() or 0
        if self._table is None or self._bytes + added > self.max_bytes:
            self._start_over(result)
        else:
            self._add(new, added)
        return result

    def _add(self, new: pa.Table, added: int) -> None:
        base = self._table.num_rows  # type: ignore[union-attr]
        rows = self._rows
        for i, text in enumerate(new.column("query").to_pylist(), base):
            rows[text] = i
        self._table = pa.concat_tables([self._table, new]).combine_chunks()  # type: ignore[list-item]
        self._bytes += added

    def _start_over(self, table: pa.Table) -> None:
        self._table = table.combine_chunks()
        self._rows = {text: i for i, text in enumerate(table.column("query").to_pylist())}
        self._bytes = pc.sum(pc.binary_length(table.column("query"))).as_py() or 0
