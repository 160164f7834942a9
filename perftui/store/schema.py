"""The DuckDB schema perftui writes, and opening a store file safely.

The schema is documented in the README so that people can query the file with the ``duckdb``
CLI; change both together and bump ``SCHEMA_VERSION`` (older files are then migrated or refused
with a clear message, never half-read).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from perftui.store.results import first

SCHEMA_VERSION = 3

# DuckDB's buffer pool otherwise grows towards 80 % of RAM as the file grows; a fixed cap keeps
# perftui's memory flat whatever the log size (DuckDB spills to disk beyond it). 384 MB, not
# 512: with parsing, fingerprinting and inserting in flight at once, a 1 GB PostgreSQL log
# peaked at 1,048 MB with 512 and 864 MB with 384, and was stored faster (27.0 -> 25.7 s);
# analysing its 5.9 M entries took 17.5-18.2 s against 16.9 s, in 600 MB against 929 MB. When
# a sort or join needs more than this with two threads, the analysis runs again on one
# (``cli._within_memory``).
MEMORY_LIMIT = os.environ.get("PERFTUI_MEMORY_LIMIT", "384MB")
# ``perftui analyze``'s reading of the store, after any ingest has finished (parser, fingerprints
# and insert no longer need their share): the sequence rules' sorts spill less. Analysing the
# 1 GB PostgreSQL store (5.9 M entries): 9.35 s / 537 MB peak at 384 MB, 7.5 s / 787 MB at
# 640 MB (MariaDB 5.6 -> 4.9 s); the 58.7 M-entry store of a 10 GB log stays under 1 GB too
# (README). PERFTUI_MEMORY_LIMIT, when set, applies here as well.
ANALYSIS_MEMORY_LIMIT = os.environ.get(
    "PERFTUI_ANALYSIS_MEMORY_LIMIT", os.environ.get("PERFTUI_MEMORY_LIMIT", "640MB")
)

DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);

CREATE TABLE IF NOT EXISTS sources (
    source_id     INTEGER PRIMARY KEY,
    path          VARCHAR NOT NULL,      -- as given; '-' for standard input
    format        VARCHAR NOT NULL,      -- postgres-stderr, postgres-csv, postgres-json, mysql-slow
    dialect       VARCHAR NOT NULL,      -- postgres | mysql: the SQL dialect of its statements
    prefix        VARCHAR,               -- PostgreSQL log_line_prefix used to read it
    inode         BIGINT,
    head_sha1     VARCHAR NOT NULL,      -- checksum of the first head_bytes bytes: the identity
    head_bytes    INTEGER NOT NULL,
    bytes_read    BIGINT NOT NULL,       -- (decompressed) bytes consumed so far: resume point
    lines         BIGINT NOT NULL,       -- lines read so far
    entries       BIGINT NOT NULL,
    reject_lines  BIGINT NOT NULL,
    complete      BOOLEAN NOT NULL,      -- false while an ingest is running or was interrupted
    ingested_at   TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS entries (
    source_id     INTEGER NOT NULL,
    entry_no      BIGINT NOT NULL,       -- order within the source (by first line)
    line_start    BIGINT NOT NULL,
    n_lines       INTEGER NOT NULL,
    kind          VARCHAR NOT NULL,      -- query, error, connect, disconnect, admin, message
    ts            TIMESTAMP,             -- UTC
    session       VARCHAR,               -- PostgreSQL pid / session id, MySQL thread id
    user_name     VARCHAR,
    db            VARCHAR,
    host          VARCHAR,
    app           VARCHAR,
    duration_ms   DOUBLE,
    lock_ms       DOUBLE,
    rows_sent     BIGINT,
    rows_examined BIGINT,
    rows_affected BIGINT,
    bytes_sent    BIGINT,
    query         VARCHAR,               -- statement as logged (literals included)
    class_id      VARCHAR,               -- query_classes.class_id (NULL when no query)
    statement_name VARCHAR,
    params        VARCHAR,
    parse_ms      DOUBLE,
    bind_ms       DOUBLE,
    plan          VARCHAR,
    severity      VARCHAR,
    message       VARCHAR,
    extra         JSON,                  -- every other field the log carried, as one object
    -- attributes the fingerprint collapses, kept for the advisor
    limit_value   BIGINT,
    offset_value  BIGINT,
    in_list_len   INTEGER,
    values_rows   INTEGER,
    conn_no       BIGINT                 -- line of the first entry of its connection (see README)
);

CREATE TABLE IF NOT EXISTS query_classes (
    class_id      VARCHAR PRIMARY KEY,   -- first 16 hex digits of md5(fingerprint), upper case
    fingerprint   VARCHAR NOT NULL,
    dialect       VARCHAR NOT NULL,
    parsed        BOOLEAN NOT NULL DEFAULT false,  -- sqlglot has looked at it (once per class)
    tables        VARCHAR[],             -- tables the statement reads or writes
    parse_error   VARCHAR                -- why sqlglot could not parse it, when it could not
);

CREATE TABLE IF NOT EXISTS rejects (
    source_id     INTEGER NOT NULL,
    line_no       BIGINT NOT NULL,
    reason        VARCHAR NOT NULL,
    raw           VARCHAR NOT NULL       -- the line, cut to 4096 characters
);
"""


