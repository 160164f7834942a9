"""``perftui export --parquet DIR``: the store as a Parquet dataset DuckDB, Spark or Trino read
directly, and ``connect_dataset`` to analyze such a dataset as if it were the DuckDB file.

A team that outgrows one machine exports each machine's store and queries the files together
(``read_parquet('DIR/entries/**/*.parquet', hive_partitioning = true)``, a Spark or Trino table
over ``DIR/entries``). Layout (Hive partitions, Spark's ``__HIVE_DEFAULT_PARTITION__`` for NULL):

    DIR/perftui-dataset.json                      what, from which schema, literals or not
    DIR/entries/format=…/date=YYYY-MM-DD/*.parquet  partitioned by source format and UTC day
    DIR/query_classes/dialect=…/*.parquet
    DIR/sources/format=…/*.parquet
    DIR/rejects/format=…/*.parquet
    DIR/<profile tables>/data.parquet             profiles, frames, stacks, flame_nodes, …

The partition columns ``format`` and ``date`` of entries and rejects are not store columns.
Literals are left out unless ``--show-literals`` (like every perftui export): statements keep
their text with each literal as ``?`` plus a tag (``/* perftui:1a2b… */``) that is equal for
equal statements and parameters, so rules that count repeats still can; parameters, plans, raw
rejected lines and the text-bearing ``extra`` keys are dropped; messages keep their first line,
literals masked. The tag is a salted hash with a salt thrown away after the export.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import shutil
import sys
from pathlib import Path

import duckdb

from perftui import __version__
from perftui import fingerprint as fpmod
from perftui.profiles.schema import ensure_tables
from perftui.rules import parsing
from perftui.store import schema
from perftui.store.results import first
from perftui.textsafe import clean

DEFAULT_DB = "perftui.duckdb"  # as the other commands
MANIFEST = "perftui-dataset.json"
DATASET_VERSION = 1
EXIT_OK, EXIT_INPUT = 0, 2

# Store table -> Hive partition columns: an expression over the row ``e`` and its source ``s``,
# or None for a column of the table itself.
PARTITIONS: dict[str, dict[str, str | None]] = {
    "entries": {"format": "s.format", "date": "CAST(e.ts AS DATE)"},
    "query_classes": {"dialect": None},
    "sources": {"format": None},
    "rejects": {"format": "s.format"},
}
# Tables whose rows are joined to their source (``s``) for the partition or the redaction.
WITH_SOURCE = frozenset({"entries", "rejects"})
# ``extra`` keys that carry statement or message text (left out without literals).
TEXT_EXTRA_KEYS = ("detail", "hint", "context", "query", "statement", "insert_id", "last_insert_id")


class DatasetError(Exception):
    """A dataset perftui cannot write or read; the message is one line."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export`` sub-command's options."""
    parser.add_argument("--parquet", required=True, metavar="DIR", help="dataset directory")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"DuckDB file (default ./{DEFAULT_DB})")
    parser.add_argument(
        "--show-literals",
        action="store_true",
        help="keep statements, parameters, plans and raw lines as logged (literals included)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a perftui dataset already in DIR"
    )


def run(args: argparse.Namespace) -> int:
    """``perftui export``: one line per table on stderr; 0, or 2 with one line on error."""
    try:
        counts = export(
            args.db, Path(args.parquet), literals=args.show_literals, overwrite=args.overwrite
        )
    except (DatasetError, schema.StoreError) as exc:
        _say(f"perftui: {exc}")
        return EXIT_INPUT
    except duckdb.Error as exc:
        _say(f"perftui: export failed: {str(exc).splitlines()[0]}")
        return EXIT_INPUT
    for table, rows in counts.items():
        parts = PARTITIONS.get(table)
        how = f" (partitioned by {', '.join(parts)})" if parts else ""
        _say(f"{table}: {rows:,} rows -> {Path(args.parquet) / table}{how}")
    if not args.show_literals:
        _say("literals left out (statements keep '?'); --show-literals exports them as logged")
    return EXIT_OK


