"""Profile loading and flame-query speed of perftui against flameshow's parser, same file, same run.

Builds a synthetic py-spy raw profile (default 100 k distinct stacks, 1 M samples, ~64 MB: the
size the notes in ../shared/research measured flameshow on), then

1. times ``perftui`` loading it into a fresh DuckDB file (a child process under
   ``/usr/bin/time -v``: wall time and peak RSS);
2. times flameshow 1.1.5's parser (``flamegraph_textual.parsers.parse``, what ``flameshow FILE``
   runs before drawing) on the same bytes, in a throwaway venv made here with pip (flameshow is
   never a perftui dependency; ``--skip-flameshow`` leaves it out, ``--flameshow-python`` reuses
   an interpreter that has it);
3. times each flame query of ``perftui.profiles.queries`` on the loaded profile (median of
   several runs, after one warm-up).

    python benchmarks/profile_vs_flameshow.py
    python benchmarks/profile_vs_flameshow.py --stacks 20000 --skip-flameshow
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from perftui.store.results import first

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLAMESHOW = "flameshow==1.1.5"
QUERY_RUNS = 20


class ToolFailed(RuntimeError):
    """A tool that could not be installed or exited non-zero; the message says which and why."""


@dataclass(frozen=True)
class ProfileRun:
    """One tool reading the profile: its own load/parse time and the whole process's numbers."""

    tool: str
    inner_s: float  # load (perftui) or parse (flameshow) time, timed inside the process
    wall_s: float  # the whole process: interpreter start, imports, reading the file
    peak_rss_mb: float


@dataclass(frozen=True)
class Loaded:
    """perftui's load, with what the flame queries need to find the profile again."""

    run: ProfileRun
    profile_id: int
    stacks: int
    samples: int


def build_profile(dest: Path, stacks: int, samples: int, seed: int = 7) -> float:
    """Write a py-spy raw profile of ``stacks`` distinct stacks summing to ``samples``.

    Stacks are random walks through a synthetic call graph (a few thousand functions, 2-8
    callees each, depth 6-34), so prefixes are shared the way real programs share them; weights
    are heavy-tailed. Returns the size in MB.
    """
    rng = random.Random(seed)
    packages = ["app", "app/views", "app/models", "requests", "psycopg", "json", "sqlalchemy/orm"]
    funcs = []
    for i in range(6000):
        pkg = rng.choice(packages)
        cls = rng.choice(["Handler.", "Model.", "Query.", "", "", ""])
        funcs.append(
            f"{cls}fn_{i:04d}{'x' * rng.randint(0, 4)}"
            f" ({pkg}/m{i % 97:02d}.py:{rng.randint(1, 999)})"
        )
    callees = [rng.sample(range(len(funcs)), rng.randint(2, 8)) for _ in funcs]
    roots = [f"<module> (app/main.py:{n})" for n in (12, 40, 77)]
    seen: set[str] = set()
    lines: list[str] = []
    while len(lines) < stacks:
        depth = rng.randint(6, 34)
        cur = rng.randrange(len(funcs))
        frames = [rng.choice(roots)]
        for _ in range(depth):
            frames.append(funcs[cur])
            cur = rng.choice(callees[cur])
        text = ";".join(frames)
        if text not in seen:
            seen.add(text)
            lines.append(text)
    weights = [1 + int(rng.paretovariate(1.2)) for _ in lines]
    scale = (samples - len(lines)) / (sum(weights) - len(lines))
    weights = [1 + int((w - 1) * scale) for w in weights]
    weights[0] += samples - sum(weights)
    with dest.open("w", encoding="utf-8") as fh:
        for text, w in zip(lines, weights, strict=True):
            fh.write(f"{text} {w}\n")
    return dest.stat().st_size / 1024 / 1024


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall s, peak RSS MB, stdout) of ``cmd`` under /usr/bin/time -v."""
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise ToolFailed(f"{cmd[0]} failed: {proc.stderr.strip().splitlines()[-3:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    assert wall and rss
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return seconds, int(rss.group(1)) / 1024, proc.stdout


PERFTUI_LOAD = """
import sys, time
from perftui.profiles import ingest
from perftui.store import schema
con = schema.connect(sys.argv[2])
t = time.perf_counter()
r = ingest.ingest_profile(con, sys.argv[1])
print(f"{time.perf_counter() - t:.3f} {r.profile_id} {r.stacks} {r.samples}")
"""

FLAMESHOW_PARSE = """
import sys, time
from flamegraph_textual.parsers import parse
data = open(sys.argv[1], "rb").read()
t = time.perf_counter()
profile = parse(data, sys.argv[1])
print(f"{time.perf_counter() - t:.3f}")
"""


def _has_flameshow(py: str) -> bool:
    check = [py, "-c", "import flamegraph_textual.parsers"]
    return Path(py).exists() and subprocess.run(check, capture_output=True).returncode == 0


def flameshow_python(work: Path) -> str:
    """A venv with flameshow in ``work`` (pip from the configured index); its interpreter.

    A venv left there by an earlier run is reused when it already imports flameshow's parser.
    """
    venv = work / "flameshow-venv"
    py = str(venv / "bin" / "python")
    if _has_flameshow(py):
        return py
    for cmd in (
        [sys.executable, "-m", "venv", str(venv)],
        [py, "-m", "pip", "install", "-q", FLAMESHOW],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ToolFailed(f"{' '.join(cmd[1:4])} failed: {proc.stderr.strip()[-500:]}")
    return py


def ensure_profile(work: Path, stacks: int, samples: int) -> tuple[Path, float]:
    """The synthetic profile for these sizes in ``work`` (built once, then reused); its MB."""
    raw = work / f"synthetic-{stacks}-{samples}.pyspy.txt"
    if not raw.exists():
        print(f"building {raw} …", file=sys.stderr)
        build_profile(raw, stacks, samples)
    return raw, raw.stat().st_size / 1024 / 1024


def perftui_load(raw: Path, db: Path) -> Loaded:
    """Load ``raw`` into a fresh ``db`` in a child process under /usr/bin/time."""
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    print("perftui: loading …", file=sys.stderr)
    wall, rss, out = timed([sys.executable, "-c", PERFTUI_LOAD, str(raw), str(db)], env)
    load_s, profile_id, stacks, samples = out.split()
    run = ProfileRun("perftui (parse + store in DuckDB)", float(load_s), wall, rss)
    return Loaded(run, int(profile_id), int(stacks), int(samples))


def flameshow_parse(py: str, raw: Path) -> ProfileRun:
    """flameshow's parser on ``raw``, run by ``py`` (an interpreter that has flameshow)."""
    print("flameshow: parsing …", file=sys.stderr)
    wall, rss, out = timed([py, "-c", FLAMESHOW_PARSE, str(raw)])
    return ProfileRun(
        f"flameshow 1.1.5 parser ({Path(py).parent.parent.name})", float(out), wall, rss
    )


