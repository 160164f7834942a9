"""The perftui command as a user runs it: real files, real DuckDB, exit codes, one-line errors."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from perftui.store.results import first
from tests.conftest import sample


def perftui(*args: str, stdin: bytes | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "perftui.cli", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def _no_traceback(proc) -> None:
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()


def test_ingest_reports_reconciled_counts_and_is_idempotent(db_path: Path) -> None:
    log = str(sample("mariadb-slow.log"))
    ingested = perftui("ingest", log, "--db", str(db_path))
    assert ingested.returncode == 0, ingested.stderr
    line = ingested.stderr.decode()
    assert "mysql-slow" in line and "lines read" in line
    second = perftui("ingest", log, "--db", str(db_path))
    assert second.returncode == 0
    assert "already ingested" in second.stderr.decode()
    con = duckdb.connect(str(db_path), read_only=True)
    lines, entries, rejects = first(con.execute("SELECT lines, entries, reject_lines FROM sources"))
    with open(log, "rb") as fh:
        assert lines == sum(1 for _ in fh)
    assert first(con.execute("SELECT sum(n_lines) FROM entries"))[0] + rejects == lines
    assert first(con.execute("SELECT count(*) FROM entries"))[0] == entries


def test_grown_file_adds_only_new_entries(tmp_path: Path, db_path: Path) -> None:
    data = sample("mariadb-slow.log").read_bytes()
    cut = data.index(b"# User@Host", len(data) // 2)  # an entry boundary half way
    log = tmp_path / "slow.log"
    log.write_bytes(data[:cut])
    assert perftui("ingest", str(log), "--db", str(db_path)).returncode == 0
    with log.open("ab") as fh:
        fh.write(data[cut:])
    proc = perftui("ingest", str(log), "--db", str(db_path))
    assert proc.returncode == 0 and "appended" in proc.stderr.decode()
    whole = tmp_path / "whole.duckdb"
    perftui("ingest", str(sample("mariadb-slow.log")), "--db", str(whole))
    # Rounded: a float sum depends on the order DuckDB's threads add the rows in.
    count = "SELECT count(*), round(sum(duration_ms), 6) FROM entries"
    grown = first(duckdb.connect(str(db_path), read_only=True).execute(count))
    assert grown == first(duckdb.connect(str(whole), read_only=True).execute(count))


def test_stdin_and_gzip_are_the_same_source(tmp_path: Path, db_path: Path) -> None:
    data = sample("mariadb-slow.log").read_bytes()
    gz = tmp_path / "slow.log.gz"
    gz.write_bytes(gzip.compress(data))
    assert perftui("ingest", str(gz), "--db", str(db_path)).returncode == 0
    proc = perftui("ingest", "-", "--db", str(db_path), stdin=data)
    assert proc.returncode == 0
    assert "already ingested" in proc.stderr.decode() or "nothing new" in proc.stderr.decode()
    con = duckdb.connect(str(db_path), read_only=True)
    assert first(con.execute("SELECT count(*) FROM sources"))[0] == 1


def test_bad_inputs_get_one_line_errors(tmp_path: Path, db_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 100)
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("dear diary\ntoday I wrote no SQL\n")
    for path, expect in (
        (junk, "binary data"),
        (text, "not a log format"),
        (tmp_path / "missing.log", "no such file"),
    ):
        proc = perftui("ingest", str(path), "--db", str(db_path))
        _no_traceback(proc)
        assert proc.returncode == 2
        err = proc.stderr.decode().strip()
        assert expect in err and len(err.splitlines()) == 1, err
    proc = perftui("ingest", str(empty), "--db", str(db_path))
    assert proc.returncode == 0 and "empty" in proc.stderr.decode()
    wrong = perftui(
        "ingest",
        str(sample("mariadb-slow.log")),
        "--db",
        str(db_path),
        "--log-format",
        "postgres-json",
    )
    _no_traceback(wrong)
    assert wrong.returncode == 2 and "does not match" in wrong.stderr.decode()


def test_not_a_perftui_database_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE x (a INT)")
    con.close()
    proc = perftui("ingest", str(sample("mariadb-slow.log")), "--db", str(other))
    _no_traceback(proc)
    assert proc.returncode == 2 and "not a perftui database" in proc.stderr.decode()


def test_analyze_json_ranks_by_total_time_and_hides_literals(db_path: Path) -> None:
    proc = perftui(
        "analyze", str(sample("mariadb-slow.log")), "--db", str(db_path), "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr.decode()
    report = json.loads(proc.stdout)
    assert report["schema_version"] == 1
    src = report["sources"][0]
    assert src["format"] == "mysql-slow" and src["reconciles"]
    classes = report["query_classes"]
    totals = [c["total_ms"] for c in classes]
    assert totals == sorted(totals, reverse=True)
    top = classes[0]
    assert "orders" in top["tables"]
    assert top["p50_ms"] <= top["p95_ms"] <= top["p99_ms"] <= top["max_ms"]
    assert sum(top["histogram"].values()) == top["count"]
    assert all("sample" not in c for c in classes)
    # No literal from the log leaks: the pending orders lookups used user ids like 17223.
    assert "17223" not in proc.stdout.decode()
    shown = perftui(
        "analyze", "--db", str(db_path), "--format", "json", "--show-literals", "--top", "3"
    )
    data = json.loads(shown.stdout)
    assert len(data["query_classes"]) == 3 and data["query_classes"][0]["sample"]


def test_analyze_markdown_and_text_to_file(tmp_path: Path, db_path: Path) -> None:
    md = tmp_path / "report.md"
    proc = perftui(
        "analyze",
        str(sample("mariadb-slow.log")),
        "--db",
        str(db_path),
        "--format",
        "markdown",
        "--output",
        str(md),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    text = md.read_text()
    assert text.startswith("# perftui report") and "## Profile" in text
    txt = tmp_path / "report.txt"
    assert perftui("analyze", "--db", str(db_path), "--output", str(txt)).returncode == 0
    assert "Profile (ranked by total time)" in txt.read_text()


def test_analyze_time_window(db_path: Path) -> None:
    perftui("ingest", str(sample("mariadb-slow.log")), "--db", str(db_path))
    everything = json.loads(perftui("analyze", "--db", str(db_path), "--format", "json").stdout)
    first = everything["totals"]["first_seen"]
    none = json.loads(
        perftui("analyze", "--db", str(db_path), "--format", "json", "--until", first[:19]).stdout
    )
    assert none["totals"]["queries"] == 0
    bad = perftui("analyze", "--db", str(db_path), "--since", "yesterday-ish")
    _no_traceback(bad)
    assert bad.returncode == 2


def test_database_locked_by_another_process_is_a_clear_message(db_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
            " time.sleep(30)",
            str(db_path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        proc = perftui("ingest", str(sample("mariadb-slow.log")), "--db", str(db_path))
    finally:
        holder.kill()
        holder.wait()
    _no_traceback(proc)
    assert proc.returncode == 2
    assert b"in use by another process" in proc.stderr


def test_newer_schema_version_is_refused(db_path: Path) -> None:
    assert perftui("ingest", str(sample("mariadb-slow.log")), "--db", str(db_path)).returncode == 0
    con = duckdb.connect(str(db_path))
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    proc = perftui("analyze", "--db", str(db_path))
    _no_traceback(proc)
    assert proc.returncode == 2 and b"newer perftui" in proc.stderr


def test_older_schema_without_a_migration_is_refused_and_left_alone(db_path: Path) -> None:
    assert perftui("ingest", str(sample("mariadb-slow.log")), "--db", str(db_path)).returncode == 0
    con = duckdb.connect(str(db_path))
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    con.close()
    for args in (("analyze", "--db", str(db_path)), ("ingest", "-", "--db", str(db_path))):
        proc = perftui(*args)
        _no_traceback(proc)
        assert proc.returncode == 2 and b"older perftui (schema 0" in proc.stderr
        assert b"re-ingest the logs" in proc.stderr
    con = duckdb.connect(str(db_path), read_only=True)
    assert first(con.execute("SELECT value FROM meta WHERE key = 'schema_version'")) == ("0",)


def test_older_schema_is_migrated_in_one_step(db_path: Path, monkeypatch) -> None:
    """A registered migration runs once, read-write, and the file then opens as current."""
    from perftui.store import schema

    assert perftui("ingest", str(sample("mariadb-slow.log")), "--db", str(db_path)).returncode == 0
    con = duckdb.connect(str(db_path))
    con.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(schema.SCHEMA_VERSION - 1)]
    )
    con.execute("ALTER TABLE sources RENAME COLUMN head_bytes TO head_len")
    con.close()

    def rename_back(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("ALTER TABLE sources RENAME COLUMN head_len TO head_bytes")

    monkeypatch.setitem(schema.MIGRATIONS, schema.SCHEMA_VERSION - 1, rename_back)
    with pytest.raises(schema.StoreError, match="open it once read-write"):
        schema.connect(db_path, read_only=True)
    schema.connect(db_path).close()
    con = schema.connect(db_path, read_only=True)
    assert first(con.execute("SELECT count(*) FROM sources WHERE head_bytes > 0")) == (1,)


def test_schema_1_store_with_map_extra_is_migrated_to_json(db_path: Path) -> None:
    """A store written before schema 2 (``extra`` a MAP) opens read-write as schema 2 with the
    same objects as JSON, and reports exactly what a fresh ingest reports."""
    from perftui.store import schema

    log = str(sample("mariadb-slow.log"))
    assert perftui("ingest", log, "--db", str(db_path)).returncode == 0
    fresh = perftui("analyze", "--db", str(db_path), "--format", "json")
    con = duckdb.connect(str(db_path))
    stored = con.execute("SELECT entry_no, extra FROM entries ORDER BY entry_no").fetchall()
    assert sum(1 for _n, extra in stored if extra and '"QC_hit"' in extra) > 100
    con.execute(  # back to what schema 1 wrote
        "ALTER TABLE entries ALTER extra SET DATA TYPE MAP(VARCHAR, VARCHAR)"
        " USING CAST(extra AS MAP(VARCHAR, VARCHAR))"
    )
    con.execute("ALTER TABLE entries DROP COLUMN conn_no")  # schema 3
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.close()

    with pytest.raises(schema.StoreError, match=r"schema 1.*open it once read-write"):
        schema.connect(db_path, read_only=True)
    schema.connect(db_path).close()
    con = duckdb.connect(str(db_path), read_only=True)
    assert first(con.execute("SELECT value FROM meta WHERE key = 'schema_version'")) == (
        str(schema.SCHEMA_VERSION),
    )
    assert con.execute("SELECT entry_no, extra FROM entries ORDER BY entry_no").fetchall() == stored
    con.close()
    migrated = perftui("analyze", "--db", str(db_path), "--format", "json")
    assert migrated.returncode == fresh.returncode == 0

    def report(run: subprocess.CompletedProcess) -> dict:
        return {k: v for k, v in json.loads(run.stdout).items() if k != "generated_at"}

    assert report(migrated) == report(fresh)


def test_analysis_runs_under_its_own_memory_limit(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The analysis after an ingest gets ANALYSIS_MEMORY_LIMIT; the ingest kept MEMORY_LIMIT."""
    from perftui import cli
    from perftui.report import model
    from perftui.store import schema

    monkeypatch.setattr(schema, "ANALYSIS_MEMORY_LIMIT", "500MB")
    build, seen = model.build, []

    def spying(con: duckdb.DuckDBPyConnection, **kw: object) -> model.Report:
        seen.append(first(con.execute("SELECT current_setting('memory_limit')"))[0])
        return build(con, **kw)

    monkeypatch.setattr(model, "build", spying)
    log = str(sample("mariadb-slow.log"))
    assert cli.main(["analyze", log, "--db", str(db_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["query_classes"]
    assert seen == ["476.8 MiB"]  # 500 MB


@pytest.mark.parametrize("failures", [1, 2])
def test_analysis_out_of_duckdb_memory_retries_on_one_thread_then_says_so(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, failures: int
) -> None:
    """Each DuckDB thread holds its own share of a sort or join: out of memory, the analysis
    runs again on one thread (the report comes out, DuckDB's threads given back); out of memory
    on one thread too, a one-line error says which setting to raise, never a traceback."""
    from perftui import cli
    from perftui.report import model

    assert perftui("ingest", str(sample("mariadb-slow.log")), "--db", str(db_path)).returncode == 0
    build, threads = model.build, []

    def short_of_memory(con: duckdb.DuckDBPyConnection, **kw: object) -> model.Report:
        threads.append(int(first(con.execute("SELECT current_setting('threads')"))[0]))
        if len(threads) <= failures:
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")
        return build(con, **kw)

    monkeypatch.setattr(model, "build", short_of_memory)
    code = cli.main(["analyze", "--db", str(db_path), "--format", "json"])
    out, err = capsys.readouterr()
    if failures == 1:
        assert code == 0 and threads[1] == 1 < threads[0]
        assert json.loads(out)["query_classes"]
    else:
        assert code == cli.EXIT_INPUT and out == "" and len(threads) == 2
        assert "PERFTUI_ANALYSIS_MEMORY_LIMIT" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