def _say(text: str) -> None:
    sys.stderr.write(clean(text, one_line=True) + "\n")


def _sql_string(text: str) -> str:
    """A SQL string literal (COPY and read_parquet take no parameters for their paths)."""
    return "'" + str(text).replace("'", "''") + "'"


def _reference_tables() -> dict[str, list[tuple[str, str]]]:
    """Every store table's columns and types, from the store's own DDL (one source of truth)."""
    with duckdb.connect() as ref:
        ref.execute(schema.DDL)
        ensure_tables(ref)
        return _tables(ref)


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """Table -> [(column, type)] of a store (``meta`` left out: the manifest says it)."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'main' AND table_name <> 'meta'"
        " ORDER BY table_name, ordinal_position"
    ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, typ in rows:
        tables.setdefault(table, []).append((column, typ))
    return tables


def _redacted(table: str, salt: str) -> dict[str, str]:
    """Column -> expression replacing it when literals are left out (``e``: the row, ``s``: its
    source)."""
    if table == "entries":

        def lit(expr: str) -> str:
            return (
                f"CASE WHEN s.dialect = 'mysql' THEN {fpmod.literals_sql(expr, 'mysql')}"
                f" ELSE {fpmod.literals_sql(expr, 'postgres')} END"
            )

        keys = ", ".join(_sql_string(k) for k in TEXT_EXTRA_KEYS)
        return {
            "query": f"CASE WHEN e.query IS NULL THEN NULL ELSE {lit('e.query')}"
            f" || ' /* perftui:' || left(md5({_sql_string(salt)} || e.query"
            " || coalesce(e.params, '')), 12) || ' */' END",
            "params": "CAST(NULL AS VARCHAR)",
            "plan": "CAST(NULL AS VARCHAR)",
            "message": fpmod.literals_sql("split_part(e.message, chr(10), 1)", "mysql"),
            "extra": "CAST(nullif(to_json(map_from_entries(list_filter(map_entries("
            "CAST(e.extra AS MAP(VARCHAR, VARCHAR))),"
            f" lambda x: x.key NOT IN ({keys})))), '{{}}') AS JSON)",
        }
    if table == "rejects":
        return {"raw": "''"}
    if table == "query_classes":
        return {"parse_error": fpmod.literals_sql("e.parse_error", "mysql")}
    return {}


def export(db: str, target: Path, *, literals: bool, overwrite: bool) -> dict[str, int]:
    """Write the store at ``db`` as a dataset in ``target``; rows per table."""
    if not Path(db).exists():
        raise DatasetError(f"{db}: no such perftui database (run `perftui ingest LOG…` first)")
    _prepare(target, overwrite)
    salt = secrets.token_hex(16)
    with schema.connect(db) as con:
        parsing.ensure_parsed(con)  # the dataset carries every class's parse, read-only later
        tables = _tables(con)
        counts: dict[str, int] = {}
        for table, columns in tables.items():
            replace = {} if literals else _redacted(table, salt)
            cols = ", ".join(
                f"{replace.get(c, 'e.' + _quote(c))} AS {_quote(c)}" for c, _t in columns
            )
            parts = PARTITIONS.get(table, {})
            join = " JOIN sources s USING (source_id)" if table in WITH_SOURCE else ""
            part_cols = "".join(f", {x} AS {name}" for name, x in parts.items() if x is not None)
            select = f"SELECT {cols}{part_cols} FROM {_quote(table)} e{join}"
            rows = first(con.execute(f"SELECT count(*) FROM {_quote(table)}"))[0]
            folder = target / table
            if rows and parts:  # rows without a time go to Hive's NULL partition
                con.execute(
                    f"COPY ({select}) TO {_sql_string(folder)}"
                    f" (FORMAT PARQUET, PARTITION_BY ({', '.join(parts)}), COMPRESSION zstd)"
                )
            else:  # one file; an empty table still has its schema on disk
                folder.mkdir(parents=True, exist_ok=True)
                con.execute(
                    f"COPY (SELECT {cols} FROM {_quote(table)} e{join}) TO"
                    f" {_sql_string(folder / 'data.parquet')} (FORMAT PARQUET, COMPRESSION zstd)"
                )
            counts[table] = rows
    manifest = {
        "perftui_dataset": DATASET_VERSION,
        "schema_version": schema.SCHEMA_VERSION,
        "generator": f"perftui {__version__}",
        "exported_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat() + "Z",
        "literals": literals,
        "tables": {
            t: {"rows": n, "partition_by": list(PARTITIONS.get(t, {}))} for t, n in counts.items()
        },
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _prepare(target: Path, overwrite: bool) -> None:
    """An empty (or new) directory, or a perftui dataset replaced when ``overwrite``."""
    if target.exists() and not target.is_dir():
        raise DatasetError(f"{target}: exists and is not a directory")
    if not target.exists() or not any(target.iterdir()):
        target.mkdir(parents=True, exist_ok=True)
        return
    old = read_manifest(target) if (target / MANIFEST).exists() else None
    if old is None:
        raise DatasetError(f"{target}: not empty and not a perftui dataset; choose another DIR")
    if not overwrite:
        raise DatasetError(f"{target}: holds a perftui dataset; add --overwrite to replace it")
    for table in old.get("tables", {}):
        shutil.rmtree(target / Path(table).name, ignore_errors=True)
    (target / MANIFEST).unlink()


def read_manifest(path: Path) -> dict:
    """The dataset's manifest, or a one-line DatasetError saying why it cannot be used."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: not a perftui Parquet dataset (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path / MANIFEST}: unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("perftui_dataset") != DATASET_VERSION:
        raise DatasetError(f"{path}: not a perftui Parquet dataset this perftui reads")
    version = manifest.get("schema_version")
    if version != schema.SCHEMA_VERSION:
        raise DatasetError(
            f"{path}: exported with store schema {version}, this perftui reads"
            f" {schema.SCHEMA_VERSION}; export it again with this perftui"
        )
    return manifest


