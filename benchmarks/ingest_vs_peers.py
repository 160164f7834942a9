"""Ingest + report speed of perftui against pt-query-digest and pgbadger, same files, same run.

Builds ~SIZE MB logs by repeating the real logs in sample_logs/ (timestamps kept, so the peers
see valid logs), then runs each tool as a whole process under /usr/bin/time -v and prints wall
time, MB/s, peak RSS and the ratio to perftui. Run:

    python benchmarks/ingest_vs_peers.py            # ~1 GB per log (takes a while: the peers)
    python benchmarks/ingest_vs_peers.py --size-mb 200

Needs Debian's percona-toolkit (pt-query-digest) and pgbadger on PATH; a missing peer gets a
row that says so. benchmarks/proof.py and benchmarks/scale.py import the functions below.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from perftui.store.results import first

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
PG_PREFIX = "%m [%p] %q%u@%d "
MY_SAMPLE = SAMPLES / "mariadb-slow.log"
PG_SAMPLE = SAMPLES / "postgresql.log"


@dataclass
class Run:
    tool: str
    log: str
    seconds: float
    peak_rss_mb: float
    mb: float
    ok: bool
    note: str = ""  # why a run has no numbers ("not on PATH", the first lines of its stderr)
    db: Path | None = None  # the DuckDB file a perftui run wrote

    @property
    def mb_s(self) -> float:
        return self.mb / self.seconds if self.seconds else 0.0


_LITERAL = re.compile(rb"(?<== )(\d+)\b")


def shifted_copies(data: bytes) -> Iterator[bytes]:
    """Endless copies of ``data``; copy n has every ``= N`` literal raised by n.

    Statements then differ from copy to copy as in a real log (no tool gets to reuse work on
    identical text). The split is done once and each copy is a join, ~30× faster than a regex
    substitution per copy, so a generator feeding perftui through a pipe is not the bottleneck.
    """
    if not data.endswith(b"\n"):
        data += b"\n"
    parts = _LITERAL.split(data)
    texts, numbers = parts[0::2], [int(n) for n in parts[1::2]]
    for rep in itertools.count():
        out = [texts[0]]
        for number, text in zip(numbers, texts[1:], strict=True):
            out += (b"%d" % (number + rep), text)
        yield b"".join(out)


def build_log(src: Path, dest: Path, size_mb: float) -> float:
    """Repeat ``src`` (literals shifted, see ``shifted_copies``) into ``dest`` until it reaches
    ``size_mb``; returns the size in MB."""
    data = src.read_bytes()
    copy_size = len(data) + (0 if data.endswith(b"\n") else 1)
    reps = max(1, int(size_mb * 1024 * 1024) // copy_size)
    with dest.open("wb") as fh:
        for copy in itertools.islice(shifted_copies(data), reps):
            fh.write(copy)
    return dest.stat().st_size / 1024 / 1024


def perftui_command() -> list[str]:
    """The perftui of this interpreter's environment, so the venv's build is timed even when the
    venv is not activated; PATH's, or ``python -m perftui.cli`` otherwise."""
    beside = Path(sys.executable).with_name("perftui")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("perftui")
    return [found] if found else [sys.executable, "-m", "perftui.cli"]


