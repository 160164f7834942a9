"""``perftui export --parquet DIR`` and analyzing the dataset: what a team that outgrows one
machine does. The dataset must be read directly by other engines (DuckDB, and pyarrow here as
the stand-in for Spark and Trino, which read the same Hive layout) and analyzing it must give
the classes and totals that analyzing the DuckDB file gives.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.dataset as pads
import pytest

from perftui import export_parquet
from perftui.report import model
from perftui.store import schema
from perftui.store.results import first
from tests.conftest import sample
from tests.hardening.checks import assert_clean_failure, run_cli

INPUTS = ("postgresql.log", "mariadb-slow.log", "profile-shop.pyspy.txt")
# Literals the sample logs carry (statements, parameters): gone from a default export.
LOG_LITERALS = ("electronics", "currency", "inactive")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = str(tmp_path_factory.mktemp("store") / "store.duckdb")
    code, _out, err = run_cli("ingest", *(str(sample(n)) for n in INPUTS), "--db", db)
    assert code == 0, err
    return db


def export(db: str, target: Path, *more: str) -> int:
    """``perftui export`` through the module's own parser (what cli.py wires in)."""
    parser = argparse.ArgumentParser(prog="perftui export")
    export_parquet.add_arguments(parser)
    return export_parquet.run(parser.parse_args(["--parquet", str(target), "--db", db, *more]))


