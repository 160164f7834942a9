"""Ingest + report speed of perftui against pt-query-digest and pgbadger, same files, same run.

Builds ~SIZE MB logs by repeating the real logs in sample_logs/ (timestamps kept, so the peers
see valid logs), then runs each tool as a whole process under /usr/bin/time -v and prints wall
time, MB/s, peak RSS and the ratio to perftui. Run:

    python benchmarks/ingest_vs_peers.py            # ~1 GB per log (takes a while: the peers)
    python benchmarks/ingest_vs_peers.py --size-mb 200

Needs Debian's percona-toolkit (pt-query-digest) and pgbadger on PATH.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
PG_PREFIX = "%m [%p] %q%u@%d "


@dataclass
class Run:
    tool: str
    log: str
    seconds: float
    peak_rss_mb: float
    mb: float
    ok: bool

    @property
    def mb_s(self) -> float:
        return self.mb / self.seconds if self.seconds else 0.0


_LITERAL = re.compile(rb"(?<== )(\d+)\b")


def build_log(src: Path, dest: Path, size_mb: int) -> float:
    """Repeat ``src`` into ``dest`` until it reaches ``size_mb``; returns the size in MB.

    Each copy shifts the ``= N`` literals of its statements, so statements differ from copy to
    copy as in a real log (no tool gets to reuse work on identical text).
    """
    data = src.read_bytes()
    if not data.endswith(b"\n"):
        data += b"\n"
    target = size_mb * 1024 * 1024
    reps = max(1, target // len(data))
    with dest.open("wb") as fh:
        for rep in range(reps):
            fh.write(_LITERAL.sub(lambda m, r=rep: b"%d" % (int(m.group(1)) + r), data))
    return dest.stat().st_size / 1024 / 1024


def timed(tool: str, log: str, mb: float, cmd: list[str]) -> Run:
    """Run ``cmd`` under /usr/bin/time -v; stdout discarded."""
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    seconds = 0.0
    if wall:
        h = int(wall.group(1) or 0)
        seconds = h * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    if proc.returncode != 0:
        print(
            f"  {tool} exited {proc.returncode}: {proc.stderr.strip().splitlines()[:3]}",
            file=sys.stderr,
        )
    return Run(
        tool, log, seconds, int(rss.group(1)) / 1024 if rss else 0.0, mb, proc.returncode == 0
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--workdir", default=None, help="where to build logs (default: a temp dir)")
    ap.add_argument("--skip-peers", action="store_true", help="time perftui only")
    args = ap.parse_args()
    perftui = shutil.which("perftui") or f"{sys.executable} -m perftui.cli"
    work = Path(args.workdir or tempfile.mkdtemp(prefix="perftui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []

    my_log = work / "mariadb-slow.log"
    pg_log = work / "postgresql.log"
    print(f"building ~{args.size_mb} MB logs in {work}", file=sys.stderr)
    my_mb = build_log(SAMPLES / "mariadb-slow.log", my_log, args.size_mb)
    pg_mb = build_log(SAMPLES / "postgresql.log", pg_log, args.size_mb)

    pt = ["pt-query-digest", "--limit", "100%:10000", "--preserve-embedded-numbers", str(my_log)]

    def pgbadger(jobs: int) -> list[str]:
        out = str(work / "pgbadger.json")
        return ["pgbadger", "-j", str(jobs), "--prefix", PG_PREFIX, "-x", "json", "-o", out,
                str(pg_log)]

    for log, mb, peers in (
        (my_log, my_mb, [("pt-query-digest", pt)]),
        (pg_log, pg_mb, [("pgbadger -j 1", pgbadger(1)), ("pgbadger -j 2", pgbadger(2))]),
    ):
        db = work / "bench.duckdb"
        for suffix in ("", ".wal"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        print(f"perftui analyze {log.name} ({mb:.0f} MB)…", file=sys.stderr)
        runs.append(
            timed(
                "perftui",
                log.name,
                mb,
                [*perftui.split(), "analyze", str(log), "--db", str(db), "--format", "json"],
            )
        )
        if args.skip_peers:
            continue
        for name, cmd in peers:
            print(f"{name} {log.name}…", file=sys.stderr)
            runs.append(timed(name, log.name, mb, cmd))

    print()
    print("| log | tool | size MB | wall s | MB/s | peak RSS MB | perftui is × faster |")
    print("|---|---|---:|---:|---:|---:|---:|")
    base = {r.log: r for r in runs if r.tool == "perftui"}
    for r in runs:
        ratio = r.seconds / base[r.log].seconds if base[r.log].seconds else 0.0
        mark = "" if r.ok else " (failed)"
        print(
            f"| {r.log} | {r.tool}{mark} | {r.mb:.0f} | {r.seconds:.1f} | {r.mb_s:.1f} |"
            f" {r.peak_rss_mb:.0f} | {'—' if r.tool == 'perftui' else f'{ratio:.1f}×'} |"
        )
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
