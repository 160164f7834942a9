"""Which connection each entry belongs to, numbered while the entries are stored.

A PostgreSQL pid or a MySQL thread id is reused, so a session key alone can span several
connections; n-plus-one, row-by-row-write and connection-churn reason per connection. An entry's
``conn_no`` is the line of its connection's first entry: a connection opens at a connect entry
(PostgreSQL's "connection received" and "connection authorized" count once), at any entry after
a disconnect or a MySQL ``administrator command: Quit``, and at a session's first entry in the
log (its opening may precede the log). Lines are unique within a source, so ``(source_id,
conn_no)`` alone names a connection: the rules sort on two integers, not on the session text
too (n-plus-one 2.5 -> 2.0 s, row-by-row-write 2.9 -> 2.4 s on 5.9 M PostgreSQL entries). Only
query, connect, disconnect and admin entries take part; other kinds get NULL.

Numbering while storing costs one small sort per batch and a few values per session carried to
the next batch. Numbering at analysis time (``renumber``: a window over every entry of the
source and an ASOF join) took 4.2 s of the 13 s analysis of 5.9 M PostgreSQL entries. A source
whose entries arrive out of line order within a session, or a store from before schema 3, is
numbered by ``renumber``; both ways give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

_KINDS = ("query", "connect", "disconnect", "admin")  # the kinds that are numbered
_NUMBERED = pa.array(_KINDS)
# The same in SQL, on entries aliased ``e``.
NUMBERED_KINDS = f"e.kind IN {_KINDS}"
IS_END = (  # the entry closes its connection
    "CASE e.kind WHEN 'disconnect' THEN true"
    " WHEN 'admin' THEN lower(e.query) LIKE '%quit%' ELSE false END"
)
# Group index * _SPAN + line keeps a running maximum inside its group (lines < 2**40).
_SPAN = 1 << 40


@dataclass(slots=True)
class _Last:
    """A session's last numbered entry: what the next one's number depends on."""

    conn_no: int
    line: int
    connect: bool  # it was a connect entry
    end: bool  # it closed its connection


class ConnectionNumbers:
    """Numbers the entries of one source batch by batch (see the module docstring).

    Batches must come in line order within each session (each parser emits them so); a batch
    that does not sets ``disordered``, and the source is then numbered again by ``renumber``.
    """

    def __init__(self, last: dict[str | None, _Last] | None = None) -> None:
        self._last: dict[str | None, _Last] = last or {}
        self.disordered = False

    @classmethod
    def stored(cls, con: duckdb.DuckDBPyConnection, source_id: int) -> ConnectionNumbers:
        """Carry on numbering a source whose entries are already (partly) stored."""
        rows = con.execute(
            "SELECT session, arg_max(conn_no, line_start), max(line_start),"
            f" arg_max(kind = 'connect', line_start), arg_max({IS_END}, line_start)"
            f" FROM entries e WHERE source_id = ? AND {NUMBERED_KINDS} GROUP BY session",
            [source_id],
        ).fetchall()
        numbers = cls(
            {r[0]: _Last(int(r[1] or 0), int(r[2]), bool(r[3]), bool(r[4])) for r in rows}
        )
        numbers.disordered = any(r[1] is None for r in rows)  # stored before numbering
        return numbers

    def number(self, table: pa.Table) -> pa.Array:
        """``conn_no`` for each row of a batch (``session``, ``kind``, ``line_start``,
        ``query``), in the batch's row order."""
        n = table.num_rows
        numbered = pc.is_in(table.column("kind"), value_set=_NUMBERED).combine_chunks()
        rows = pc.indices_nonzero(numbered)
        if not len(rows):
            return pa.nulls(n, pa.int64())
        session = pc.dictionary_encode(
            table.column("session").take(rows).combine_chunks(), null_encoding="encode"
        )
        lines = table.column("line_start").take(rows).combine_chunks().cast(pa.int64())
        # Sessions apart, each in line order; the numbers are a running maximum per session.
        order = pc.sort_indices(
            pa.table({"s": session.indices, "l": lines}),
            sort_keys=[("s", "ascending"), ("l", "ascending")],
        )
        s = session.indices.take(order)
        line = lines.take(order)
        sorted_rows = rows.take(order)
        kind = table.column("kind").take(sorted_rows).combine_chunks()
        end = pc.equal(kind, "disconnect")
        admin = pc.equal(kind, "admin")
        if pc.any(admin).as_py():  # MySQL: "administrator command: Quit" ends one too
            query = table.column("query").take(sorted_rows.filter(admin))
            quits = pc.match_substring(pc.utf8_lower(query), "quit").fill_null(False)
            end = pc.replace_with_mask(end, admin, quits.combine_chunks())
        connect = pc.equal(kind, "connect")
        m = len(s)
        changed = pc.not_equal(s.slice(1), s.slice(0, m - 1))
        first = pa.concat_arrays([_TRUE, changed])  # a session's first row in this batch
        last = pa.concat_arrays([changed, _TRUE])  # and its last

        names = session.dictionary.to_pylist()
        codes = s.filter(first).to_pylist()
        carried = [self._last.get(names[c]) for c in codes]
        for was, at in zip(carried, line.filter(first).to_pylist(), strict=True):
            if was is not None and at <= was.line:
                self.disordered = True
        prev_connect = _after(connect, first, [c is not None and c.connect for c in carried])
        # A session not seen before opens a connection on its first entry.
        prev_end = _after(end, first, [c is None or c.end for c in carried])
        start = pc.or_(pc.and_(connect, pc.invert(prev_connect)), prev_end)
        value = pc.if_else(start, line, 0)
        value = pc.replace_with_mask(
            value,
            first,
            pc.max_element_wise(
                value.filter(first),
                pa.array([0 if c is None else c.conn_no for c in carried], pa.int64()),
            ),
        )
        offset = pc.multiply(pc.subtract(pc.cumulative_sum(first.cast(pa.int64())), 1), _SPAN)
        conn = pc.subtract(pc.cumulative_max(pc.add(value, offset)), offset)

        for code, no, at, was_connect, was_end in zip(
            s.filter(last).to_pylist(),
            conn.filter(last).to_pylist(),
            line.filter(last).to_pylist(),
            connect.filter(last).to_pylist(),
            end.filter(last).to_pylist(),
            strict=True,
        ):
            self._last[names[code]] = _Last(no, at, was_connect, was_end)

        # Back in the batch's row order, NULL on the rows that are not numbered.
        in_row_order = conn.take(pc.sort_indices(order))
        return pc.replace_with_mask(pa.nulls(n, pa.int64()), numbered, in_row_order)


