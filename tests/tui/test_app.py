"""The app driven through Textual's pilot on stores built from the committed real logs."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from perftui.rules.base import Finding
from perftui.store import schema
from perftui.store.results import first
from perftui.tui import data
from perftui.tui.app import PerftuiApp
from perftui.tui.empty import EmptyScreen
from perftui.tui.findings import FindingsScreen
from perftui.tui.flame import FlameGraph, FlameScreen
from perftui.tui.functions import FunctionsScreen
from perftui.tui.help import HelpScreen
from perftui.tui.progress import IngestProgress
from perftui.tui.queries import ClassTable, QueriesScreen
from perftui.tui.query_detail import QueryDetailScreen, mask_literals
from tests.conftest import sample
from tests.tui.helpers import (
    make_app,
    options_text,
    press,
    run_async,
    screen_text,
    settle,
    table_rows,
    text_of,
)

SIZE = (80, 24)


def _store_rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Ground truth straight from the store (opened the way the app opens it)."""
    with schema.connect(db, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


# ---------------------------------------------------------------------------------- overview


@run_async
async def test_overview_shows_totals_top_classes_and_findings(sample_db: Path) -> None:
    queries, classes = _store_rows(
        sample_db,
        "SELECT count(*), count(DISTINCT class_id) FROM entries WHERE kind = 'query'",
    )[0]
    top_id = _store_rows(
        sample_db,
        "SELECT class_id FROM entries WHERE kind = 'query' GROUP BY 1"
        " ORDER BY sum(duration_ms) DESC LIMIT 1",
    )[0][0]
    app = make_app(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        totals = text_of(app.screen.query_one("#totals"))
        assert f"{queries:,} queries in {classes:,} classes" in totals
        top = app.screen.query_one("#top-classes")
        assert top.row_count == 10
        assert top.coordinate_to_cell_key((0, 0)).row_key.value == top_id
        assert app.analysis is not None and app.analysis.findings, "the sample logs have findings"
        counts = text_of(app.screen.query_one("#severity-counts"))
        worst = app.analysis.findings[0].severity
        assert worst in counts
        findings = table_rows(app.screen.query_one("#top-findings"))
        assert findings[0][2].startswith(app.analysis.findings[0].title[:30])
        # Enter on the top class opens its detail.
        app.screen.query_one("#top-classes").focus()
        await press(pilot, "enter")
        assert isinstance(app.screen, QueryDetailScreen)
        assert app.screen.class_id == top_id


# ---------------------------------------------------------------------------------- queries


@run_async
async def test_queries_sort_filter_and_page(sample_db: Path) -> None:
    app = make_app(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "2")
        screen = app.screen
        assert isinstance(screen, QueriesScreen)
        table = screen.query_one("#classes", ClassTable)
        page = screen.page
        assert page is not None
        # One screenful only, never every class.
        assert 0 < table.row_count <= table.size.height - 1 < page.matching
        totals = [r.total_ms for r in page.rows]
        assert totals == sorted(totals, reverse=True)

        await press(pilot, "c")
        counts = [r.count for r in screen.page.rows]
        assert counts == sorted(counts, reverse=True)
        most = _store_rows(
            sample_db,
            "SELECT max(n) FROM"
            " (SELECT count(*) n FROM entries WHERE kind = 'query' GROUP BY class_id)",
        )[0][0]
        assert counts[0] == most
        assert "sorted by count" in text_of(screen.query_one("#page-status"))
        await press(pilot, "c")  # again: ascending
        counts = [r.count for r in screen.page.rows]
        assert counts == sorted(counts)

        await press(pilot, "p")
        p95 = [r.p95_ms for r in screen.page.rows]
        assert p95 == sorted(p95, reverse=True)
        await press(pilot, "w")
        assert screen.sort == "rows"
        await press(pilot, "t")
        assert screen.sort == "time"

        # Paging: page down shows the next window, status says where we are.
        first = [r.class_id for r in screen.page.rows]
        await press(pilot, "pagedown")
        second = [r.class_id for r in screen.page.rows]
        assert screen.page.offset == len(first)
        assert not set(first) & set(second)
        assert f"classes {len(first) + 1}–" in text_of(screen.query_one("#page-status"))
        await press(pilot, "pageup")
        assert [r.class_id for r in screen.page.rows] == first
        # Down past the last row slides the window by one.
        for _ in range(table.row_count):
            await press(pilot, "down")
        assert screen.page.offset == 1

        # Filter: free text, table, user, database.
        await press(pilot, "slash")
        await pilot.press(*"settings")
        await press(pilot, "enter")
        rows = screen.page.rows
        assert rows and all("settings" in r.fingerprint for r in rows)
        screen.set_filter("table:orders user:root")
        await settle(pilot)
        rows = screen.page.rows
        assert rows and all("orders" in r.tables for r in rows)
        mysql = {
            r[0]
            for r in _store_rows(
                sample_db, "SELECT DISTINCT class_id FROM entries WHERE user_name = 'root'"
            )
        }
        assert {r.class_id for r in rows} <= mysql
        screen.set_filter("db:test")
        await settle(pilot)
        pg = {
            r[0]
            for r in _store_rows(
                sample_db, "SELECT DISTINCT class_id FROM entries WHERE db = 'test'"
            )
        }
        assert {r.class_id for r in screen.page.rows} <= pg
        screen.set_filter("no such thing at all")
        await settle(pilot)
        assert screen.page.matching == 0
        assert "no class matches" in text_of(screen.query_one("#page-status"))
        await press(pilot, "escape")  # clears the filter
        assert screen.page.matching > 20

        # Clicking a header sorts by it.
        x = 0
        for key, column in table.columns.items():
            if key.value == "count":
                break
            x += column.get_render_width(table)
        await pilot.click(ClassTable, offset=(x + 2, 0))
        await settle(pilot)
        assert screen.sort == "count"


def test_filter_is_parameterised() -> None:
    flt = data.ClassFilter.parse("x') OR 1=1 -- table:o'rders user:a%b db:_")
    where, params = flt.where()
    assert "1=1" not in where and "o'rders" not in where
    assert params == ["x') OR 1=1 --", "x') OR 1=1 --", "o'rders", "a%b", "_"]


# ---------------------------------------------------------------------------------- detail


@run_async
async def test_query_detail_sql_stats_samples_and_plan(sample_db: Path) -> None:
    # The MariaDB class with a logged query plan and literals in its statements.
    class_id, query = _store_rows(
        sample_db,
        "SELECT class_id, arg_max(query, duration_ms) FROM entries"
        " WHERE plan IS NOT NULL AND query LIKE '%''%' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
    )[0]
    literal = re.search(r"'[^']+'", query).group(0)
    app = make_app(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_class(class_id)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, QueryDetailScreen)
        sql = text_of(screen.query_one("#detail-sql"))
        assert "SELECT" in sql and "\n" in sql.strip()  # pretty-printed on several lines
        stats = text_of(screen.query_one("#detail-stats"))
        assert "p50 / p95" in stats and "rows exam." in stats
        hist = text_of(screen.query_one("#detail-histogram"))
        assert "latency" in hist and "█" in hist
        samples = text_of(screen.query_one("#detail-samples"))
        assert "literals hidden" in samples
        assert literal not in samples
        await press(pilot, "l")
        samples = text_of(screen.query_one("#detail-samples"))
        assert literal in samples and "literals hidden" not in samples
        await press(pilot, "l")
        assert literal not in text_of(screen.query_one("#detail-samples"))
        plan = screen.query_one("#detail-plan")
        assert plan.display and "Full_scan" in text_of(plan)
        await press(pilot, "escape")
        assert not isinstance(app.screen, QueryDetailScreen)


@run_async
async def test_detail_findings_copy_and_export(
    sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        f = next(f for f in app.analysis.findings if f.query_class_ids and f.fix)
        app.open_class(f.query_class_ids[0])
        await settle(pilot)
        shown = text_of(app.screen.query_one("#detail-findings"))
        assert f.title in shown
        await press(pilot, "y")
        assert f.fix.strip().splitlines()[0] in app.clipboard
        await press(pilot, "e")
        written = (tmp_path / f"perftui-fix-{f.query_class_ids[0]}.sql").read_text()
        assert f.fix.strip().splitlines()[0] in written


def test_mask_literals() -> None:
    masked = mask_literals("SELECT a FROM t_2 WHERE b = 'x''y' AND c IN (1, 2.5) AND d = -3")
    assert masked == "SELECT a FROM t_2 WHERE b = ? AND c IN (?, ?) AND d = ?"


# ---------------------------------------------------------------------------------- findings


@run_async
async def test_findings_grouped_ranked_and_followed_to_class(sample_db: Path) -> None:
    app = make_app(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "3")
        screen = app.screen
        assert isinstance(screen, FindingsScreen)
        options = options_text(screen.query_one("#finding-list"))
        groups = data.grouped_by_rule(app.analysis.findings)
        assert options[0].startswith(groups[0][0])  # a rule heading first
        # Inside each group, by impact.
        for _rule, fs in groups:
            impacts = [f.impact_ms for f in fs]
            assert impacts == sorted(impacts, reverse=True)
        f = screen.finding()
        assert f is not None
        detail = text_of(screen.query_one("#finding-text"))
        assert f.title in detail and "Fix" in detail
        await press(pilot, "enter")
        assert isinstance(app.screen, QueryDetailScreen)
        assert app.screen.class_id == f.query_class_ids[0]
        await press(pilot, "escape")
        assert app.screen is screen
        await press(pilot, "down")
        assert screen.finding() is not None


@run_async
async def test_cross_links_db_wait_to_class_and_class_to_call_site(profile_db: Path) -> None:
    """Profile findings link classes and call sites (``Finding.links``); follow both ways."""
    class_id = _store_rows(profile_db, "SELECT class_id FROM entries WHERE kind = 'query' LIMIT 1")[
        0
    ][0]
    app = make_app(profile_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        db_wait = Finding(
            rule="db-wait",
            severity="high",
            title="86% of samples wait on the database",
            detail="posts_for (app.py:14) waits in psycopg",
            fix="see the query findings",
            impact_ms=786.0,
            links=[{"query_class_id": class_id}],
        )
        n_plus_one = Finding(
            rule="n-plus-one",
            severity="high",
            title="N+1",
            detail="one query per row",
            fix="SELECT … WHERE id = ANY(?)",
            impact_ms=500.0,
            query_class_ids=[class_id],
            links=[{"function": "posts_for", "file": "app.py", "line": 14}],
        )
        analysis = data.Analysis([db_wait, n_plus_one])
        app.analysis = analysis
        app.findings_ready.publish(analysis)
        await press(pilot, "3")
        screen = app.screen
        screen.select_finding(0)
        await settle(pilot)
        assert screen.finding() is db_wait
        await press(pilot, "enter")
        assert isinstance(app.screen, QueryDetailScreen) and app.screen.class_id == class_id
        shown = text_of(app.screen.query_one("#detail-findings"))
        assert "call site posts_for (app.py:14)" in shown
        await press(pilot, "k")
        assert isinstance(app.screen, FunctionsScreen)
        await settle(pilot)
        assert app.screen.sandwich is not None
        assert app.screen.sandwich.func.function == "posts_for"


# ---------------------------------------------------------------------------------- profile


@run_async
async def test_flame_graph_zoom_search_and_threads(profile_db: Path) -> None:
    app = make_app(profile_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "4")
        screen = app.screen
        assert isinstance(screen, FlameScreen)
        graph = screen.query_one("#flame", FlameGraph)
        shown = screen_text(app)
        assert "MainThread" in shown and "build_report" in shown
        assert graph.top.kind == "root"
        # Down the levels to posts_for, then zoom.
        for _ in range(5):
            await press(pilot, "down")
        assert graph.selected.function == "posts_for"
        status = text_of(screen.query_one("#flame-status"))
        assert "posts_for (app.py:14)" in status and "total 85.8%" in status
        await press(pilot, "enter")
        assert graph.top.function == "posts_for"
        assert "Connection.wait" in screen_text(app)
        assert "zoom:" in text_of(screen.query_one("#flame-context"))
        await press(pilot, "escape")
        assert graph.top.kind == "root"
        assert graph.selected.function == "posts_for"  # zooming out keeps the place
        # Levels and siblings: up to the thread frame, right to the next thread.
        await press(pilot, "up", "up", "up", "up")
        assert graph.selected.function == "thread (1): MainThread"
        await press(pilot, "right")
        assert graph.selected.function == "thread (2): worker"
        # Search lights matches and gives their share.
        await press(pilot, "slash")
        await pilot.press(*"fib")
        await press(pilot, "enter")
        assert graph.search == "fib"
        assert "'fib': 3 frames, 4.4% of the view" in text_of(screen.query_one("#flame-status"))
        # Threads.
        await press(pilot, "t")
        assert graph.top.function == "thread (1): MainThread"
        await press(pilot, "t")
        assert graph.top.function == "thread (2): worker"
        # Clicking a frame zooms into it.
        await press(pilot, "t")
        await pilot.click(FlameGraph, offset=(2, 3))
        await settle(pilot)
        assert graph.top.depth == 3


@run_async
async def test_functions_sandwich(profile_db: Path) -> None:
    app = make_app(profile_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "5")
        screen = app.screen
        assert isinstance(screen, FunctionsScreen)
        rows = table_rows(screen.query_one("#functions"))
        assert rows[0][2] == "Connection.wait" and rows[0][0] == "85.8%"
        await press(pilot, "enter")
        sandwich = options_text(screen.query_one("#sandwich"))
        assert sandwich[0] == "Callers of Connection.wait"
        assert any("Connection.execute" in line for line in sandwich)
        # Enter on the caller moves the sandwich to it; backspace returns.
        await press(pilot, "down", "enter")
        assert screen.sandwich.func.function == "Connection.execute"
        await press(pilot, "backspace")
        assert screen.sandwich.func.function == "Connection.wait"
        await press(pilot, "s")
        assert screen.by == "total"
        rows = table_rows(screen.query_one("#functions"))
        assert rows[0][2] == "<module>"  # by total time; thread frames are not functions
        await press(pilot, "g")  # the sandwich's function, searched in the flame graph
        assert isinstance(app.screen, FlameScreen)
        assert app.screen.query_one("#flame", FlameGraph).search == "Connection.wait"


# ---------------------------------------------------------------------------------- chrome


@run_async
async def test_help_and_palette(sample_db: Path) -> None:
    app = make_app(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "command palette" in screen_text(app)
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)
        # Palette: a table name jumps to the filtered Queries view.
        await press(pilot, "ctrl+p")
        await pilot.press(*"Table order_items")
        await pilot.pause(0.5)
        await settle(pilot)
        await press(pilot, "enter")
        assert isinstance(app.screen, QueriesScreen)
        assert str(app.screen.flt) == "table:order_items"
        # A class by a piece of its SQL.
        await press(pilot, "ctrl+p")
        await pilot.press(*"settings where key")
        await pilot.pause(0.5)
        await settle(pilot)
        await press(pilot, "enter")
        assert isinstance(app.screen, QueryDetailScreen)
        assert "settings" in text_of(app.screen.query_one("#detail-sql"))


@run_async
async def test_empty_store_names_the_commands(tmp_path: Path) -> None:
    for db in (tmp_path / "missing.duckdb", tmp_path / "empty.duckdb"):
        if db.name == "empty.duckdb":
            schema.connect(db).close()
        app = make_app(db)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, EmptyScreen)
            shown = screen_text(app)
            assert "perftui ingest LOG…" in shown
            assert "perftui profile -- python app.py" in shown
            await press(pilot, "2")  # views are off: nothing to show
            assert isinstance(app.screen, EmptyScreen)
            await press(pilot, "q")
        assert app.return_code == 0


@run_async
async def test_open_with_progress_then_browse(tmp_path: Path) -> None:
    from perftui.ingest.driver import ingest_path

    db = tmp_path / "open.duckdb"
    seen: list[str] = []

    def job(progress: IngestProgress) -> None:
        with schema.connect(db) as con:
            for name in ("postgresql.log", "mariadb-slow.log"):
                path = str(sample(name))
                progress.file(path, Path(path).stat().st_size)
                r = ingest_path(con, path, on_progress=progress.advance)
                progress.message(f"{name}: {r.entries} entries")
                seen.append(name)

    app = PerftuiApp(str(db), ingest=job)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await settle(pilot)
        assert seen == ["postgresql.log", "mariadb-slow.log"]
        assert "queries in" in text_of(app.screen.query_one("#totals"))


@run_async
async def test_quits_while_a_read_runs(sample_db: Path) -> None:
    """Quitting interrupts DuckDB instead of waiting for it."""
    import time

    app = make_app(sample_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        def slow(cur: duckdb.DuckDBPyConnection) -> int:
            return first(cur.execute("SELECT count(*) FROM range(10000000000) a"))[0]

        app.read(slow, then=lambda _r: None, group="slow")
        await pilot.pause(0.2)
        start = time.perf_counter()
        await press(pilot, "q")
    assert time.perf_counter() - start < 5