def tool_version(cmd: list[str]) -> str | None:
    """First line ``cmd`` prints (e.g. ``pgbadger --version``), or None if it cannot run."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def _wall_seconds(stderr: str) -> float:
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", stderr)
    if not wall:
        return 0.0
    return int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))


def timed(tool: str, log: str, mb: float, cmd: list[str]) -> Run:
    """Run ``cmd`` under /usr/bin/time -v (stdout discarded); a missing program gives a failed
    run whose note says so, rather than an exception.

    Peak RSS is the larger of time's figure (the biggest single process) and the peak of the
    whole process tree's summed RSS, sampled every 50 ms: pgbadger -j N forks workers, so one
    process's peak would understate them."""
    if shutil.which(cmd[0]) is None:
        return Run(tool, log, 0.0, 0.0, mb, False, note=f"{cmd[0]} not on PATH")
    proc = subprocess.Popen(
        ["/usr/bin/time", "-v", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    tree_peak_kb = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal tree_peak_kb
        while not done.wait(0.05):
            tree_peak_kb = max(tree_peak_kb, tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _out, stderr = proc.communicate()
    done.set()
    sampler.join()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    note = ""
    if proc.returncode != 0:
        note = f"exited {proc.returncode}: {stderr.strip().splitlines()[:3]}"
        print(f"  {tool} {note}", file=sys.stderr)
    peak = max(int(rss.group(1)) if rss else 0, tree_peak_kb) / 1024
    return Run(tool, log, _wall_seconds(stderr), peak, mb, proc.returncode == 0, note)


def tree_rss_kb(root: int) -> int:
    """Summed VmRSS (kB) of ``root``'s descendants (``/usr/bin/time`` itself left out)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - tree
        tree |= frontier
    total = 0
    for pid in tree:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(m.group(1)) if m else 0
    return total


def peer_commands(
    my_log: Path, pg_log: Path, work: Path
) -> dict[Path, list[tuple[str, list[str]]]]:
    """The peers to time on each log, as (row label, command)."""
    pt = ["pt-query-digest", "--limit", "100%:10000", "--preserve-embedded-numbers", str(my_log)]

    def pgbadger(jobs: int) -> list[str]:
        out = str(work / "pgbadger.json")
        return ["pgbadger", "-j", str(jobs), "--prefix", PG_PREFIX, "-x", "json", "-o", out]

    return {
        my_log: [("pt-query-digest", pt)],
        pg_log: [
            ("pgbadger -j 1", [*pgbadger(1), str(pg_log)]),
            ("pgbadger -j 2", [*pgbadger(2), str(pg_log)]),
        ],
    }


def run_perftui(log: Path, mb: float, db: Path) -> Run:
    """``perftui analyze`` of ``log`` into a fresh ``db`` (kept, so callers can measure it)."""
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    print(f"perftui analyze {log.name} ({mb:.0f} MB)…", file=sys.stderr)
    cmd = [*perftui_command(), "analyze", str(log), "--db", str(db), "--format", "json"]
    run = timed("perftui", log.name, mb, cmd)
    run.db = db
    return run


def run_all(work: Path, size_mb: float, skip_peers: bool = False) -> list[Run]:
    """Build both logs in ``work``, then time perftui and each peer on them, one after another."""
    my_log = work / "mariadb-slow.log"
    pg_log = work / "postgresql.log"
    print(f"building ~{size_mb:g} MB logs in {work}", file=sys.stderr)
    sizes = {
        my_log: build_log(MY_SAMPLE, my_log, size_mb),
        pg_log: build_log(PG_SAMPLE, pg_log, size_mb),
    }
    runs: list[Run] = []
    for log, peers in peer_commands(my_log, pg_log, work).items():
        runs.append(run_perftui(log, sizes[log], work / f"{log.stem}.duckdb"))
        if skip_peers:
            continue
        for name, cmd in peers:
            print(f"{name} {log.name}…", file=sys.stderr)
            runs.append(timed(name, log.name, sizes[log], cmd))
    return runs


@dataclass(frozen=True)
class Footprint:
    """How big a perftui store is for what it holds."""

    db: Path
    bytes: int  # the DuckDB file plus its write-ahead log
    entries: int

    @property
    def mb_per_million(self) -> float:
        return self.bytes / 1024 / 1024 / (self.entries / 1e6) if self.entries else 0.0


def store_bytes(db: Path) -> int:
    """Bytes on disk of the store at ``db``: the DuckDB file plus its write-ahead log."""
    return sum(p.stat().st_size for p in (db, Path(f"{db}.wal")) if p.exists())


def store_footprint(db: Path) -> Footprint:
    """Size on disk and entry count of the store at ``db`` (opened read-only, so run it after
    the writer exited)."""
    import duckdb

    size = store_bytes(db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        (entries,) = first(con.execute("SELECT count(*) FROM entries")) or (0,)
    finally:
        con.close()
    return Footprint(db, size, int(entries))


def ratio(run: Run, base: Run) -> float | None:
    """Peer time ÷ perftui time (how many times faster perftui is), None when either failed."""
    if not (run.ok and base.ok and base.seconds):
        return None
    return run.seconds / base.seconds


def print_table(runs: list[Run]) -> None:
    print("| log | tool | size MB | wall s | MB/s | peak RSS MB | perftui is × faster |")
    print("|---|---|---:|---:|---:|---:|---:|")
    base = {r.log: r for r in runs if r.tool == "perftui"}
    for r in runs:
        if not r.ok and not r.seconds:
            print(f"| {r.log} | {r.tool} | {r.mb:.0f} | — | — | — | {r.note} |")
            continue
        x = ratio(r, base[r.log])
        mark = "" if r.ok else " (failed)"
        shown = "—" if r.tool == "perftui" or x is None else f"{x:.1f}×"
        print(
            f"| {r.log} | {r.tool}{mark} | {r.mb:.0f} | {r.seconds:.1f} | {r.mb_s:.1f} |"
            f" {r.peak_rss_mb:.0f} | {shown} |"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=1024)
    ap.add_argument("--workdir", default=None, help="where to build logs (default: a temp dir)")
    ap.add_argument("--skip-peers", action="store_true", help="time perftui only")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="perftui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    runs = run_all(work, args.size_mb, args.skip_peers)
    print()
    print_table(runs)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