@pytest.fixture(scope="module")
def datasets(store: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("datasets")
    out = {"redacted": root / "redacted", "literals": root / "literals"}
    assert export(store, out["redacted"]) == 0
    assert export(store, out["literals"], "--show-literals") == 0
    return out


def _report(con: duckdb.DuckDBPyConnection) -> dict:
    return model.to_dict(model.build(con))


@pytest.fixture(scope="module")
def from_store(store: str) -> dict:
    with schema.connect(store) as con:
        return _report(con)


def test_layout_is_hive_partitioned(datasets: dict[str, Path]) -> None:
    root = datasets["redacted"]
    manifest = json.loads((root / export_parquet.MANIFEST).read_text())
    assert manifest["schema_version"] == schema.SCHEMA_VERSION and manifest["literals"] is False
    assert manifest["tables"]["entries"]["partition_by"] == ["format", "date"]
    days = sorted(p.relative_to(root).as_posix() for p in (root / "entries").glob("*/*"))
    assert "entries/format=postgres-stderr/date=2026-11-24" in days
    assert "entries/format=mysql-slow/date=2026-11-24" in days
    assert (root / "query_classes" / "dialect=postgres").is_dir()
    assert (root / "sources" / "format=pyspy-raw").is_dir()
    assert (root / "rejects" / "format=mysql-slow").is_dir()


@pytest.mark.parametrize("kind", ["redacted", "literals"])
def test_other_engines_read_it_directly(datasets: dict[str, Path], store: str, kind: str) -> None:
    root = datasets[kind]
    with duckdb.connect(store, read_only=True) as con:
        want = dict(
            con.execute(
                "SELECT s.format, count(*) FROM entries JOIN sources s USING (source_id) GROUP BY 1"
            ).fetchall()
        )
    glob = str(root / "entries" / "**" / "*.parquet")
    got = dict(
        duckdb.sql(
            "SELECT format, count(*) FROM read_parquet(?, hive_partitioning = true) GROUP BY 1",
            params=[glob],
        ).fetchall()
    )
    assert got == want
    arrow = pads.dataset(root / "entries", format="parquet", partitioning="hive").to_table()
    assert arrow.num_rows == sum(want.values())
    assert {"format", "date", "query", "extra", "ts"} <= set(arrow.column_names)


@pytest.mark.parametrize("kind", ["redacted", "literals"])
def test_analyzing_the_dataset_gives_the_same_classes_and_totals(
    datasets: dict[str, Path], from_store: dict, kind: str
) -> None:
    with export_parquet.connect_dataset(datasets[kind]) as con:
        got = _report(con)
    assert got["totals"] == from_store["totals"]
    assert got["sources"] == from_store["sources"]
    assert got["query_classes"] == from_store["query_classes"]  # ids, stats, tables, hosts…
    if kind == "literals":  # everything the rules read is there: the same advice
        assert got["findings"] == from_store["findings"]


def test_redacted_dataset_holds_no_literals(datasets: dict[str, Path], store: str) -> None:
    with duckdb.connect(store, read_only=True) as con:
        assert all(_holds(con, lit) for lit in LOG_LITERALS)  # the store has them
    with export_parquet.connect_dataset(datasets["literals"]) as con:
        assert all(_holds(con, lit) for lit in LOG_LITERALS)  # --show-literals keeps them
    with export_parquet.connect_dataset(datasets["redacted"]) as con:
        assert not [lit for lit in LOG_LITERALS if _holds(con, lit)]
        # Equal statements (with equal parameters) still look equal: repeats can be counted.
        distinct = first(con.execute("SELECT count(DISTINCT query) FROM entries"))[0]
    with duckdb.connect(store, read_only=True) as con:
        want = first(
            con.execute(
                "SELECT count(DISTINCT (query, coalesce(params, ''))) FROM entries"
                " WHERE query IS NOT NULL"
            )
        )[0]
    assert distinct == want


def _holds(con: duckdb.DuckDBPyConnection, needle: str) -> bool:
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    tables += [
        r[0]
        for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    ]
    return any(
        first(
            con.execute(
                f'SELECT count(*) FROM "{t}" x WHERE contains(CAST(x AS VARCHAR), ?)', [needle]
            )
        )[0]
        for t in tables
    )


def test_export_refuses_to_clobber(store: str, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert export(store, other) == 2 and (other / "notes.txt").exists()
    target = tmp_path / "ds"
    assert export(store, target) == 0
    assert export(store, target) == 2  # a dataset is there: needs --overwrite
    assert export(store, target, "--overwrite", "--show-literals") == 0
    manifest = json.loads((target / export_parquet.MANIFEST).read_text())
    assert manifest["literals"] is True
    assert export(str(tmp_path / "missing.duckdb"), tmp_path / "x") == 2


def test_reading_a_dataset_from_another_schema_is_refused(
    datasets: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(export_parquet.DatasetError, match="not a perftui Parquet dataset"):
        export_parquet.connect_dataset(tmp_path)
    copy = tmp_path / "old"
    copy.mkdir()
    manifest = json.loads((datasets["redacted"] / export_parquet.MANIFEST).read_text())
    manifest["schema_version"] = schema.SCHEMA_VERSION + 1
    (copy / export_parquet.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(export_parquet.DatasetError, match="export it again"):
        export_parquet.connect_dataset(copy)


def test_cli_export_and_analyze_parquet(store: str, from_store: dict, tmp_path: Path) -> None:
    target = tmp_path / "ds"
    code, _out, err = run_cli("export", "--parquet", str(target), "--db", store)
    assert code == 0, err
    code, out, err = run_cli("analyze", "--parquet", str(target), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["totals"] == from_store["totals"]
    assert [c["id"] for c in report["query_classes"]] == [
        c["id"] for c in from_store["query_classes"]
    ]


def _damage_pages(dataset: Path) -> None:
    """Garble the first half of every entries file, footer left whole: the dataset opens, and
    the damage only shows when the report reads the rows."""
    for path in (dataset / "entries").rglob("*.parquet"):
        data = bytearray(path.read_bytes())
        for i in range(4, len(data) // 2):
            data[i] = (data[i] * 7 + 13) % 256  # changes every byte
        path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "kind",
    ["missing", "empty", "a file", "bad manifest", "no footers", "damaged pages", "+FILE", "+--db"],
)
def test_analyze_parquet_on_a_bad_dataset_is_one_line(
    datasets: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "ds"
    more: list[str] = []
    if kind == "empty":
        target.mkdir()
    elif kind == "a file":
        target.write_text("not a directory")
    elif kind == "bad manifest":
        target.mkdir()
        (target / export_parquet.MANIFEST).write_text("{not json")
    elif kind in ("no footers", "damaged pages", "+FILE", "+--db"):
        shutil.copytree(datasets["redacted"], target)
        if kind == "no footers":
            for path in target.rglob("*.parquet"):
                path.write_bytes(b"garbage, not parquet")
        elif kind == "damaged pages":
            _damage_pages(target)
        elif kind == "+FILE":
            more = [str(sample("postgresql.log"))]
        else:  # a store named too: which one to report on is not for perftui to guess
            more = ["--db", str(tmp_path / "other.duckdb")]
    code, _out, err = run_cli("analyze", "--parquet", str(target), *more)
    assert_clean_failure(code, err)
    if kind == "+--db":
        assert "give one" in err and not (tmp_path / "other.duckdb").exists()
