"""Bounded memory on a ~10 GB log: feed it to ``perftui ingest`` and watch its resident memory.

The log is never stored: copies of a sample log with shifted literals (the same generator as
ingest_vs_peers.py) are written straight into the standard input of ``perftui ingest - --db DB``.
Every second (``--interval``) perftui's VmRSS and VmHWM (the kernel's own running peak) are read
from /proc/PID/status, and after each GB fed (``--step-gb``) a row is recorded. At the end come
the rows, the final peak (the rusage of the exited process, so the finish after the input ended
counts too), wall time, MB/s, entries, DuckDB size per million entries, and a verdict: memory looks
bounded when the peak after the last step is within 10 % of the peak after the second step.

``--analyze`` then runs ``perftui analyze --db DB`` on the store under /usr/bin/time -v and
prints its wall time and peak RSS: the analysis reads every entry (exact percentiles, the
sequence rules), so its memory is the part that can grow with the store.

``--file`` writes the log to disk first and ingests the file instead (progress is then read from
perftui's file offset in /proc/PID/fdinfo), in case stdin ingest behaves differently; the log is
deleted afterwards.

    python benchmarks/scale.py                               # 10 GB MariaDB slow log, piped
    python benchmarks/scale.py --log postgres
    python benchmarks/scale.py --file --workdir /var/tmp/perftui-scale
    python benchmarks/scale.py --size-gb 5 --log postgres --analyze
    python benchmarks/scale.py --size-gb 0.05 --step-gb 0.01      # smoke test

The DuckDB file is written to the work dir (a few GB for 10 GB of log; a temp dir by default,
removed at the end unless ``--workdir`` is given).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest_vs_peers as logs

SAMPLES = {"mysql": logs.MY_SAMPLE, "postgres": logs.PG_SAMPLE}
GB = 1024**3
MB = 1024**2
TOLERANCE = 0.10


@dataclass(frozen=True)
class Checkpoint:
    """perftui's memory once ``fed`` bytes had gone in."""

    fed: int
    seconds: float
    rss_mb: float  # at the checkpoint
    step_max_mb: float  # highest RSS sampled since the previous checkpoint
    peak_mb: float  # VmHWM: the highest RSS since the process started


@dataclass
class Outcome:
    fed: int
    wall_s: float
    peak_mb: float  # ru_maxrss of the exited process
    returncode: int
    checkpoints: list[Checkpoint] = field(default_factory=list)


def memory_mb(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) of ``pid`` in MB; None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kb = {
        k: int(v.split()[0])
        for k, _, v in (ln.partition(":") for ln in text.splitlines())
        if k in ("VmRSS", "VmHWM")
    }
    if len(kb) < 2:
        return None  # a zombie has no memory lines
    return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024


def file_offset(pid: int, path: Path) -> int:
    """How far ``pid`` has read into ``path`` (the furthest of its descriptors open on it)."""
    target = str(path.resolve())
    best = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != target:
                continue
            info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        pos = next((ln.split()[1] for ln in info.splitlines() if ln.startswith("pos:")), "0")
        best = max(best, int(pos))
    return best


