"""One command, one table: perftui against its peers on the same inputs, and the app on a big store.

Runs, one after another on this machine:

1. ``perftui analyze`` against pt-query-digest (MariaDB slow log) and pgbadger -j 1 / -j 2
   (PostgreSQL stderr log), ~SIZE MB each, built from sample_logs/ (ingest_vs_peers.py);
2. perftui's profile load against flameshow's parser on one synthetic py-spy profile
   (profile_vs_flameshow.py; flameshow goes into a venv of its own in the work dir);
3. the app on a store of N entries: cold start-ups (a fresh process each) and the key presses of
   tui_latency.py's session, median and p95;
4. the DuckDB file size per million entries of every store made above.

and prints one Markdown table headed by the machine's facts (also written to ``--output``). A peer
that is missing gets a row saying so. Run:

    python benchmarks/proof.py --workdir /var/tmp/perftui-proof --output proof.md
    python benchmarks/proof.py --quick        # smoke test: 20 MB logs, 20 k stacks, 200 k entries

With ``--workdir`` the app store, the profile and flameshow's venv are kept and reused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

import ingest_vs_peers as logs  # noqa: E402
import profile_vs_flameshow as flame  # noqa: E402
import tui_latency as tui  # noqa: E402

TERMINAL = (80, 24)


@dataclass(frozen=True)
class Sizes:
    log_mb: float
    stacks: int
    samples: int
    entries: int
    classes: int
    app_stacks: int
    startups: int


FULL = Sizes(1024, 100_000, 1_000_000, 10_000_000, 50_000, 100_000, 7)
QUICK = Sizes(20, 20_000, 200_000, 200_000, 5_000, 5_000, 3)


@dataclass(frozen=True)
class Row:
    """One line of the table; every cell already formatted."""

    measurement: str
    input: str
    tool: str
    result: str
    mb_s: str = ""
    rss: str = ""
    ratio: str = ""


# ---------------------------------------------------------------------------------- formatting


def cell(text: str, limit: int = 160) -> str:
    """Text made safe for a Markdown table cell (tool errors can hold pipes and newlines)."""
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def ms(xs: list[float]) -> str:
    return (
        f"median {statistics.median(xs) * 1000:.0f} ms, p95 {tui.p95(xs) * 1000:.0f} ms"
        f" (n={len(xs)})"
    )


def times_x(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}×"


# ---------------------------------------------------------------------------------- slow logs

LOG_INPUTS = {"mariadb-slow.log": "MariaDB slow log", "postgresql.log": "PostgreSQL stderr log"}


def log_rows(runs: list[logs.Run]) -> list[Row]:
    """perftui and its peers on each log, ratios against the perftui run on the same file."""
    base = {r.log: r for r in runs if r.tool == "perftui"}
    rows = []
    for r in runs:
        what = f"{LOG_INPUTS.get(r.log, r.log)}, {r.mb:,.0f} MB"
        tool = "perftui analyze" if r.tool == "perftui" else r.tool
        if not r.ok and not r.seconds:
            rows.append(Row("slow log → report", what, tool, cell(f"not run: {r.note}")))
            continue
        result = f"{r.seconds:.1f} s" + ("" if r.ok else f" (failed: {cell(r.note, 80)})")
        x = None if r.tool == "perftui" else logs.ratio(r, base[r.log])
        rows.append(
            Row(
                "slow log → report",
                what,
                tool,
                result,
                f"{r.mb_s:.1f}",
                f"{r.peak_rss_mb:.0f}",
                times_x(x),
            )
        )
    return rows


# ---------------------------------------------------------------------------------- profiles


def profile_rows(work: Path, sizes: Sizes) -> tuple[list[Row], flame.Loaded | None]:
    """perftui's load and flameshow's parse of the same profile; the ratio is of whole-process
    wall times, like the log rows, with the load-vs-parse ratio alongside."""
    raw, mb = flame.ensure_profile(work, sizes.stacks, sizes.samples)
    what = f"py-spy raw, {mb:.0f} MB, {sizes.stacks:,} stacks"
    try:
        loaded = flame.perftui_load(raw, work / "profile.duckdb")
    except flame.ToolFailed as exc:
        return [Row("profile load", what, "perftui", cell(f"failed: {exc}"))], None
    mine = loaded.run
    rows = [profile_row(what, "perftui (parse + store)", mine, mb, "—")]
    try:
        theirs = flame.flameshow_parse(flame.flameshow_python(work), raw)
    except flame.ToolFailed as exc:
        rows.append(Row("profile load", what, "flameshow 1.1.5", cell(f"not run: {exc}")))
        return rows, loaded
    x = f"{theirs.wall_s / mine.wall_s:.1f}× ({theirs.inner_s / mine.inner_s:.1f}× in-process)"
    rows.append(profile_row(what, "flameshow 1.1.5 (parse only)", theirs, mb, x))
    return rows, loaded


def profile_row(what: str, tool: str, run: flame.ProfileRun, mb: float, ratio: str) -> Row:
    result = f"{run.wall_s:.2f} s (in-process {run.inner_s:.2f} s)"
    mb_s = f"{mb / run.wall_s:.1f}" if run.wall_s else ""
    return Row("profile load", what, tool, result, mb_s, f"{run.peak_rss_mb:.0f}", ratio)


# ---------------------------------------------------------------------------------- the app


def app_store(work: Path, sizes: Sizes) -> Path:
    """The synthetic store of ``sizes.entries`` entries, built unless one of that size is there."""
    db = work / f"app-{sizes.entries}.duckdb"
    if db.exists():
        try:
            if logs.store_footprint(db).entries == sizes.entries:
                print(f"reusing {db}", file=sys.stderr)
                return db
        except Exception as exc:  # a half-built file from an interrupted run: build it again
            print(f"rebuilding {db}: {exc}", file=sys.stderr)
    print(f"building {db} …", file=sys.stderr)
    tui.build_store(db, sizes.entries, sizes.classes, sizes.app_stacks)
    return db


def app_rows(work: Path, sizes: Sizes) -> tuple[list[Row], Path]:
    """Cold start-ups (fresh process each) and the key presses of tui_latency's session."""
    db = app_store(work, sizes)
    what = f"store of {sizes.entries:,} entries, {sizes.classes:,} classes"
    width, height = TERMINAL
    print(f"app: {sizes.startups} cold start-ups …", file=sys.stderr)
    starts = tui.cold_startups(db, sizes.startups, width, height)
    print("app: key-press session …", file=sys.stderr)
    session = asyncio.run(tui.measure(db, width, height))
    rows = [
        Row("app start-up → screen up", what, "perftui", ms(starts[tui.STARTUP_SCREEN])),
        Row("app start-up → overview numbers", what, "perftui", ms(starts[tui.STARTUP_NUMBERS])),
        Row("app key press within a view", what, "perftui", ms(tui.key_press_times(session))),
        Row("app key press opening a view", what, "perftui", ms(tui.view_open_times(session))),
    ]
    return rows, db