def bench_queries(db: Path, profile_id: int) -> list[tuple[str, float, float]]:
    """(query, median ms, max ms) of each flame query on the stored profile."""
    import duckdb

    from perftui.profiles import queries as q

    con = duckdb.connect(str(db), read_only=True)
    root = q.root(con, profile_id)
    top_children = q.children(con, profile_id, root.node_id)
    path = q.hottest_path(con, profile_id)
    mid = path[len(path) // 2]
    wide = first(
        con.execute(
            "SELECT parent_id FROM flame_nodes WHERE profile_id = ? AND parent_id IS NOT NULL"
            " GROUP BY parent_id ORDER BY count(*) DESC LIMIT 1",
            [profile_id],
        )
    )[0]
    top = q.top_functions(con, profile_id, by="total", limit=1)[0]
    cases: list[tuple[str, Callable[[], object]]] = [
        (
            f"children(root) → {len(top_children)} nodes",
            lambda: q.children(con, profile_id, root.node_id),
        ),
        (
            f"children(widest node, {len(q.children(con, profile_id, wide))} children)",
            lambda: q.children(con, profile_id, wide),
        ),
        (
            f"children(node at depth {mid.depth} on the hot path)",
            lambda: q.children(con, profile_id, mid.node_id),
        ),
        ("top_functions(by=self, 50)", lambda: q.top_functions(con, profile_id, by="self")),
        ("top_functions(by=total, 50)", lambda: q.top_functions(con, profile_id, by="total")),
        ("sandwich(heaviest function)", lambda: q.sandwich(con, profile_id, top.func_id)),
        (f"hottest_path(root) → {len(path)} nodes", lambda: q.hottest_path(con, profile_id)),
        ("threads()", lambda: q.threads(con, profile_id)),
    ]
    out = []
    for name, call in cases:
        call()
        times = []
        for _ in range(QUERY_RUNS):
            t = time.perf_counter()
            call()
            times.append((time.perf_counter() - t) * 1000)
        out.append((name, statistics.median(times), max(times)))
    con.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stacks", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--workdir", help="keep the profile, DB and venv here (default: temp dir)")
    ap.add_argument("--skip-flameshow", action="store_true")
    ap.add_argument("--flameshow-python", help="an interpreter with flameshow installed")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="perftui-profile-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    raw, mb = ensure_profile(work, args.stacks, args.samples)
    db = work / "bench.duckdb"
    try:
        loaded = perftui_load(raw, db)
        rows = [loaded.run]
        if not args.skip_flameshow:
            py = args.flameshow_python or flameshow_python(work)
            rows.append(flameshow_parse(py, raw))
    except ToolFailed as exc:
        raise SystemExit(str(exc)) from None

    print(
        f"\nprofile: {raw.name}, {mb:.1f} MB, {loaded.stacks:,} distinct stacks, "
        f"{loaded.samples:,} samples\n"
    )
    print("| tool | load/parse s | process wall s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r.tool} | {r.inner_s:.2f} | {r.wall_s:.2f} | {r.peak_rss_mb:.0f} |")
    if len(rows) > 1:
        x = rows[1].inner_s / rows[0].inner_s
        print(f"\nperftui loads {x:.1f}× faster than flameshow parses.")

    print("\n| query | median ms | max ms |")
    print("|---|---:|---:|")
    for name, med, worst in bench_queries(db, loaded.profile_id):
        print(f"| {name} | {med:.2f} | {worst:.2f} |")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
