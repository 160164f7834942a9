"""How fast the app answers on a big store: first paint, key presses, flame zoom.

Builds (once; reused when it exists) a store with N synthetic query entries in K classes,
INSERTed directly into DuckDB with varied literals, durations, users and databases, plus a
synthetic py-spy profile with S distinct stacks; then drives the real app (``run_test``, 80×24)
and prints timings. A key is posted as the terminal driver would post it, and counts as answered
once every worker it started has finished, every message it caused has been handled and the
screen has no pending repaint (polled every millisecond; the pilot's own ``press``/``pause``
sleep in 20 ms steps, too coarse to time with).

    python benchmarks/tui_latency.py      # 10 M entries, 50 k classes, 100 k stacks
    python benchmarks/tui_latency.py --entries 1000000 --classes 5000 --stacks 20000
    python benchmarks/tui_latency.py --db /tmp/big.duckdb --rebuild
    python benchmarks/tui_latency.py --startups 7   # also: 7 cold start-ups, a fresh process each

benchmarks/proof.py imports ``build_store``, ``measure``, ``cold_startups`` and the summaries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402
from textual.worker import WorkerState  # noqa: E402

from perftui.store import schema  # noqa: E402
from perftui.tui.app import PerftuiApp  # noqa: E402
from perftui.tui.query_detail import QueryDetailScreen  # noqa: E402

STARTUP_SCREEN = "cold start-up (process start → screen up)"
STARTUP_NUMBERS = "cold start-up (process start → overview numbers)"


def build_store(path: Path, entries: int, classes: int, stacks: int) -> None:
    t0 = time.perf_counter()
    if path.exists():
        path.unlink()
    con = schema.connect(path)
    con.execute(
        "INSERT INTO sources VALUES (1, 'synthetic.log', 'mysql-slow', 'mysql', NULL, NULL,"
        " 'synthetic', 1, 0, 0, ?, 0, true, now())",
        [entries],
    )
    # Classes: 300 tables, varied shapes; ids as perftui makes them (md5 of the fingerprint).
    con.execute(
        """INSERT INTO query_classes (class_id, fingerprint, dialect, parsed, tables)
           SELECT upper(substr(md5(fp), 1, 16)), fp, 'mysql', true, [tbl]
           FROM (SELECT 't' || (i % 300) AS tbl,
                        'select c' || (i % 37) || ', c' || (i % 11) || ' from t' || (i % 300)
                        || ' where k' || (i % 53) || ' = ? and v' || i || ' > ? order by c'
                        || (i % 7) || ' limit ?' AS fp
                 FROM range(?) r(i))""",
        [classes],
    )
    # Entries: class popularity skewed (a few classes dominate, like real workloads).
    con.execute(
        """INSERT INTO entries (source_id, entry_no, line_start, n_lines, kind, ts, session,
                                user_name, db, host, duration_ms, lock_ms, rows_sent,
                                rows_examined, query, class_id)
           SELECT 1, i, i * 4, 4, 'query',
                  TIMESTAMP '2026-01-01' + to_microseconds(CAST(i * (86400000000 // ?) AS BIGINT)),
                  CAST(i % 997 AS VARCHAR), 'user' || (i % 7), 'db' || (i % 3),
                  'host' || (i % 5), exp(random() * 8 - 3), 0.01,
                  CAST(random() * 100 AS BIGINT), CAST(random() * 10000 AS BIGINT),
                  'select c1 from t' || (c % 300) || ' where k = ' || (i % 100000) || ' limit 10',
                  c.class_id
           FROM (SELECT i, CAST(floor(pow(random(), 3) * ?) AS BIGINT) AS c FROM range(?) r(i)) e
           JOIN (SELECT row_number() OVER (ORDER BY fingerprint) - 1 AS n, class_id
                 FROM query_classes) c ON c.n = e.c""",
        [entries, classes, entries],
    )
    print(f"  {entries:,} entries in {classes:,} classes: {time.perf_counter() - t0:.1f} s")
    if stacks:
        t1 = time.perf_counter()
        folded = Path(tempfile.mkdtemp()) / "synthetic.pyspy.txt"
        write_profile(folded, stacks)
        from perftui.profiles.ingest import ingest_profile

        ingest_profile(con, str(folded))
        print(f"  profile with {stacks:,} distinct stacks: {time.perf_counter() - t1:.1f} s")
    con.close()


def write_profile(path: Path, stacks: int, seed: int = 7) -> None:
    """py-spy raw lines: distinct random walks down a tree of 2,000 functions, 1 M samples."""
    rng = random.Random(seed)
    funcs = [f"f{i} (pkg/mod{i % 200}.py:{10 + i % 90})" for i in range(2000)]
    threads = ["thread (1): MainThread", "thread (2): worker-1", "thread (3): worker-2"]
    seen: set[str] = set()
    with path.open("w") as out:
        while len(seen) < stacks:
            depth = rng.randint(4, 30)
            frames = [rng.choice(threads), "<module> (app.py:1)", "main (app.py:5)"]
            node = rng.randrange(20)
            for _ in range(depth):
                frames.append(funcs[node])
                node = (node * 7 + rng.randrange(12)) % len(funcs)
            line = ";".join(frames)
            if line in seen:
                continue
            seen.add(line)
            out.write(f"{line} {rng.randint(1, 19)}\n")


def busy(app: PerftuiApp, before: set[int]) -> bool:
    """Work still in flight: a worker started since ``before`` (ids of the workers that were
    already there, e.g. the advisor in the background), an unhandled message, a repaint."""
    if any(
        w.state in (WorkerState.PENDING, WorkerState.RUNNING) and id(w) not in before
        for w in app.workers
    ):
        return True
    screen = app.screen
    nodes = [app, *screen.walk_children(with_self=True)]
    if any(not n._message_queue.empty() for n in nodes):
        return True
    return bool(screen._dirty_widgets) or screen._layout_required


async def answered(app: PerftuiApp, before: set[int], timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    await asyncio.sleep(0)
    while busy(app, before) and time.perf_counter() < deadline:
        await asyncio.sleep(0.001)


def running(app: PerftuiApp) -> set[int]:
    return {id(w) for w in app.workers}


async def hit(app: PerftuiApp, key: str) -> float:
    """Seconds from posting ``key`` to the screen showing its answer."""
    before = running(app)
    start = time.perf_counter()
    app.post_message(events.Key(key, key if len(key) == 1 else None))
    await answered(app, before)
    return time.perf_counter() - start


async def overview_numbers(app: PerftuiApp) -> None:
    """Return once the overview shows its totals: what a user waits for after start-up."""
    totals = app.screen.query_one("#totals")
    while "queries in" not in str(getattr(totals.content, "plain", totals.content)):
        await asyncio.sleep(0.005)


async def startup_once(db: Path, width: int, height: int) -> dict[str, float]:
    """Wall-clock instants (``time.time()``) of screen up and overview numbers, then quit.

    Absolute instants so that a parent which started this process can subtract its own start
    instant: the cold start-up then includes the interpreter and every import.
    """
    app = PerftuiApp(str(db))
    app.open_store()
    marks: dict[str, float] = {}
    async with app.run_test(size=(width, height)) as pilot:
        marks[STARTUP_SCREEN] = time.time()
        await overview_numbers(app)
        marks[STARTUP_NUMBERS] = time.time()
        await pilot.press("q")
    return marks


def cold_startups(db: Path, runs: int, width: int, height: int) -> dict[str, list[float]]:
    """Seconds from spawning a fresh Python to each start-up mark, ``runs`` times."""
    times: dict[str, list[float]] = defaultdict(list)
    cmd = [sys.executable, __file__, "--db", str(db), "--size", f"{width}x{height}"]
    for _ in range(runs):
        start = time.time()
        proc = subprocess.run([*cmd, "--startup-child"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"start-up child failed: {proc.stderr.strip()[-500:]}")
        marks = json.loads(proc.stdout.strip().splitlines()[-1])
        for label, instant in marks.items():
            times[label].append(instant - start)
    return times


async def measure(db: Path, width: int, height: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    t0 = time.perf_counter()
    app = PerftuiApp(str(db))
    app.open_store()
    async with app.run_test(size=(width, height)) as pilot:
        times["first paint (screen up)"].append(time.perf_counter() - t0)
        await overview_numbers(app)
        times["first paint (overview numbers)"].append(time.perf_counter() - t0)

        async def background() -> None:
            while app.class_count is None:
                await asyncio.sleep(0.01)
            times["background: class summary ready (since start)"].append(time.perf_counter() - t0)
            while app.analysis is None:
                await asyncio.sleep(0.05)
            times["background: advisor findings ready (since start)"].append(
                time.perf_counter() - t0
            )

        watcher = asyncio.create_task(background())
        while app.class_count is None:
            await asyncio.sleep(0.01)

        async def key(label: str, *keys: str) -> None:
            for k in keys:
                times[label].append(await hit(app, k))

        await key("queries: open view", "2")
        await key("queries: cursor in page", *["down"] * 10)
        await key("queries: page edge (DuckDB read)", *["down"] * 20)
        await key("queries: page down", *["pagedown"] * 10)
        await key("queries: sort", *"cptwcptw")
        await key("queries: focus filter", "slash")
        for text in ("t1", "t12 ", "table:t7 ", "user:user3 db:db1", "k5 ="):
            await key("queries: filter, per typed character", *text)
            await key("queries: filter, per typed character", *["backspace"] * len(text))
        await key("queries: back to table", "enter")
        for _ in range(3):
            before = running(app)
            start = time.perf_counter()
            app.post_message(events.Key("enter", None))
            while not isinstance(app.screen, QueryDetailScreen):
                await asyncio.sleep(0.001)
            while app.screen._dirty_widgets or app.screen._layout_required:
                await asyncio.sleep(0.001)
            times["detail: screen shown (numbers loading)"].append(time.perf_counter() - start)
            await answered(app, before)
            times["detail: all numbers in"].append(time.perf_counter() - start)
            await key("detail: reveal literals", "l")
            await key("detail: back", "escape")
            await key("queries: cursor in page", "down")

        await key("flame: open view", "4")
        await key("flame: move", "down", "down", "down", "right", "left", "up")
        for _ in range(5):
            await key("flame: move", "down", "down")
            await key("flame: zoom in", "enter")
        for _ in range(5):
            await key("flame: zoom out", "escape")
        await key("flame: next thread", "t", "t")
        await key("functions: open view", "5")
        await key("functions: move", *["down"] * 10)
        await key("functions: sandwich", "enter")
        await key("overview", "1")

        await watcher
        await key("findings: open view", "3")
        await key("findings: move", *["down"] * 5)
        await key("overview", "1")
        start = time.perf_counter()
        await pilot.press("q")
    times["quit (incl. pilot teardown)"].append(time.perf_counter() - start)
    return times


def p95(xs: list[float]) -> float:
    """The nearest-rank 95th percentile (the worst of the best 95 %), as the report prints it."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def key_press_times(times: dict[str, list[float]]) -> list[float]:
    """Every key press answered within a view: not opening a view, not waiting in the
    background, not the detail screen's slow numbers (those load after the screen shows)."""
    return [
        x
        for label, xs in times.items()
        if ":" in label
        and "background" not in label
        and "all numbers" not in label
        and "open view" not in label
        for x in xs
    ]


def view_open_times(times: dict[str, list[float]]) -> list[float]:
    """Every key press that switched to another view."""
    return [x for label, xs in times.items() if "open view" in label for x in xs]


def report(times: dict[str, list[float]]) -> None:
    print(f"\n  {'what':<52} {'n':>4} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for label, xs in times.items():
        p50 = statistics.median(xs) * 1000
        print(
            f"  {label:<52} {len(xs):>4} {p50:>9.1f} {p95(xs) * 1000:>9.1f} {max(xs) * 1000:>9.1f}"
        )
    keys = key_press_times(times)
    if keys:
        print(
            f"\n  key presses within views (not opening a view): n={len(keys)},"
            f" p95 {p95(keys) * 1000:.1f} ms, max {max(keys) * 1000:.1f} ms"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "perftui-bench.duckdb"))
    ap.add_argument("--entries", type=int, default=10_000_000)
    ap.add_argument("--classes", type=int, default=50_000)
    ap.add_argument("--stacks", type=int, default=100_000)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--size", default="80x24", help="terminal size, e.g. 80x24")
    ap.add_argument("--startups", type=int, default=0, help="also time N cold start-ups")
    ap.add_argument("--startup-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    db = Path(args.db)
    width, height = (int(x) for x in args.size.split("x"))
    if args.startup_child:
        print(json.dumps(asyncio.run(startup_once(db, width, height))))
        return
    if args.rebuild or not db.exists():
        print(f"building {db}")
        build_store(db, args.entries, args.classes, args.stacks)
    else:
        print(f"reusing {db} (--rebuild to make it again)")
    times = asyncio.run(measure(db, width, height))
    if args.startups:
        times |= cold_startups(db, args.startups, width, height)
    report(times)


if __name__ == "__main__":
    main()