# ---------------------------------------------------------------------------------- stores


def size_row(db: Path, what: str) -> Row:
    try:
        fp = logs.store_footprint(db)
    except Exception as exc:  # a failed ingest leaves no store, or a broken one
        return Row("DuckDB file per M entries", what, "perftui", cell(f"no store: {exc}"))
    result = (
        f"{fp.mb_per_million:.1f} MB per M entries"
        f" ({fp.bytes / 1024 / 1024:,.0f} MB, {fp.entries:,} entries)"
    )
    return Row("DuckDB file per M entries", what, "perftui", result)


def profile_size_row(db: Path, loaded: flame.Loaded) -> Row:
    """A profile store holds no entries: its size is given per distinct stack instead."""
    mb = logs.store_bytes(db) / 1024 / 1024
    what = f"profile of {loaded.stacks:,} stacks, {loaded.samples:,} samples"
    return Row("DuckDB file, profile", what, "perftui", f"{mb:,.1f} MB")


# ---------------------------------------------------------------------------------- header


@dataclass(frozen=True)
class Start:
    """What the machine was like when the run began (the versions are read at the end, so they
    name the tools that actually ran)."""

    when: dt.datetime
    load: tuple[float, float, float]


def machine_facts(sizes: Sizes, start: Start) -> list[str]:
    """The lines above the table: what ran where, so a reader can weigh the numbers."""
    import duckdb

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in _lines("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        platform.processor() or "?",
    )
    mem = next((ln.split()[1] for ln in _lines("/proc/meminfo") if ln.startswith("MemTotal")), "0")
    pt = logs.tool_version(["pt-query-digest", "--version"]) or "pt-query-digest: not installed"
    pgb = logs.tool_version(["pgbadger", "--version"]) or "pgbadger: not installed"
    load = " / ".join(f"{x:.1f}" for x in start.load)
    return [
        f"# perftui proof run — {start.when:%Y-%m-%d %H:%M UTC}",
        "",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), {int(mem) / 1024 / 1024:.1f} GB RAM,"
        f" {platform.system()} {platform.release()}; load average at start {load}",
        f"- versions: perftui {metadata.version('perftui')} · Python {platform.python_version()}"
        f" · DuckDB {duckdb.__version__} · {pt} · {pgb} · {flame.FLAMESHOW.replace('==', ' ')}",
        f"- inputs: logs ~{sizes.log_mb:,.0f} MB each (sample_logs/ repeated, literals shifted)"
        f" · profile {sizes.stacks:,} stacks, {sizes.samples:,} samples · app store"
        f" {sizes.entries:,} entries, {TERMINAL[0]}×{TERMINAL[1]} terminal",
        f"- PERFTUI_MEMORY_LIMIT={os.environ.get('PERFTUI_MEMORY_LIMIT', '384MB (default)')}"
        " · PERFTUI_ANALYSIS_MEMORY_LIMIT="
        f"{os.environ.get('PERFTUI_ANALYSIS_MEMORY_LIMIT', '640MB (default)')}",
        "",
    ]


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def render(header: list[str], rows: list[Row]) -> str:
    lines = [
        *header,
        "| measurement | input | tool | result | MB/s | peak RSS MB | peer ÷ perftui |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r.measurement} | {r.input} | {r.tool} | {r.result} | {r.mb_s} | {r.rss} | {r.ratio} |"
        for r in rows
    ]
    lines += [
        "",
        "Times are whole processes under /usr/bin/time -v (wall clock, peak RSS), each tool on the"
        " same file in the same run; peer ÷ perftui > 1 means perftui is faster. Start-ups run"
        " from spawning a fresh Python (imports included) with the store in the page cache;"
        " a key press counts until its workers, messages and repaint are done.",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- main


def run(work: Path, sizes: Sizes) -> tuple[list[Row], bool]:
    """Every measurement, in table order; False when a perftui measurement itself failed."""
    runs = logs.run_all(work, sizes.log_mb)
    rows = log_rows(runs)
    prof, loaded = profile_rows(work, sizes)
    rows += prof
    app, store = app_rows(work, sizes)
    rows += app
    for r in runs:
        if r.db is not None:
            rows.append(size_row(r.db, f"{LOG_INPUTS.get(r.log, r.log)}, {r.mb:,.0f} MB"))
    if loaded is not None:
        rows.append(profile_size_row(work / "profile.duckdb", loaded))
    rows.append(size_row(store, "synthetic app store (+ a profile)"))
    ok = all(r.ok for r in runs if r.tool == "perftui") and loaded is not None
    return rows, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, help=f"each log (default {FULL.log_mb:g})")
    ap.add_argument("--entries", type=int, help=f"app store (default {FULL.entries:,})")
    ap.add_argument("--workdir", help="keep inputs, stores and flameshow's venv here (reused)")
    ap.add_argument("--output", help="also write the table to this file")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = ap.parse_args()
    sizes = QUICK if args.quick else FULL
    sizes = dataclasses.replace(
        sizes, log_mb=args.size_mb or sizes.log_mb, entries=args.entries or sizes.entries
    )
    work = Path(args.workdir or tempfile.mkdtemp(prefix="perftui-proof-"))
    work.mkdir(parents=True, exist_ok=True)
    start = Start(dt.datetime.now(dt.UTC), os.getloadavg())
    with contextlib.redirect_stdout(sys.stderr):  # progress of the helpers; stdout is the table
        rows, ok = run(work, sizes)
    table = render(machine_facts(sizes, start), rows)
    print(table)
    if args.output:
        Path(args.output).write_text(table, encoding="utf-8")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