class Watcher(threading.Thread):
    """Samples perftui's memory every ``interval`` s and records a checkpoint each time
    ``progress()`` passes another ``step`` bytes. ``poll`` may also be called by the feeder, so
    a checkpoint lands exactly on its step when the feeder knows the byte count."""

    def __init__(self, pid: int, progress: Callable[[], int], step: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.progress, self.step, self.interval = pid, progress, step, interval
        self.start_time = time.perf_counter()
        self.checkpoints: list[Checkpoint] = []
        self.next_mark = step
        self.step_max = 0.0
        self.furthest = 0
        self.done = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        with self.lock:
            mem = memory_mb(self.pid)
            if mem is None:
                return
            rss, hwm = mem
            self.step_max = max(self.step_max, rss)
            self.furthest = max(self.furthest, self.progress())
            while self.furthest >= self.next_mark:
                self.record(self.next_mark, rss, hwm)

    def record(self, mark: int, rss: float, hwm: float) -> None:
        seconds = time.perf_counter() - self.start_time
        self.checkpoints.append(Checkpoint(mark, seconds, rss, self.step_max, hwm))
        print(
            f"  {mark / GB:6.2f} GB fed, {seconds:7.1f} s: RSS {rss:6.0f} MB, peak {hwm:6.0f} MB",
            file=sys.stderr,
        )
        self.step_max = rss
        self.next_mark += self.step


def chunks(copies: Iterator[bytes], target: int) -> Iterator[bytes]:
    """Copies until at least ``target`` bytes: each step boundary, the last one included, is
    crossed (a floor would stop just short of the final GB)."""
    total = 0
    for copy in copies:
        yield copy
        total += len(copy)
        if total >= target:
            return


def ingest_command(path: str, db: Path) -> list[str]:
    return [*logs.perftui_command(), "ingest", path, "--db", str(db)]


def finish(proc: subprocess.Popen[bytes], watcher: Watcher, fed: int, start: float) -> Outcome:
    """Wait for perftui with wait4, whose rusage holds the exact peak RSS of the whole run."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    watcher.done.set()
    watcher.join()
    return Outcome(fed, wall, usage.ru_maxrss / 1024, proc.returncode, watcher.checkpoints)


def run_piped(
    sample: Path, target: int, db: Path, out: Path, step: int, interval: float
) -> Outcome:
    """Generate the log on the fly into ``perftui ingest -``."""
    fed = 0
    with out.open("wb") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(
            ingest_command("-", db), stdin=subprocess.PIPE, stdout=log, stderr=log
        )
        watcher = Watcher(proc.pid, lambda: fed, step, interval)
        watcher.start()
        assert proc.stdin is not None
        try:
            for chunk in chunks(logs.shifted_copies(sample.read_bytes()), target):
                proc.stdin.write(chunk)
                fed += len(chunk)
                if fed >= watcher.next_mark:
                    watcher.poll()
            proc.stdin.close()
        except BrokenPipeError:
            print("  perftui stopped reading (see its output below)", file=sys.stderr)
        return finish(proc, watcher, fed, start)


def write_log(sample: Path, target: int, dest: Path) -> int:
    """The same bytes ``run_piped`` would feed, written to ``dest``; returns their count."""
    start = time.perf_counter()
    with dest.open("wb") as fh:
        for chunk in chunks(logs.shifted_copies(sample.read_bytes()), target):
            fh.write(chunk)
    size = dest.stat().st_size
    print(f"  wrote {size / GB:.2f} GB in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return size


def run_file(log: Path, size: int, db: Path, out: Path, step: int, interval: float) -> Outcome:
    """``perftui ingest LOG`` on a file on disk; progress is perftui's read offset."""
    with out.open("wb") as output:
        start = time.perf_counter()
        proc = subprocess.Popen(ingest_command(str(log), db), stdout=output, stderr=output)
        watcher = Watcher(proc.pid, lambda: file_offset(proc.pid, log), step, interval)
        watcher.start()
        return finish(proc, watcher, size, start)


def verdict(checkpoints: list[Checkpoint], final_peak: float) -> str:
    """Bounded = the peak after the last step within TOLERANCE of the peak after the second
    (the first step still holds start-up and the buffer pool filling up)."""
    if len(checkpoints) < 3:
        return f"too few steps to judge boundedness ({len(checkpoints)}; need 3, see --step-gb)"
    ref, last = checkpoints[1], checkpoints[-1]
    growth = last.peak_mb / ref.peak_mb - 1 if ref.peak_mb else 0.0
    ok = growth <= TOLERANCE
    text = (
        f"memory {'looks bounded' if ok else 'does NOT look bounded'}: peak {last.peak_mb:.0f} MB"
        f" after {last.fed / GB:.2f} GB vs {ref.peak_mb:.0f} MB after {ref.fed / GB:.2f} GB"
        f" ({growth:+.0%}, limit +{TOLERANCE:.0%})"
    )
    if final_peak > last.peak_mb * (1 + TOLERANCE):
        text += f"; the finish after the input ended peaked higher, at {final_peak:.0f} MB"
    return text


def report(outcome: Outcome, footprint: logs.Footprint | None, title: str) -> None:
    print(f"\n{title}\n")
    print("| GB fed | elapsed s | MB/s so far | RSS MB | max RSS in step MB | peak so far MB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for c in outcome.checkpoints:
        rate = c.fed / MB / c.seconds if c.seconds else 0.0
        print(
            f"| {c.fed / GB:.2f} | {c.seconds:.1f} | {rate:.1f} | {c.rss_mb:.0f} |"
            f" {c.step_max_mb:.0f} | {c.peak_mb:.0f} |"
        )
    entries = f"{footprint.entries:,}" if footprint else "?"
    db_mb = f"{footprint.bytes / MB:,.0f}" if footprint else "?"
    per_m = f"{footprint.mb_per_million:.1f}" if footprint else "?"
    rate = outcome.fed / MB / outcome.wall_s if outcome.wall_s else 0.0
    print(
        "\n| fed GB | wall s | MB/s | final peak RSS MB | entries | DuckDB MB | MB per M entries |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {outcome.fed / GB:.2f} | {outcome.wall_s:.1f} | {rate:.1f} | {outcome.peak_mb:.0f} |"
        f" {entries} | {db_mb} | {per_m} |"
    )
    print(f"\n{verdict(outcome.checkpoints, outcome.peak_mb)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gb", type=float, default=10.0)
    ap.add_argument("--log", choices=sorted(SAMPLES), default="mysql")
    ap.add_argument("--file", action="store_true", help="write the log to disk, ingest the file")
    ap.add_argument("--step-gb", type=float, default=1.0, help="a row after every this many GB")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between RSS samples")
    ap.add_argument("--workdir", help="DuckDB file (and --file's log) here, kept")
    ap.add_argument("--memory-limit", help="PERFTUI_MEMORY_LIMIT for perftui (default: its own)")
    ap.add_argument("--analyze", action="store_true", help="then time `perftui analyze` on it")
    args = ap.parse_args()
    if args.memory_limit:
        os.environ["PERFTUI_MEMORY_LIMIT"] = args.memory_limit
    work = Path(args.workdir or tempfile.mkdtemp(prefix="perftui-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    db, out = work / "scale.duckdb", work / "perftui-ingest.out"
    for suffix in ("", ".wal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    sample, target, step = SAMPLES[args.log], int(args.size_gb * GB), int(args.step_gb * GB)
    mode = "file" if args.file else "stdin"
    print(f"feeding {args.size_gb:g} GB of {sample.name} to perftui ({mode})", file=sys.stderr)
    if args.file:
        log = work / f"scale-{sample.name}"
        try:
            outcome = run_file(log, write_log(sample, target, log), db, out, step, args.interval)
        finally:
            log.unlink(missing_ok=True)
    else:
        outcome = run_piped(sample, target, db, out, step, args.interval)
    print(out.read_text(errors="replace").strip()[-2000:], file=sys.stderr)
    footprint = logs.store_footprint(db) if outcome.returncode == 0 else None
    limit = os.environ.get("PERFTUI_MEMORY_LIMIT", "384MB (default)")
    title = (
        f"perftui ingest ({mode}) of {sample.name} repeated to {outcome.fed / GB:.2f} GB;"
        f" PERFTUI_MEMORY_LIMIT={limit}; {os.cpu_count()} CPUs; exit {outcome.returncode}"
    )
    report(outcome, footprint, title)
    if args.analyze and outcome.returncode == 0:
        run = logs.timed(
            "perftui analyze",
            sample.name,
            outcome.fed / 1024 / 1024,
            [*logs.perftui_command(), "analyze", "--db", str(db), "--format", "json"],
        )
        entries = f"{footprint.entries:,}-entry " if footprint else ""
        print(
            f"\nperftui analyze of the {entries}store: {run.seconds:.1f} s, peak RSS"
            f" {run.peak_rss_mb:.0f} MB, exit {'0' if run.ok else run.note}"
        )
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return outcome.returncode


if __name__ == "__main__":
    sys.exit(main())