_TRUE = pa.array([True])


def _after(flags: pa.Array, first: pa.Array, carried: list[bool]) -> pa.Array:
    """Each row's predecessor's flag in its session: the row before, or (on a session's first
    row of the batch) the carried value."""
    prev = pa.concat_arrays([pa.array([False]), flags.slice(0, len(flags) - 1)])
    return pc.replace_with_mask(prev, first, pa.array(carried, pa.bool_()))


def renumber(con: duckdb.DuckDBPyConnection, source_id: int | None = None) -> None:
    """Number the stored entries of one source (of every source with None) in SQL: for a
    store from before schema 3 and for a source ``ConnectionNumbers`` found out of order.

    Finding the openings needs each entry's predecessor in its session (``lag``, a sort of
    every entry); each entry then takes the last opening at or before it (an ASOF join, 2.2 s on
    3.4 M entries where a running ``max() OVER`` took 7.6 s)."""
    where, params = ("AND e.source_id = ?", [source_id]) if source_id is not None else ("", [])
    con.execute(
        f"""
        UPDATE entries SET conn_no = n.conn_no
        FROM (
            WITH marks AS (
                SELECT e.source_id, e.session, e.line_start, e.kind, {IS_END} AS is_end
                FROM entries e WHERE {NUMBERED_KINDS} {where}
            ),
            starts AS (
                SELECT source_id, session, line_start
                FROM (SELECT source_id, session, line_start, kind,
                             lag(kind) OVER w AS prev_kind, lag(is_end) OVER w AS prev_end
                      FROM marks
                      WINDOW w AS (PARTITION BY source_id, session ORDER BY line_start))
                WHERE prev_kind IS NULL OR prev_end
                   OR (kind = 'connect' AND prev_kind <> 'connect')
            )
            SELECT m.source_id, m.line_start, coalesce(s.line_start, 0) AS conn_no
            FROM marks m ASOF LEFT JOIN starts s
              ON m.source_id = s.source_id AND m.session IS NOT DISTINCT FROM s.session
             AND m.line_start >= s.line_start
        ) n
        WHERE entries.source_id = n.source_id AND entries.line_start = n.line_start
        """,
        params,
    )
