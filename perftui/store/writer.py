"""Writing parsed records into the store, fingerprinting them on the way in.

Entries reach DuckDB as one Arrow table per batch (a zero-copy scan, not a row-at-a-time insert);
fingerprints and the attributes they hide are computed there, vectorised. Only the few distinct
fingerprints that need back-references are touched in Python.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import queue
import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from perftui import fingerprint as fpmod
from perftui.ingest.records import Entry, Reject
from perftui.store.connections import ConnectionNumbers, renumber
from perftui.store.fingerprint_cache import FingerprintCache
from perftui.store.results import first
from perftui.store.schema import single_threaded, transaction, without_fsst

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


def extra_json(extra: dict[str, str | None] | None) -> str | None:
    """An entry's ``extra`` as stored: a JSON object (the compiled parsers write the same
    bytes), NULL when there is none. A MAP column cost 40 % of storing a MariaDB entry;
    its few distinct JSON texts compress to almost nothing."""
    return json.dumps(extra, ensure_ascii=False, separators=(",", ":")) if extra else None


_texts_sql_cache: dict[str, str] = {}


def _texts_sql(dialect: str) -> str:
    """The texts in ``_perftui_texts_in`` with fingerprint, class id and attributes, by the
    regexes (for the texts the compiled fingerprinter declines, or all without it).

    Computed once per distinct text, not per entry: prepared statements (``$1``), cache-like
    repeats and session chatter (``COMMIT``, ``SET NAMES``) repeat verbatim, and the regex work
    is the costliest part of ingest.
    """
    if dialect not in _texts_sql_cache:
        attrs = fpmod.attributes_sql("query")
        fingerprint = fpmod.fingerprint_sql("query", dialect)
        attr_sql = ", ".join(f"{expr} AS {name}" for name, expr in attrs.items())
        _texts_sql_cache[dialect] = (
            f"SELECT fingerprint, {fpmod.class_id_sql('fingerprint', dialect)} AS class_id, "
            f"{', '.join(attrs)}, query FROM (SELECT {fingerprint} AS fingerprint, {attr_sql}, "
            "query FROM _perftui_texts_in)"
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
    arrays["extra"] = pa.array([extra_json(e.extra) for e in entries], _STR)
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
    numbers: ConnectionNumbers,
) -> None:
    """Fingerprint and store one batch of entries of one source."""
    store_batch(con, source_id, to_arrow(entries, first_entry_no), dialect, numbers)


class Classified(NamedTuple):
    """One batch of entries with their class ids and attributes, and its new query classes."""

    entries: pa.Table
    classes: pa.Table  # class_id, fingerprint


def store_batch(
    con: duckdb.DuckDBPyConnection,
    source_id: int,
    table: pa.Table,
    dialect: str,
    numbers: ConnectionNumbers,
) -> None:
    """The DuckDB half of ``write_entries`` (no Python objects per row). Batches of a source
    go through one ``numbers``, in order; see ``finish_numbers``."""
    insert_batch(con, source_id, classify(con, table, dialect, numbers), dialect)


def finish_numbers(
    con: duckdb.DuckDBPyConnection, source_id: int, numbers: ConnectionNumbers
) -> ConnectionNumbers:
    """What numbers the source's next batches: ``numbers``, or, when its batches came out of
    line order within a session, fresh ones after the stored entries are numbered again."""
    if not numbers.disordered:
        return numbers
    renumber(con, source_id)
    return ConnectionNumbers.stored(con, source_id)


def classify(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    dialect: str,
    numbers: ConnectionNumbers,
    cache: FingerprintCache | None = None,
) -> Classified:
    """Fingerprint a batch and number its connections: reads no table, so it can run on its own
    cursor beside an insert.

    The batch's distinct texts are fingerprinted in DuckDB; Arrow's hash kernels map every entry
    to its text, and ``take`` spreads the results over the entries, so the insert reads one Arrow
    table and needs no join on statement text (that hash join was a third of the insert).
    With a ``cache``, texts of earlier batches are not fingerprinted again.
    """
    texts = _fingerprinted(con, table.column("query"), dialect, cache)
    text_index = pc.index_in(table.column("query"), value_set=texts.column("query"))
    per_entry = texts.select(["class_id", *_ATTRIBUTES]).take(text_index)
    classed = pc.is_in(table.column("kind"), value_set=_CLASSED)
    class_id = pc.if_else(classed, per_entry.column("class_id"), None)
    batch = table.append_column("class_id", class_id)
    batch = batch.append_column("conn_no", numbers.number(table))
    for name in _ATTRIBUTES:
        batch = batch.append_column(name, per_entry.column(name))
    classed_texts = pc.unique(pc.filter(text_index, classed))
    classes = texts.take(classed_texts.drop_null())
    return Classified(batch, classes.select(["class_id", "fingerprint"]))


def insert_batch(
    con: duckdb.DuckDBPyConnection, source_id: int, classified: Classified, dialect: str
) -> None:
    """Store a classified batch: its new query classes, then its entries."""
    insert_classes(con, classified, dialect)
    insert_entries(con, source_id, classified)


def insert_classes(con: duckdb.DuckDBPyConnection, classified: Classified, dialect: str) -> None:
    """Store the query classes of a classified batch that the store does not hold yet."""
    con.register("_perftui_classes", classified.classes)
    try:
        con.execute(
            "INSERT OR IGNORE INTO query_classes (class_id, fingerprint, dialect) "
            "SELECT DISTINCT class_id, fingerprint, ? FROM _perftui_classes",
            [dialect],
        )
    finally:
        con.unregister("_perftui_classes")


def insert_entries(con: duckdb.DuckDBPyConnection, source_id: int, classified: Classified) -> None:
    """Store the entries of a classified batch (its classes are stored already)."""
    con.register("_perftui_arrow", classified.entries)
    try:
        con.execute(
            "INSERT INTO entries BY NAME SELECT ? AS source_id, b.entry_no, b.line_start, "
            "b.n_lines, b.kind, "
            "CASE WHEN b.ts IS NULL OR NOT abs(b.ts) < 1e11 THEN NULL "  # NaN, inf, year 5000+
            "ELSE make_timestamp(CAST(b.ts * 1000000 AS BIGINT)) END AS ts, "
            "b.session, b.user_name, b.db, b.host, b.app, "
            f"{_finite('duration_ms')}, {_finite('lock_ms')}, "
            "b.rows_sent, b.rows_examined, b.rows_affected, b.bytes_sent, b.query, b.class_id, "
            f"b.statement_name, b.params, {_finite('parse_ms')}, {_finite('bind_ms')}, "
            f"b.plan, b.severity, b.message, b.extra, {', '.join(_ATTRIBUTES)}, b.conn_no "
            "FROM _perftui_arrow b",
            [source_id],
        )
    finally:
        con.unregister("_perftui_arrow")


_CLASSED = pa.array(["query", "error", "admin"])  # kinds whose statement forms a query class
_ATTRIBUTES = tuple(fpmod.attributes_sql())


def _fingerprinted(
    con: duckdb.DuckDBPyConnection,
    query: pa.ChunkedArray,
    dialect: str,
    cache: FingerprintCache | None = None,
) -> pa.Table:
    """The distinct texts of ``query`` with their fingerprint, class id and attributes."""
    distinct = pc.unique(query).drop_null()
    if isinstance(distinct, pa.ChunkedArray):
        distinct = distinct.combine_chunks()
    compute = functools.partial(_fingerprint_texts, con, dialect=dialect)
    return compute(distinct) if cache is None else cache.fingerprinted(distinct, compute)


def _fingerprint_texts(con: duckdb.DuckDBPyConnection, texts: pa.Array, dialect: str) -> pa.Table:
    """``texts`` (distinct) with their fingerprint, class id and attributes. The compiled
    fingerprinter reads nearly all of them; the texts it declines (a few in 10,000) take the
    regexes in DuckDB."""
    if _fast_fingerprints is None:
        return _sql_fingerprints(con, texts, dialect)
    fps, *attrs = _fast_fingerprints(texts, dialect == "postgres")
    declined = fps.is_null()
    if not pc.any(declined).as_py():
        return _finished(texts, fps, attrs, dialect)
    accepted = pc.invert(declined)
    read = _finished(
        texts.filter(accepted), fps.filter(accepted), [a.filter(accepted) for a in attrs], dialect
    )
    return pa.concat_tables([read, _sql_fingerprints(con, texts.filter(declined), dialect)])


def _sql_fingerprints(con: duckdb.DuckDBPyConnection, texts: pa.Array, dialect: str) -> pa.Table:
    """``texts`` fingerprinted by the regexes in DuckDB (``_texts_sql``)."""
    con.register("_perftui_texts_in", pa.table({"query": texts}))
    try:
        fingerprinted = con.sql(_texts_sql(dialect)).to_arrow_table()
    finally:
        con.unregister("_perftui_texts_in")
    return _post_process(fingerprinted, dialect)


# fingerprint as the compiled fingerprinter gives it -> (final fingerprint, class id), per
# dialect. Entries of one class share one fingerprint, so a batch of ~25,000 distinct texts has
# a few dozen: their post-processing and md5 are done once each here instead of once per text in
# SQL (0.49 of 0.82 s CPU on the distinct texts of a 1 GB MariaDB log). Cleared when it holds
# more than _FINISHED_MAX characters of fingerprints.
_finished_fingerprints: dict[tuple[str, str], tuple[str, str]] = {}
_finished_chars = 0
_FINISHED_MAX = 8 << 20


def _finished(texts: pa.Array, fps: pa.Array, attrs: list[pa.Array], dialect: str) -> pa.Table:
    """The rows ``_texts_sql`` gives for texts the compiled fingerprinter read: the fingerprint
    after ``fingerprint.post_process`` and the class id of that (``class_id`` is the md5 that
    ``class_id_sql`` computes)."""
    global _finished_chars
    distinct = pc.unique(fps)
    final, ids = [], []
    for fp in distinct.to_pylist():
        done = _finished_fingerprints.get((dialect, fp))
        if done is None:
            if _finished_chars > _FINISHED_MAX:
                _finished_fingerprints.clear()
                _finished_chars = 0
            last = fpmod.post_process(fp) if fpmod.needs_post(fp) else fp
            done = _finished_fingerprints[(dialect, fp)] = (last, fpmod.class_id(last, dialect))
            _finished_chars += len(fp) + len(last)
        final.append(done[0])
        ids.append(done[1])
    index = pc.index_in(fps, value_set=distinct)
    columns = {
        "fingerprint": pa.array(final, _STR).take(index),
        "class_id": pa.array(ids, _STR).take(index),
    }
    columns.update(zip(_ATTRIBUTES, attrs, strict=True))
    columns["query"] = texts
    return pa.table(columns)


def _compiled_fingerprints() -> Callable[[pa.Array, bool], tuple[pa.Array, ...]] | None:
    """``perftui._fingerprint_fast.fingerprint_texts`` when it was built and
    ``PERFTUI_PURE_PYTHON`` is not set."""
    if os.environ.get("PERFTUI_PURE_PYTHON"):
        return None
    try:
        from perftui._fingerprint_fast import fingerprint_texts
    except ImportError:  # not compiled (no C compiler at install time)
        return None
    return fingerprint_texts


_fast_fingerprints = _compiled_fingerprints()


def _post_process(texts: pa.Table, dialect: str) -> pa.Table:
    """Apply the fingerprint steps RE2 cannot do to the few texts that need them, and give those
    the class id of their final fingerprint (the same md5 as ``fingerprint.class_id_sql``)."""
    fps = texts.column("fingerprint")
    candidates = functools.reduce(
        pc.or_, (pc.match_substring(fps, marker) for marker in fpmod.POST_MARKERS)
    )
    rows = pc.indices_nonzero(candidates.fill_null(False)).to_pylist()
    changed = {}
    for i in rows:
        fp = fps[i].as_py()
        new = fpmod.post_process(fp)
        if new != fp:
            changed[i] = new
    if not changed:
        return texts
    fingerprints = fps.to_pylist()
    class_ids = texts.column("class_id").to_pylist()
    for i, fp in changed.items():
        fingerprints[i] = fp
        class_ids[i] = fpmod.class_id(fp, dialect)
    texts = texts.set_column(0, "fingerprint", pa.array(fingerprints, _STR))
    return texts.set_column(1, "class_id", pa.array(class_ids, _STR))


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
        source_id = first(con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM sources"))[0]
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
    return first(
        con.execute(
            "SELECT coalesce(max(entry_no), -1) + 1 FROM entries WHERE source_id = ?", [source_id]
        )
    )[0]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# Entries stored between explicit checkpoints. Whole row groups are written to the file at
# commit and the write-ahead log stays small, so DuckDB's own WAL-size trigger never fires and
# the table was only compacted at close: a 3 GB slow log left 80.6 MB of file per million
# entries (47.3 with this), and on 10 GB the finish after the input ended peaked at 1042 MB
# against 921 MB while reading.
CHECKPOINT_ROWS = 1_000_000


class BackgroundWriter:
    """Runs the DuckDB side of ingest on three threads while the caller keeps parsing.

    One thread fingerprints a batch (``classify``, on a cursor of its own) and stores its new
    query classes; two others store the entries of the batches before it (``insert_entries``),
    each on its own cursor, in their own transactions (DuckDB appends to one table from several
    at once; rows are in entry order by ``entry_no``, not by when their batch was committed).
    DuckDB releases the GIL in all of them, so parsing, fingerprinting and inserting overlap,
    and whichever stage is the slower one for a log gets the second core when the others wait:
    storing is for a slow log, whose entries are short (1 GB MariaDB log, ingest alone, 5 paired
    runs: wall 0.89 with the second inserter, CPU 1.08, peak 616 against 526 MB; PostgreSQL,
    where parsing is the slow stage: wall 1.02, within the runs' spread). At most ``depth``
    batches wait at each stage, so memory stays bounded. The caller's connection is used only
    by the first inserter until ``close``.

    DuckDB runs with one thread of its own meanwhile (restored at ``close``): these stages
    already keep both cores busy, and a two-thread insert spends the second one merging its
    halves. Storing 574 k PostgreSQL entries: 1.86 s of CPU with two threads, 1.00 s with one
    (333 k MariaDB entries: 1.68 -> 0.95 s). Strings are stored without FSST meanwhile
    (``schema.without_fsst``).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        source_id: int,
        dialect: str,
        numbers: ConnectionNumbers,
        depth: int = 1,
    ) -> None:
        self._con, self._source_id, self._dialect = con, source_id, dialect
        self._numbers = numbers
        self._settings = ExitStack()  # given back in close()
        self._settings.enter_context(single_threaded(con))
        self._settings.enter_context(without_fsst(con))
        self._classifier = con.cursor()
        self._inserters = [con, con.cursor()]
        self._stored_lock = threading.Lock()
        self._cache: FingerprintCache | None = FingerprintCache()
        self._jobs: queue.Queue[tuple[str, pa.Table] | None] = queue.Queue(maxsize=depth)
        self._classified: queue.Queue[tuple[str, pa.Table | Classified] | None] = queue.Queue(
            maxsize=depth
        )
        self._error: BaseException | None = None
        self._unchecked = 0  # rows stored since the last checkpoint
        self._threads = [
            threading.Thread(target=self._classify, name="perftui-classify", daemon=True),
            *(
                threading.Thread(
                    target=self._insert, args=(cur,), name=f"perftui-writer-{i}", daemon=True
                )
                for i, cur in enumerate(self._inserters)
            ),
        ]
        for thread in self._threads:
            thread.start()

    def _classify(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                if self._error is not None:
                    continue  # drain after a failure; close() re-raises it
                kind, table = job
                try:
                    if kind == "entries":
                        classified = classify(
                            self._classifier, table, self._dialect, self._numbers, self._cache
                        )
                        insert_classes(self._classifier, classified, self._dialect)
                        self._classified.put((kind, classified))
                    else:
                        self._classified.put(job)
                except BaseException as exc:  # handed to the caller in close()
                    self._fail(exc)
        finally:
            self._classified.put(None)

    def _insert(self, cur: duckdb.DuckDBPyConnection) -> None:
        try:
            while (job := self._classified.get()) is not None:
                if self._error is not None:
                    continue
                kind, item = job
                try:
                    if kind == "entries":
                        insert_entries(cur, self._source_id, item)
                        if self._stored(item.entries.num_rows):
                            # Waits for the other transactions and holds off new ones
                            # (DuckDB 2: FORCE no longer aborts them).
                            cur.execute("FORCE CHECKPOINT")
                    else:
                        store_rejects(cur, item)
                except BaseException as exc:
                    self._fail(exc)
        finally:
            self._classified.put(None)  # the other inserter's end too

    def _stored(self, rows: int) -> bool:
        """Count stored rows; True when a checkpoint is due (then the count starts over)."""
        with self._stored_lock:
            self._unchecked += rows
            if self._unchecked < CHECKPOINT_ROWS:
                return False
            self._unchecked = 0
            return True

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:  # the first failure is the one to report
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
        """Wait for every queued batch; re-raise the first failure. The fingerprint cache goes
        now, so the driver's release of Arrow's unused memory after ingest includes it."""
        self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._cache = None
        self._classifier.close()
        for cur in self._inserters[1:]:
            cur.close()
        self._settings.close()
        self._raise()
        finish_numbers(self._con, self._source_id, self._numbers)
