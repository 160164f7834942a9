"""Writing parsed records into the store, fingerprinting them on the way in.

Entries reach DuckDB as one Arrow table per batch (a zero-copy scan, not a row-at-a-time insert);
fingerprints and the attributes they hide are computed there, vectorised. Only the few distinct
fingerprints that need back-references are touched in Python.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading

import duckdb
import pyarrow as pa

from perftui import fingerprint as fpmod
from perftui.ingest.records import Entry, Reject
from perftui.store.schema import transaction

MAX_REJECT_CHARS = 4096

_STR = pa.string()
_F64 = pa.float64()
_I64 = pa.int64()

# Entry attribute -> (store column, arrow type)
_COLUMNS: tuple[tuple[str, str, pa.DataType], ...] = (
    ("line_start", "line_start", _I64),
    ("n_lines", "n_lines", pa.int32()),
    ("kind", "kind", _STR),
    ("ts", "ts", _F64),
    ("session", "session", _STR),
    ("user", "user_name", _STR),
    ("db", "db", _STR),
    ("host", "host", _STR),
    ("app", "app", _STR),
    ("duration_ms", "duration_ms", _F64),
    ("lock_ms", "lock_ms", _F64),
    ("rows_sent", "rows_sent", _I64),
    ("rows_examined", "rows_examined", _I64),
    ("rows_affected", "rows_affected", _I64),
    ("bytes_sent", "bytes_sent", _I64),
    ("query", "query", _STR),
    ("statement_name", "statement_name", _STR),
    ("params", "params", _STR),
    ("parse_ms", "parse_ms", _F64),
    ("bind_ms", "bind_ms", _F64),
    ("plan", "plan", _STR),
    ("severity", "severity", _STR),
    ("message", "message", _STR),
)
_EXTRA_TYPE = pa.map_(pa.string(), pa.string())

# Kinds whose statement text gets a fingerprint / class.
_CLASSED_KINDS = "('query', 'error', 'admin')"

_texts_sql_cache: dict[str, str] = {}


def _texts_sql(dialect: str) -> str:
    """The batch's distinct statement texts with fingerprint and attributes; built per dialect.

    Computed once per distinct text, not per entry: prepared statements (``$1``), cache-like
    repeats and session chatter (``COMMIT``, ``SET NAMES``) repeat verbatim, and the regex work
    is the costliest part of ingest. ``classed`` says whether the text forms a query class.
    """
    if dialect not in _texts_sql_cache:
        attrs = fpmod.attributes_sql("query")
        attr_sql = ", ".join(f"{expr} AS {name}" for name, expr in attrs.items())
        _texts_sql_cache[dialect] = (
            "CREATE OR REPLACE TEMP TABLE _perftui_texts AS "
            f"SELECT query, classed, {fpmod.fingerprint_sql('query', dialect)} AS fingerprint, "
            f"{attr_sql} FROM (SELECT query, bool_or(kind IN {_CLASSED_KINDS}) AS classed "
            "  FROM _perftui_arrow WHERE query IS NOT NULL GROUP BY query)"
        )
    return _texts_sql_cache[dialect]


def to_arrow(entries: list[Entry], first_entry_no: int) -> pa.Table:
    arrays = {"entry_no": pa.array(range(first_entry_no, first_entry_no + len(entries)), _I64)}
    for attr, col, typ in _COLUMNS:
        values = [getattr(e, attr) for e in entries]
        try:
            arrays[col] = pa.array(values, typ)
        except OverflowError:  # a corrupt log's "Rows_sent: 99999999999999999999"
            arrays[col] = pa.array([_int64_or_none(v) for v in values], typ)
    arrays["extra"] = pa.array(
        [list(e.extra.items()) if e.extra else None for e in entries], _EXTRA_TYPE
    )
    return pa.table(arrays)


def _finite(column: str) -> str:
    """``column`` of the batch with NaN and ±inf (``Query_time: 1e999`` in a corrupt log) as
    NULL: they are no time, and would make every sum infinite and the JSON report invalid."""
    return f"CASE WHEN isfinite(b.{column}) THEN b.{column} END AS {column}"


def _int64_or_none(value: int | None) -> int | None:
    """The value when a BIGINT column can hold it; a number no server writes becomes unknown."""
    return value if value is None or -(2**63) <= value < 2**63 else None


def write_entries(
    con: duckdb.DuckDBPyConnection,
    source_id: int,
    first_entry_no: int,
    entries: list[Entry],
    dialect: str,
) -> None:
    """Fingerprint and store one batch of entries of one source."""
    store_batch(con, source_id, to_arrow(entries, first_entry_no), dialect)


def store_batch(
    con: duckdb.DuckDBPyConnection, source_id: int, table: pa.Table, dialect: str
) -> None:
    """The DuckDB half of ``write_entries`` (no Python objects per row; releases the GIL).

    Fingerprints and attributes go into a table of the batch's distinct texts; the entries are
    inserted straight from the Arrow batch joined to it, so the batch's columns are copied once.
    """
    con.register("_perftui_arrow", table)
    try:
        con.execute(_texts_sql(dialect))
        _post_process_fingerprints(con)
        class_id = fpmod.class_id_sql("t.fingerprint", dialect)
        con.execute(
            "INSERT OR IGNORE INTO query_classes (class_id, fingerprint, dialect) "
            f"SELECT DISTINCT {class_id}, t.fingerprint, ? "
            "FROM _perftui_texts t WHERE t.classed",
            [dialect],
        )
        con.execute(
            "INSERT INTO entries BY NAME SELECT ? AS source_id, b.entry_no, b.line_start, "
            "b.n_lines, b.kind, "
            "CASE WHEN b.ts IS NULL OR NOT abs(b.ts) < 1e11 THEN NULL "  # NaN, inf, year 5000+
            "ELSE make_timestamp(CAST(b.ts * 1000000 AS BIGINT)) END AS ts, "
            "b.session, b.user_name, b.db, b.host, b.app, "
            f"{_finite('duration_ms')}, {_finite('lock_ms')}, "
            "b.rows_sent, b.rows_examined, b.rows_affected, b.bytes_sent, b.query, "
            f"CASE WHEN b.kind IN {_CLASSED_KINDS} THEN {class_id} END AS class_id, "
            f"b.statement_name, b.params, {_finite('parse_ms')}, {_finite('bind_ms')}, "
            "b.plan, b.severity, b.message, b.extra, "
            "t.limit_value, t.offset_value, t.in_list_len, t.values_rows "
            "FROM _perftui_arrow b LEFT JOIN _perftui_texts t ON b.query = t.query",
            [source_id],
        )
    finally:
        con.unregister("_perftui_arrow")
    con.execute("DROP TABLE _perftui_texts")


def _post_process_fingerprints(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT DISTINCT fingerprint FROM _perftui_texts "
        "WHERE fingerprint LIKE '% union %' OR fingerprint LIKE '% asc%'"
    ).fetchall()
    changed = [(fp, fpmod.post_process(fp)) for (fp,) in rows]
    changed = [(old, new) for old, new in changed if old != new]
    if not changed:
        return
    mapping = pa.table({"old": [c[0] for c in changed], "new": [c[1] for c in changed]})
    con.register("_perftui_fp_map", mapping)
    try:
        con.execute(
            "UPDATE _perftui_texts SET fingerprint = m.new FROM _perftui_fp_map m "
            "WHERE _perftui_texts.fingerprint = m.old"
        )
    finally:
        con.unregister("_perftui_fp_map")


def write_rejects(con: duckdb.DuckDBPyConnection, source_id: int, rejects: list[Reject]) -> None:
    store_rejects(con, rejects_table(source_id, rejects))


def rejects_table(source_id: int, rejects: list[Reject]) -> pa.Table:
    return pa.table(
        {
            "source_id": pa.array([source_id] * len(rejects), pa.int32()),
            "line_no": pa.array([r.line_no for r in rejects], _I64),
            "reason": pa.array([r.reason for r in rejects], _STR),
            "raw": pa.array([r.raw[:MAX_REJECT_CHARS] for r in rejects], _STR),
        }
    )


def store_rejects(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    con.register("_perftui_rejects", table)
    try:
        con.execute("INSERT INTO rejects SELECT * FROM _perftui_rejects")
    finally:
        con.unregister("_perftui_rejects")


def begin_source(
    con: duckdb.DuckDBPyConnection,
    source_id: int | None,
    *,
    path: str,
    fmt: str,
    dialect: str,
    prefix: str | None,
    inode: int | None,
    head_sha1: str,
    head_bytes: int,
) -> int:
    """Register a source as being ingested (complete = false until ``finish_source``).

    Reusing ``source_id`` (an interrupted ingest read again from the start) drops its entries
    and rejects first and its row last: a kill in between leaves the row incomplete, so the
    next ingest does this again. No transaction of its own: callers may hold one.
    """
    if source_id is None:
        source_id = con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM sources").fetchone()[0]
    else:
        con.execute("DELETE FROM entries WHERE source_id = ?", [source_id])
        con.execute("DELETE FROM rejects WHERE source_id = ?", [source_id])
    con.execute("DELETE FROM sources WHERE source_id = ?", [source_id])
    con.execute(
        "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, false, ?)",
        [source_id, path, fmt, dialect, prefix, inode, head_sha1, head_bytes, _now()],
    )
    return source_id


def reopen_source(con: duckdb.DuckDBPyConnection, source_id: int) -> None:
    """Take a source back to its resume point (``lines``, ``bytes_read``) and mark it incomplete
    until ``finish_source``, in one transaction, before reading on from there.

    What lies past ``lines`` was stored by a run that did not finish (an interrupted append, a
    tailer killed before ``stop``); the run that reads on from the resume point stores it again.
    """
    with transaction(con):
        con.execute(
            "DELETE FROM entries WHERE source_id = ? AND line_start > "
            "(SELECT lines FROM sources WHERE source_id = ?)",
            [source_id, source_id],
        )
        con.execute(
            "DELETE FROM rejects WHERE source_id = ? AND line_no > "
            "(SELECT lines FROM sources WHERE source_id = ?)",
            [source_id, source_id],
        )
        con.execute("UPDATE sources SET complete = false WHERE source_id = ?", [source_id])


def finish_source(
    con: duckdb.DuckDBPyConnection,
    source_id: int,
    *,
    bytes_read: int,
    lines: int,
    inode: int | None,
) -> None:
    """Record the resume point and the reconciled counts, and mark the source complete."""
    con.execute(
        "UPDATE sources SET bytes_read = ?, lines = ?, inode = coalesce(?, inode), "
        "entries = (SELECT count(*) FROM entries WHERE source_id = ?), "
        "reject_lines = (SELECT count(*) FROM rejects WHERE source_id = ?), "
        "complete = true, ingested_at = ? WHERE source_id = ?",
        [bytes_read, lines, inode, source_id, source_id, _now(), source_id],
    )


def next_entry_no(con: duckdb.DuckDBPyConnection, source_id: int) -> int:
    return con.execute(
        "SELECT coalesce(max(entry_no), -1) + 1 FROM entries WHERE source_id = ?", [source_id]
    ).fetchone()[0]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BackgroundWriter:
    """Runs the DuckDB side of ingest on one thread while the caller keeps parsing.

    DuckDB releases the GIL while it fingerprints and inserts, so parsing the next batch and
    storing the previous one overlap. The connection is used only by this thread until
    ``close``; at most ``depth`` batches wait, so memory stays bounded.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, source_id: int, dialect: str, depth: int = 2
    ) -> None:
        self._con, self._source_id, self._dialect = con, source_id, dialect
        self._jobs: queue.Queue[tuple[str, pa.Table] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="perftui-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._error is not None:
                continue  # drain after a failure; close() re-raises it
            kind, table = job
            try:
                if kind == "entries":
                    store_batch(self._con, self._source_id, table, self._dialect)
                else:
                    store_rejects(self._con, table)
            except BaseException as exc:  # handed to the caller in close()
                self._error = exc

    def put_entries(self, table: pa.Table) -> None:
        self._raise()
        self._jobs.put(("entries", table))

    def put_rejects(self, table: pa.Table) -> None:
        self._raise()
        self._jobs.put(("rejects", table))

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Wait for every queued batch; re-raise the first failure."""
        self._jobs.put(None)
        self._thread.join()
        self._raise()
