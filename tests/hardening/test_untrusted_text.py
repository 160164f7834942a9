"""Log and profile text is untrusted: Rich markup and terminal escapes in every text field reach
the text report, the Markdown and the JSON safely; literals stay out of every export unless asked
for; a DSN's password never shows in output, errors or the DuckDB file; SQL sent to DuckDB gets
user values only as parameters.

"Safely" means: the text and Markdown reports hold no ESC byte and no other control character
(markup such as ``[bold]`` is printed as those characters), a colour terminal gets nothing but
SGR colour codes from perftui, and the JSON keeps each value exactly as logged (``\\u001b``
escaped by the encoder).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from perftui.report import model
from perftui.store.results import first
from tests.conftest import ROOT, sample
from tests.hardening.checks import run_cli

MARKUP = "[bold red]BOLD[/bold red][link=http://evil.example/x]click[/link]"
ESCAPES = (
    "\x1b]0;pwned-title\x07"  # OSC 0: window title
    "\x1b[2J"  # CSI: clear screen
    "\x1b]8;;http://evil.example/\x1b\\here\x1b]8;;\x1b\\"  # OSC 8 hyperlink
    "\x9b31m"  # C1 CSI
)
EVIL = MARKUP + ESCAPES
NO_BRACKETS = "\x1b]0;pwned-title\x07\x9b2J"  # fits fields that end at '[' (MySQL User@Host)
TABLE = '"ord[bold]ers[/bold]<b>\x1b]0;t\x07"'  # a quoted identifier: kept by the fingerprint
COLUMN = '"e[link=http://x]mail\x1b[2J"'
LITERALS = ("SECRET-LITERAL-1", "424242424242", "SECRET-PARAM-7", "SECRET-LIKE-3", "mail@x.invalid")
PASSWORD = "S3cretPw9-not-for-output"
FILE_NAME = "log[bold]x[link=http:x]\x1b]0;t\x07\x1b[2J"  # no '/' possible in a file name

SGR = re.compile(r"\x1b\[[0-9;]*m")
MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: a backslash before punctuation
UNSAFE_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # controls but \t and \n


def jsonlog() -> bytes:
    """A PostgreSQL jsonlog whose user, database, host, application, identifiers and literals are
    hostile; shaped so that most advisor rules fire (their titles quote the identifiers)."""
    lines: list[str] = []

    def record(pid: int, message: str, **more: str) -> None:
        n = len(lines)
        fields = {
            "timestamp": f"2026-11-24 09:31:{n // 1000:02d}.{n % 1000:03d} UTC",
            "user": "app" + EVIL,
            "dbname": "shop" + EVIL,
            "pid": pid,
            "remote_host": "10.0.0.1" + EVIL,
            "session_id": f"s{pid}",
            "error_severity": "LOG",
            "message": message,
            "application_name": "web" + EVIL,
            "backend_type": "client backend",
            **more,
        }
        lines.append(json.dumps(fields))

    for pid in (100, 101, 102):
        record(pid, f"connection authorized: user=app database=shop application_name=web{EVIL}")
        record(
            pid,
            f"duration: 5.0 ms  statement: SELECT * FROM {TABLE} WHERE {COLUMN} = "
            f"'SECRET-LITERAL-1' OR {COLUMN} = 'b' OR {COLUMN} = 'c'",
        )
        for i in range(8):  # N+1 after the statement above
            record(
                pid,
                f"duration: 9.0 ms  statement: SELECT id, total FROM {TABLE} "
                f"WHERE user_id = {424242424242 + i}",
            )
        for _ in range(25):  # a cache candidate
            record(
                pid,
                f"duration: 2.0 ms  statement: SELECT * FROM {TABLE}"
                " WHERE key = 'SECRET-LITERAL-1'",
            )
        record(
            pid,
            f"duration: 30.0 ms  statement: SELECT name FROM {TABLE}"
            " WHERE name LIKE '%SECRET-LIKE-3%'",
        )
        record(
            pid,
            f"duration: 30.0 ms  statement: SELECT id FROM {TABLE} WHERE lower({COLUMN}) = "
            "'mail@x.invalid'",
        )
        record(
            pid,
            f"duration: 30.0 ms  statement: SELECT id FROM {TABLE}"
            " ORDER BY id LIMIT 20 OFFSET 424242",
        )
        record(
            pid,
            f"duration: 4.0 ms  execute <unnamed>: SELECT * FROM {TABLE} WHERE id = $1",
            detail="parameters: $1 = 'SECRET-PARAM-7'",
        )
    return ("\n".join(lines) + "\n").encode()


def slow_log() -> bytes:
    """A MariaDB slow log with a hostile user, host, schema, identifiers and literals."""
    out = ["/usr/sbin/mariadbd, Version: 10.11.19-MariaDB (Debian). started with:"]
    for i in range(30):
        out += [
            "# Time: 261124  9:31:22",
            f"# User@Host: app{NO_BRACKETS}[app] @ host{NO_BRACKETS} [10.0.0.{i % 3}]",
            f"# Thread_id: {70 + i % 3}  Schema: shop  QC_hit: No",
            "# Query_time: 0.002000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 5000",
            f"use `shop{ESCAPES}[bold]`;",
            f"SET timestamp={1795512682 + i};",
            f"SELECT * FROM `t[bold]x{ESCAPES}` WHERE a = 'SECRET-LITERAL-1'"
            f" OR a = {424242424242};",
        ]
    return ("\n".join(out) + "\n").encode()


def pyspy() -> bytes:
    """The sample profile with hostile file paths and function names, and a process frame whose
    command line holds a DSN with a password (py-spy --subprocesses writes those verbatim)."""
    text = sample("profile-shop.pyspy.txt").read_text()
    hostile_name = EVIL.replace(";", ",").replace(" ", "_")  # ';' and ' ' delimit frames
    text = text.replace("shop_app.py", f"shop_app{hostile_name}.py")
    text = text.replace("loyalty_points", "loyalty" + MARKUP.replace(" ", "_"))
    text += (
        f'process 4242:"python app.py --dsn postgresql://app:{PASSWORD}@db.example/shop";'
        "main (app.py:1);execute (psycopg/cursor.py:700) 40\n"
    )
    return text.encode()


@pytest.fixture(scope="module")
def evil_inputs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("evil")
    paths = {
        folder / f"{FILE_NAME}.json": jsonlog(),
        folder / f"{FILE_NAME}.slow.log": slow_log(),
        folder / f"{FILE_NAME}.pyspy.txt": pyspy(),
    }
    for path, data in paths.items():
        path.write_bytes(data)
    return [str(p) for p in paths]


def perftui(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "perftui.cli", *args],
        capture_output=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "400", **(env or {})},
    )


@pytest.fixture(scope="module")
def reports(evil_inputs: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """stdout and stderr of ``perftui analyze`` on the hostile inputs, per format, as a user
    runs it (the first run also ingests), plus the text report written with ``--output``."""
    folder = tmp_path_factory.mktemp("reports")
    db = str(folder / "store.duckdb")
    out: dict[str, str] = {}
    for fmt in ("text", "markdown", "json"):
        proc = perftui("analyze", *evil_inputs, "--db", db, "--format", fmt)
        assert proc.returncode == 0, proc.stderr.decode()
        out[fmt], out[f"{fmt}-stderr"] = proc.stdout.decode(), proc.stderr.decode()
    proc = perftui("analyze", "--db", db, "--format", "json", "--show-literals")
    out["json-literals"] = proc.stdout.decode()
    proc = perftui("analyze", "--db", db, env={"FORCE_COLOR": "1", "TERM": "xterm-256color"})
    out["colour"] = proc.stdout.decode()
    target = folder / "report.txt"
    assert perftui("analyze", "--db", db, "--output", str(target)).returncode == 0
    out["text-file"] = target.read_text(encoding="utf-8")
    out["db"] = db
    return out


@pytest.mark.parametrize(
    "key", ["text", "markdown", "text-file", "text-stderr", "markdown-stderr", "json-stderr"]
)
def test_no_control_characters_reach_text_or_markdown(reports: dict[str, str], key: str) -> None:
    found = UNSAFE_IN_TEXT.findall(reports[key])
    assert not found, f"{key}: {sorted(set(found))!r}"


@pytest.mark.parametrize("key", ["text", "markdown"])
def test_markup_is_shown_literally(reports: dict[str, str], key: str) -> None:
    """Fingerprints, table names and file paths keep their brackets: nothing was interpreted
    (in Markdown, what a viewer shows: the escapes that keep the brackets literal are dropped)."""
    text = reports[key] if key == "text" else MD_ESCAPE.sub(r"\1", reports[key])
    assert '"ord[bold]ers[/bold]' in text  # a fingerprint / table name
    assert "[link=http://x]mail" in text  # a column in a finding
    assert "[bold_red]BOLD[/bold_red][link=http://evil.example/x]click[/link]" in text  # a path


def test_a_colour_terminal_gets_only_colour_codes(reports: dict[str, str]) -> None:
    text = reports["colour"]
    assert SGR.search(text), "FORCE_COLOR gave no colour: the check would prove nothing"
    leftover = SGR.sub("", text)
    assert "\x1b" not in leftover  # no OSC 8 link, title or clear-screen: only SGR from perftui
    assert not UNSAFE_IN_TEXT.findall(leftover)


def test_markdown_neutralises_html_in_data(reports: dict[str, str]) -> None:
    tables = [line for line in reports["markdown"].splitlines() if line.startswith("| ")]
    assert tables and not any("<b>" in line for line in tables)
    assert any("&lt;b>" in line for line in tables)


def test_json_keeps_data_as_data(reports: dict[str, str]) -> None:
    report = json.loads(reports["json"])
    users = {u for c in report["query_classes"] for u in c["users"]}
    databases = {d for c in report["query_classes"] for d in c["databases"]}
    hosts = {h for c in report["query_classes"] for h in c["hosts"]}
    assert "app" + EVIL in users and "shop" + EVIL in databases and "10.0.0.1" + EVIL in hosts
    assert "app" + NO_BRACKETS in users and f"shop{ESCAPES}[bold]" in databases  # slow log
    tables = {t for c in report["query_classes"] for t in c["tables"]}
    assert "ord[bold]ers[/bold]<b>\x1b]0;t\x07" in tables
    assert "\x1b" not in reports["json"]  # the encoder escaped it


def test_json_escapes_c1_controls() -> None:
    """``model.to_json`` writes U+0080–U+009F (which ``ensure_ascii=False`` leaves raw and some
    terminals obey) as ``\\u`` escapes; the values read back unchanged."""
    report = model.Report(
        generated_at=model.dt.datetime(2026, 1, 1),
        window=model.Window(),
        totals=model.queries.Totals(0, 0, 0, 0.0, None, None),
        sources=[],
        classes=[],
        classes_total=0,
        warnings=[EVIL, "naïve ✓ \u2028"],
    )
    text = model.to_json(report)
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]", text)
    assert "naïve ✓" in text  # UTF-8 stays readable
    assert json.loads(text)["warnings"] == [EVIL, "naïve ✓ \u2028"]


def test_cli_json_has_no_raw_c1_controls(reports: dict[str, str]) -> None:
    assert not re.search("[\x7f-\x9f]", reports["json"])


@pytest.mark.parametrize("key", ["text", "markdown", "json", "text-file"])
def test_literals_are_redacted_by_default(reports: dict[str, str], key: str) -> None:
    leaked = [lit for lit in LITERALS if lit in reports[key]]
    assert not leaked, f"{key}: {leaked}"


def test_show_literals_shows_them(reports: dict[str, str]) -> None:
    """The hostile logs do carry the literals: the redaction test above is not vacuous."""
    report = json.loads(reports["json-literals"])
    samples = " ".join(c.get("sample") or "" for c in report["query_classes"])
    assert "SECRET-LITERAL-1" in samples and "424242424242" in samples


@pytest.mark.parametrize("key", ["text", "markdown", "json", "text-stderr", "json-literals"])
def test_profile_command_line_password_is_masked(reports: dict[str, str], key: str) -> None:
    assert PASSWORD not in reports[key]


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_compare_is_safe_too(evil_inputs: list[str], fmt: str) -> None:
    code, out, err = run_cli("compare", evil_inputs[0], evil_inputs[1], "--format", fmt)
    assert code == 0, err
    assert not UNSAFE_IN_TEXT.findall(out + err)
    assert not [lit for lit in LITERALS if lit in out]


# --- DSN passwords --------------------------------------------------------------------------


def _store_holds(db: str, needle: str) -> bool:
    """Whether ``needle`` is in the DuckDB file: in its bytes (WAL too), or in any value of any
    table (strings may be compressed in the file, so the bytes alone prove little)."""
    for path in (Path(db), Path(db + ".wal")):
        if path.exists() and needle.encode() in path.read_bytes():
            return True
    with duckdb.connect(db, read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            hits = first(
                con.execute(
                    f'SELECT count(*) FROM "{table}" t WHERE contains(CAST(t AS VARCHAR), ?)',
                    [needle],
                )
            )[0]
            if hits:
                return True
    return False


def test_store_scan_finds_what_is_there(reports: dict[str, str]) -> None:
    """Positive control for ``_store_holds``: the literals are in the store (it keeps the log)."""
    assert _store_holds(reports["db"], "SECRET-LITERAL-1")
    assert not _store_holds(reports["db"], PASSWORD)  # the profile's command line was masked


def _dsn_runs(db: str, dsn: str) -> Iterator[tuple[int, str]]:
    """(exit code, stdout + stderr) of every command that takes a DSN (in-process: fast)."""
    for args in (
        ("analyze", "--db", db, "--dsn", dsn),
        ("analyze", "--db", db, "--dsn", dsn, "--format", "json"),
        ("verify", "--db", db, "--dsn", dsn),
        ("verify", "--db", db, "--dsn", dsn, "--format", "json"),
        ("compare", db, db, "--dsn", dsn),
    ):
        code, out, err = run_cli(*args)
        yield code, out + err


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://app:{PASSWORD}@127.0.0.1:1/shop",
        f"postgresql://app@127.0.0.1:1/shop?password={PASSWORD}&sslmode=disable",
        f"mysql://app:{PASSWORD}@127.0.0.1:1/shop",
        f"postgresql://app:{PASSWORD}@no-such-host.invalid/shop",
    ],
    ids=["pg-userinfo", "pg-query", "mysql", "bad-host"],
)
def test_unreachable_dsn_password_never_shown(tmp_path: Path, dsn: str) -> None:
    db = str(tmp_path / "store.duckdb")
    assert run_cli("ingest", str(sample("postgresql.log")), "--db", db)[0] == 0
    for code, output in _dsn_runs(db, dsn):
        assert PASSWORD not in output and "Traceback" not in output, output
        assert code == 2, output
    assert not _store_holds(db, PASSWORD)


def test_dsn_error_in_a_real_process(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    assert run_cli("ingest", str(sample("postgresql.log")), "--db", db)[0] == 0
    for command in ("analyze", "verify"):
        proc = perftui(command, "--db", db, "--dsn", f"postgresql://a:{PASSWORD}@127.0.0.1:1/x")
        output = proc.stdout + proc.stderr
        assert proc.returncode == 2 and len(output.strip().splitlines()) == 1, output
        assert PASSWORD.encode() not in output and b"a:***@" in output  # shown redacted


def test_live_postgres_dsn_password_never_stored(tmp_path: Path, pg_dsn: str) -> None:
    """A password the server ignores (trust auth) or refuses: verify runs or fails, either way
    neither its output nor the store holds the password."""
    db = str(tmp_path / "store.duckdb")
    assert run_cli("ingest", str(sample("postgresql.log")), "--db", db)[0] == 0
    dsn = pg_dsn.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    for _code, output in _dsn_runs(db, dsn):
        assert PASSWORD not in output and "Traceback" not in output, output
    assert not _store_holds(db, PASSWORD)


def test_live_mysql_wrong_password_never_shown(tmp_path: Path, mysql_params: dict) -> None:
    db = str(tmp_path / "store.duckdb")
    assert run_cli("ingest", str(sample("mariadb-slow.log")), "--db", db)[0] == 0
    dsn = (
        f"mysql://{mysql_params['user']}:{PASSWORD}@{mysql_params['host']}:"
        f"{mysql_params['port']}/{mysql_params['database']}"
    )
    code, out, err = run_cli("analyze", "--db", db, "--dsn", dsn)
    assert PASSWORD not in out + err and "Traceback" not in err, err
    assert code == 2 and not _store_holds(db, PASSWORD)


# --- SQL sent to DuckDB -----------------------------------------------------------------------

# Every call that sends SQL built at run time (an f-string, a concatenation, a variable) rather
# than a literal, by file and function, with why it is safe: what it splices is perftui's own
# text (table and column names, expressions built in code, integers it computed), never a value
# from a log, a file name or the user. A new site fails the test until reviewed and added here.
REVIEWED_SQL_SITES: dict[tuple[str, str], str] = {
    ("fingerprint.py", "fingerprint_one"): "fingerprint SQL from code; the query is $q",
    ("profiles/ingest.py", "store"): "ids and offsets computed from max() in the store",
    ("profiles/ingest.py", "_aggregate"): "profile id and offset computed from the store",
    ("profiles/ingest.py", "_next_id"): "table / column names are constants of the module",
    ("profiles/queries.py", "profiles"): "column list constant",
    ("profiles/queries.py", "profile"): "column list constant",
    ("profiles/queries.py", "node"): "column list constant",
    ("profiles/queries.py", "children"): "column list constant",
    ("profiles/queries.py", "hottest_path"): "column list constant",
    ("profiles/queries.py", "top_functions"): "`by` checked against ('self', 'total')",
    ("profiles/queries.py", "function"): "column list constant",
    ("profiles/queries.py", "find_functions"): "column list constant; the search text is ?",
    ("profiles/queries.py", "_edges"): "column list constant",
    ("profiles/rules/common.py", "first_hits"): "kind lists and thresholds from code",
    ("profiles/schema.py", "ensure_tables"): "DDL constant",
    ("profiles/schema.py", "forget_profiles"): "table names from the module's own tuple",
    ("rules/cache_candidate.py", "_classes"): "window clause from Window.where (parameters)",
    ("rules/cache_candidate.py", "_write_counts"): "window clause from Window.where (parameters)",
    ("rules/connection_churn.py", "_sources"): "connections CTE built in code, parameters",
    ("rules/connection_churn.py", "_short_classes"): "connections CTE built in code",
    ("rules/deep_offset.py", "detect"): "window clause from Window.where (parameters)",
    ("rules/log_filter.py", "filtering_warnings"): "window clause from Window.where",
    ("rules/n_plus_one.py", "_pairs"): "connections CTE built in code, parameters",
    ("rules/row_by_row_write.py", "_classes"): "connections CTE and ASOF joins from code",
    ("rules/row_by_row_write.py", "_has_tx_events"): "connections CTE built in code",
    ("store/connections.py", "stored"): "kind and end-of-connection SQL constants",
    ("store/connections.py", "renumber"): "SQL constants; the source id is a parameter",
    ("rules/unbounded_result.py", "detect"): "window clause from Window.where (parameters)",
    ("store/queries.py", "class_stats"): "ORDER BY from a mapping; buckets from range(8)",
    ("store/queries.py", "_percentiles_by_pass"): "where built by class_stats (parameters)",
    ("store/queries.py", "_counted_percentiles"): "where from class_stats; ranks are ints",
    ("store/queries.py", "totals"): "window clause from Window.where (parameters)",
    ("store/schema.py", "_create_or_migrate"): "DDL constant",
    ("store/writer.py", "insert_entries"): "the finite-value CASE and attribute names from code",
    ("store/writer.py", "_sql_fingerprints"): "fingerprint SQL built in code per dialect",
    ("store/schema.py", "setting"): "setting names are literals at every call; values are ?",
    ("tui/advisor.py", "analyse_file"): "int() of the thread count",
    ("tui/data.py", "__init__"): "cache schema name constant",
    ("tui/data.py", "build_class_cache"): "cache schema name constant",
    ("tui/data.py", "update_cached_tables"): "cache schema name constant",
    ("tui/data.py", "class_page"): "sort from SORTS mapping; filter text only as parameters",
    ("tui/data.py", "search_classes"): "cache schema name constant; the text is a parameter",
    ("tui/data.py", "search_tables"): "cache schema name constant; the text is a parameter",
    ("tail/headless.py", "print_queries"): "query text constant of the module",
    ("verify_cmd.py", "store_results"): "DDL constant",
    # PostgreSQL (verify, schema_load): DDL and catalog queries are constants or sql.SQL with
    # sql.Identifier; EXPLAIN / PREPARE take a statement sqlglot re-generated from the log's,
    # checked to be exactly one explainable statement (verify.explainable), never run (EXPLAIN
    # without ANALYZE) and inside a transaction that is rolled back.
    ("rules/verify.py", "_explain"): "statement re-generated by sqlglot, one explainable",
    ("rules/verify.py", "_verify_one"): "constants, sql.Identifier, extension names from code",
    ("rules/schema_load.py", "_load_postgres"): "catalog queries constant; schemas as params",
    ("rules/schema_load.py", "_load_mysql"): "%s placeholders, one per schema",
    # Not database calls: sqlglot's Expression.sql(dialect) takes a dialect name.
    ("rules/row_by_row_write.py", "_insert_fix"): "sqlglot .sql(dialect)",
    ("rules/row_by_row_write.py", "_update_fix"): "sqlglot .sql(dialect)",
    ("rules/schema_load.py", "_key_part"): "sqlglot .sql(dialect)",
    ("rules/schema_load.py", "_ddl_create_index"): "sqlglot .sql(dialect)",
    ("rules/sqltext.py", "render"): "sqlglot .sql(dialect)",
    ("export_parquet.py", "export"): "COPY: paths quoted by _sql_string, names and columns from"
    " the store's catalog quoted by _quote, redaction SQL from code, salt hex from secrets",
    ("export_parquet.py", "attach"): "view sources: paths quoted by _sql_string, columns quoted",
    ("export_parquet.py", "_reference_tables"): "the store's DDL constant",
}


def _constant(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add)
        and _constant(node.left)
        and _constant(node.right)
    )


def _dynamic_sql_sites() -> set[tuple[str, str]]:
    package = ROOT / "perftui"
    sites: set[tuple[str, str]] = set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(fn):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in ("execute", "executemany", "sql", "query")
                    and call.args
                    and not _constant(call.args[0])
                ):
                    sites.add((path.relative_to(package).as_posix(), fn.name))
    return sites


def test_sql_built_at_run_time_is_reviewed() -> None:
    unreviewed = sorted(_dynamic_sql_sites() - set(REVIEWED_SQL_SITES))
    assert not unreviewed, (
        "SQL built at run time in these functions: pass user values as parameters, then add the"
        f" site to REVIEWED_SQL_SITES with why it is safe: {unreviewed}"
    )