# Steps that bring a store from schema N to N + 1, applied in order inside one transaction. A
# version with no path here is refused with a message (re-ingest), never half-read.
def _extra_as_json(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 2: ``entries.extra`` is a JSON object instead of a MAP (storing a MariaDB entry
    spent 40 % of its time on the MAP; its few distinct JSON texts compress to nearly nothing)."""
    con.execute(
        "ALTER TABLE entries ALTER extra SET DATA TYPE JSON"
        " USING CASE WHEN cardinality(extra) > 0 THEN to_json(extra) END"
    )


def _numbered_connections(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 3: ``entries.conn_no``, numbered once here and then while storing (the analysis
    numbered every entry on each run: 4.2 of its 13 s on 5.9 M PostgreSQL entries)."""
    from perftui.store.connections import renumber

    con.execute("ALTER TABLE entries ADD COLUMN IF NOT EXISTS conn_no BIGINT")
    renumber(con)


MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {
    1: _extra_as_json,
    2: _numbered_connections,
}


class StoreError(Exception):
    """A store file that cannot be used (locked, from a newer perftui, not a DuckDB file)."""


def connect(path: str | Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating when allowed) a perftui store; one-line errors for the usual failures."""
    path = str(path)
    if read_only and not Path(path).exists():
        raise StoreError(f"{path}: no such perftui database (run `perftui ingest LOG…` first)")
    try:
        con = duckdb.connect(path, read_only=read_only, config={"memory_limit": MEMORY_LIMIT})
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise StoreError(
                f"{path}: in use by another process (a running perftui?); close it and retry"
            ) from None
        raise StoreError(
            f"{path}: cannot open as a DuckDB database: {text.splitlines()[0]}"
        ) from None
    except duckdb.Error as exc:
        raise StoreError(f"{path}: cannot open: {str(exc).splitlines()[0]}") from None
    if read_only:
        _check_version(con, path)
    else:
        _create_or_migrate(con, path)
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction around the block: committed when it ends, rolled back when it raises."""
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


@contextmanager
def setting(con: duckdb.DuckDBPyConnection, name: str, value: object) -> Iterator[str]:
    """DuckDB setting ``name`` (one of ours, never user text) at ``value`` inside the block
    (per database: every cursor of ``con`` shares it); yields the value it had, as
    ``current_setting`` shows it, which it gets back afterwards."""
    before = first(con.execute(f"SELECT current_setting('{name}')"))[0]
    con.execute(f"SET {name} = ?", [value])
    try:
        yield before
    finally:
        con.execute(f"SET {name} = ?", [before])


@contextmanager
def single_threaded(con: duckdb.DuckDBPyConnection) -> Iterator[int]:
    """DuckDB on one thread inside the block; yields the thread count it had."""
    with setting(con, "threads", 1) as threads:
        yield int(threads)


@contextmanager
def without_fsst(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """No FSST string compression for what is written inside the block (dictionary and the
    others stay): deciding whether FSST pays was 12 % of storing an entry (1.97 M PostgreSQL
    entries: 3.16 -> 2.78 s of CPU; MariaDB 3.21 -> 2.82 s) for 4-7 % less file. The setting
    it had is given back afterwards. A DuckDB without the setting stores as it always did.
    (Measured with DuckDB 1.5. DuckDB 2 stores strings with its combined dictionary + FSST
    method, which this leaves on; FSST alone off there: same ingest time on 200 MB of
    PostgreSQL log, file 29.9 MB against 36.5 MB with it on.)"""
    try:
        before = first(con.execute("SELECT current_setting('disabled_compression_methods')"))[0]
    except duckdb.Error:
        yield
        return
    methods = {m.strip() for m in str(before or "").split(",") if m.strip()} | {"fsst"}
    con.execute("SET disabled_compression_methods = ?", [",".join(sorted(methods))])
    try:
        yield
    finally:
        con.execute("SET disabled_compression_methods = ?", [before or ""])


def _stored_version(con: duckdb.DuckDBPyConnection) -> int | None:
    has_meta = first(
        con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'")
    )[0]
    if not has_meta:
        return None
    row = first(con.execute("SELECT value FROM meta WHERE key = 'schema_version'"))
    return int(row[0]) if row else None


def _check_version(con: duckdb.DuckDBPyConnection, path: str) -> None:
    version = _stored_version(con)
    if version is None:
        raise StoreError(f"{path}: not a perftui database (no meta table)")
    if version > SCHEMA_VERSION:
        raise StoreError(_newer(path, version))
    if version < SCHEMA_VERSION:
        raise StoreError(_older(path, version))


def _create_or_migrate(con: duckdb.DuckDBPyConnection, path: str) -> None:
    version = _stored_version(con)
    if version is not None and version > SCHEMA_VERSION:
        raise StoreError(_newer(path, version))
    if version is not None and version < SCHEMA_VERSION:
        _migrate(con, path, version)
    if version is None:
        tables = first(con.execute("SELECT count(*) FROM information_schema.tables"))[0]
        if tables:
            raise StoreError(
                f"{path}: a DuckDB file that is not a perftui database; use another --db"
            )
    con.execute(DDL)
    from perftui.profiles.schema import ensure_tables

    ensure_tables(con)
    con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])


def _newer(path: str, version: int) -> str:
    return (
        f"{path}: written by a newer perftui (schema {version} > {SCHEMA_VERSION}); upgrade perftui"
    )


def _migratable(version: int) -> bool:
    return all(v in MIGRATIONS for v in range(version, SCHEMA_VERSION))


def _older(path: str, version: int) -> str:
    """An older schema: how to migrate it, or, with no MIGRATIONS path, to re-ingest."""
    how = (
        "open it once read-write (perftui ingest) to migrate"
        if _migratable(version)
        else "re-ingest the logs into a new --db"
    )
    return (
        f"{path}: written by an older perftui (schema {version}, this one reads "
        f"{SCHEMA_VERSION}); {how}"
    )


def _migrate(con: duckdb.DuckDBPyConnection, path: str, version: int) -> None:
    """Apply the MIGRATIONS steps from ``version`` up, all or nothing."""
    if not _migratable(version):
        raise StoreError(_older(path, version))
    try:
        with transaction(con):
            for v in range(version, SCHEMA_VERSION):
                MIGRATIONS[v](con)
            con.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
            )
    except duckdb.Error as exc:
        raise StoreError(f"{path}: migrating from schema {version} failed: {exc}") from None