def connect_dataset(path: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose tables read the dataset at ``path``: views with the store's
    table names and column types over ``read_parquet(…, hive_partitioning = true)``, so the
    report, the advisor and the TUI's queries run on it unchanged. ``query_classes`` is a copy
    (small) because the advisor records its per-class parse there."""
    root = Path(path)
    manifest = read_manifest(root)
    con = duckdb.connect(config={"memory_limit": schema.MEMORY_LIMIT})
    try:
        con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute(
            "INSERT INTO meta VALUES ('schema_version', ?), ('dataset', ?)",
            [str(schema.SCHEMA_VERSION), str(root)],
        )
        reference = _reference_tables()
        exported = manifest.get("tables", {})
        for table in sorted(set(reference) | set(exported)):
            attach(con, root, table, reference.get(table), table in exported)
    except duckdb.Error as exc:
        con.close()
        raise DatasetError(f"{root}: cannot read: {str(exc).splitlines()[0]}") from None
    except BaseException:
        con.close()
        raise
    return con


def attach(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    table: str,
    columns: list[tuple[str, str]] | None,
    exported: bool,
) -> None:
    """Make ``table`` readable in ``con``: a view over its files (``columns``: the store's
    names and types, cast so the partition-typed values match), or an empty table."""
    name = _quote(table)
    if not exported:
        if columns:
            cols = ", ".join(f"{_quote(c)} {t}" for c, t in columns)
            con.execute(f"CREATE TABLE {name} ({cols})")
        return
    files = _sql_string((root / Path(table).name / "**" / "*.parquet").as_posix())
    source = f"read_parquet({files}, hive_partitioning = true, union_by_name = true)"
    select = (
        ", ".join(f"CAST({_quote(c)} AS {t}) AS {_quote(c)}" for c, t in columns)
        if columns
        else "*"
    )
    kind = "TABLE" if table == "query_classes" else "VIEW"
    con.execute(f"CREATE {kind} {name} AS SELECT {select} FROM {source}")
