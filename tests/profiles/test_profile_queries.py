"""Flame, top-functions, sandwich and thread queries, on the real sample and hand-made stacks."""

from __future__ import annotations

import itertools

import duckdb

from perftui.profiles import queries as q
from perftui.profiles.ingest import ingest_profile
from tests.profiles.conftest import RAW, SHOP_APP, line_of
from tests.profiles.test_parse_folded import THREADS


def test_hottest_path_of_the_sample_runs_into_the_n_plus_one(
    con: duckdb.DuckDBPyConnection,
) -> None:
    pid = ingest_profile(con, str(RAW)).profile_id
    path = q.hottest_path(con, pid)
    names = [n.function for n in path]
    assert names[0] == "all"
    assert names[1:5] == ["<module>", "main", "build_report", "orders_for"]
    assert path[-1].function == "Connection.wait" and path[-1].kind == "library"
    orders_for = path[4]
    assert (orders_for.file, orders_for.line) == (
        "shop_app.py",
        line_of(SHOP_APP, "SELECT id, total FROM orders"),
    )
    assert all(a.total >= b.total for a, b in itertools.pairwise(path))


def test_children_with_total_and_self(con: duckdb.DuckDBPyConnection, write) -> None:
    pid = ingest_profile(
        con, write("p.folded", "main;a;x 5\nmain;a 2\nmain;b 4\nmain 1\n")
    ).profile_id
    root = q.root(con, pid)
    assert (root.function, root.total, root.self) == ("all", 12, 0)
    (main,) = q.children(con, pid, root.node_id)
    assert (main.function, main.total, main.self) == ("main", 12, 1)
    kids = q.children(con, pid, main.node_id)
    assert [(n.function, n.total, n.self, n.has_children) for n in kids] == [
        ("a", 7, 2, True),
        ("b", 4, 4, False),
    ]
    assert q.children(con, pid, kids[1].node_id) == []


def test_top_functions_merge_lines_and_do_not_double_count_recursion(
    con: duckdb.DuckDBPyConnection, write
) -> None:
    text = (
        "main (app.py:1);fib (app.py:5);fib (app.py:6);fib (app.py:5) 10\n"
        "main (app.py:1);fib (app.py:6) 5\n"
        "main (app.py:2);other (app.py:9) 5\n"
    )
    pid = ingest_profile(con, write("p.txt", text)).profile_id
    by_total = q.top_functions(con, pid, by="total")
    assert [(f.function, f.total) for f in by_total] == [("main", 20), ("fib", 15), ("other", 5)]
    fib = by_total[1]
    assert (fib.self, fib.max_recursion, fib.first_line) == (15, 3, 5)
    by_self = q.top_functions(con, pid, by="self", limit=1)
    assert [(f.function, f.self) for f in by_self] == [("fib", 15)]


def test_sandwich_merges_callers_and_callees_over_call_sites(
    con: duckdb.DuckDBPyConnection, write
) -> None:
    text = "a;db 4\nb;db 6\nb;x;db 1\nb;db;wait 3\n"
    pid = ingest_profile(con, write("p.folded", text)).profile_id
    (db,) = q.find_functions(con, pid, "db")
    s = q.sandwich(con, pid, db.func_id)
    assert s.func.total == 14
    assert [(e.func.function, e.weight) for e in s.callers] == [("b", 9), ("a", 4), ("x", 1)]
    assert [(e.func.function, e.weight) for e in s.callees] == [("wait", 3)]


def test_threads_are_listed_once_per_thread(con: duckdb.DuckDBPyConnection, write) -> None:
    pid = ingest_profile(con, write("t.txt", THREADS)).profile_id
    threads = q.threads(con, pid)
    assert [(t.thread, t.weight) for t in threads] == [
        ("thread (9111): MainThread", 32),
        ("thread (9120): worker", 8),
    ]
    assert q.profile(con, pid).threads == 2
