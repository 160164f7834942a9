"""Can ``perftui tail`` keep up? A writer appends ~20 k entries/s for a minute while it follows.

The writer is a child process appending slow-log entries in small writes (every 10 ms), each
entry stamped with its wall-clock write time (MySQL ``SET timestamp=<epoch.micro>;``, or the
``%m`` prefix of a PostgreSQL stderr line), so the delay from append to stored is measured per
entry. The tailer runs the real follow loop (watcher, follower, parser, DuckDB writes) in this
process and prints, once a second: entries written and stored, lag in bytes, append-to-stored
latency (median and worst of the entries stored in that second) and resident memory. At the end
it stays idle for a while and reports the CPU it used doing nothing.

    python benchmarks/tail_throughput.py                     # MySQL slow log, 20 k/s, 60 s
    python benchmarks/tail_throughput.py --log postgres --rate 20000 --seconds 60
    python benchmarks/tail_throughput.py --seconds 10 --idle 5 --poll
    python benchmarks/tail_throughput.py --latency 20   # one entry at a time, end to end

``--latency N`` measures something else: the real ``perftui tail --headless --format jsonl`` runs
as a child, N single entries are appended half a second apart, and the time from each append to
its line on the child's standard output is reported (the "within 1 s" of the issue).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perftui.store.results import first

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from perftui.store import schema  # noqa: E402
from perftui.tail.ingest_live import LiveIngest, follow_loop  # noqa: E402
from perftui.tail.watcher import make_watcher  # noqa: E402

MYSQL_HEADER = (
    "/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-0+deb12u1 (Debian 12). started with:\n"
    "Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n"
    "Time\t\t    Id Command\tArgument\n"
)


def _mysql_entry(i: int, now: float) -> str:
    return (
        f"# User@Host: app[app] @  [10.0.0.{i % 200}]\n"
        f"# Thread_id: {1000 + i % 64}  Schema: shop  QC_hit: No\n"
        f"# Query_time: 0.{(i * 7919) % 1000000:06d}  Lock_time: 0.000010  Rows_sent: 1"
        f"  Rows_examined: {i % 5000}\n"
        f"# Rows_affected: 0  Bytes_sent: 120\n"
        f"SET timestamp={now:.6f};\n"
        f"SELECT id, total FROM orders WHERE user_id = {i % 20000} AND status = 'open'"
        f" ORDER BY created_at DESC LIMIT {1 + i % 50};\n"
    )


def _postgres_entry(i: int, now: float) -> str:
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return (
        f"{stamp} UTC [{2000 + i % 64}] app@shop LOG:  duration: 0.{(i * 7919) % 1000:03d} ms"
        f"  statement: SELECT id, total FROM orders WHERE user_id = {i % 20000}"
        f" AND status = 'open' ORDER BY created_at DESC LIMIT {1 + i % 50}\n"
    )


def writer(path: str, log: str, rate: int, seconds: float) -> None:
    """Append ``rate`` entries/s for ``seconds`` in writes every 10 ms (run as a child)."""
    entry = _mysql_entry if log == "mysql" else _postgres_entry
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    if log == "mysql" and os.fstat(fd).st_size == 0:
        os.write(fd, MYSQL_HEADER.encode())
    start = time.time()
    i = 0
    while True:
        now = time.time()
        if now - start >= seconds:
            break
        due = int((now - start) * rate)
        if due > i:
            os.write(fd, "".join(entry(j, now) for j in range(i, due)).encode())
            i = due
        time.sleep(0.01)
    os.close(fd)
    print(i, flush=True)


def latency(log_kind: str, n: int, poll: bool, workdir: Path) -> None:
    """Append ``n`` single entries; time each one until ``perftui tail --headless`` prints it."""
    import json
    import queue
    import threading

    log = workdir / ("slow.log" if log_kind == "mysql" else "postgresql.log")
    db = workdir / "latency.duckdb"
    for p in (log, db):
        if p.exists():
            p.unlink()
    entry = _mysql_entry if log_kind == "mysql" else _postgres_entry
    log.write_text((MYSQL_HEADER if log_kind == "mysql" else "") + entry(0, time.time()))
    cmd = [
        sys.executable,
        "-m",
        "perftui.tail",
        "--headless",
        "--format",
        "jsonl",
        "--findings-every",
        "0",
        "--db",
        str(db),
        str(log),
    ]
    child = subprocess.Popen(
        [*cmd, *(["--poll"] if poll else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in child.stdout], daemon=True).start()
    assert child.stderr is not None
    for err_line in child.stderr:
        if "following 1 file" in err_line:
            break
    delays = []
    for i in range(1, n + 1):
        time.sleep(0.5)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        sent = time.monotonic()
        os.write(fd, entry(i * 1000 + 7, time.time()).encode())
        os.close(fd)
        while True:
            rec = json.loads(lines.get(timeout=30))
            if rec.get("type") == "query" and "= ? and status" in (rec["fingerprint"] or ""):
                delays.append((time.monotonic() - sent) * 1000)
                break
    child.send_signal(2)
    child.wait(30)
    delays.sort()
    print(
        f"{log_kind} log, {'poll' if poll else 'notify'}: append -> printed over {n} entries: "
        f"median {statistics.median(delays):.0f} ms, p90 {delays[int(0.9 * (n - 1))]:.0f} ms, "
        f"max {delays[-1]:.0f} ms"
    )


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", choices=("mysql", "postgres"), default="mysql")
    ap.add_argument("--rate", type=int, default=20_000, help="entries per second")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--idle", type=float, default=10.0, help="idle seconds measured at the end")
    ap.add_argument("--poll", action="store_true", help="polling watcher instead of inotify")
    ap.add_argument("--dir", help="where to put the log and the store (default: a temp dir)")
    ap.add_argument("--latency", type=int, metavar="N", help="time N single entries end to end")
    ap.add_argument("--writer", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.writer:
        path, log, rate, seconds = args.writer
        writer(path, log, int(rate), float(seconds))
        return

    workdir = Path(args.dir or tempfile.mkdtemp(prefix="perftui-tail-bench-"))
    try:
        if args.latency:
            latency(args.log, args.latency, args.poll, workdir)
        else:
            throughput(args, workdir)
    finally:
        if not args.dir:
            shutil.rmtree(workdir, ignore_errors=True)  # a minute at 20 k/s is ~400 MB of log


def throughput(args: argparse.Namespace, workdir: Path) -> None:
    """The writer child at ``args.rate`` for ``args.seconds``; this process tails it."""
    log = workdir / ("slow.log" if args.log == "mysql" else "postgresql.log")
    db = workdir / "tail.duckdb"
    for p in (log, db):
        if p.exists():
            p.unlink()
    if args.log == "mysql":
        log.write_text(MYSQL_HEADER)
    else:
        log.write_text(_postgres_entry(0, time.time()))
    con = schema.connect(db)
    live = LiveIngest(con, [str(log)], from_start=True)
    watcher = make_watcher([str(log)], force_polling=args.poll)
    print(
        f"{args.log} log, {args.rate:,} entries/s for {args.seconds:.0f} s; watcher: "
        f"{watcher.kind}; files in {workdir}"
    )
    print(
        f"{'t':>5} {'stored':>10} {'entries/s':>10} {'lag bytes':>11} "
        f"{'lat p50 ms':>10} {'lat max ms':>10} {'rss MB':>7}"
    )

    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--writer",
            str(log),
            args.log,
            str(args.rate),
            str(args.seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    start = time.monotonic()
    state = {"next": start + 1.0, "stored": 0, "lat": [], "writer_done": None}
    samples: list[tuple[float, int, int, float, float, float]] = []

    def on_written(written: list) -> None:  # type: ignore[type-arg]
        now = time.time()
        for w in written:
            if not w.entries:
                continue
            lo, hi = first(
                con.execute(
                    "SELECT epoch(min(ts)), epoch(max(ts)) FROM entries"
                    " WHERE source_id = ? AND entry_no BETWEEN ? AND ?",
                    [w.source_id, w.first_entry_no, w.first_entry_no + w.entries - 1],
                )
            )
            if lo is not None:
                state["lat"].extend([(now - lo) * 1000, (now - hi) * 1000])
            state["stored"] += w.entries

    def tick() -> float | None:
        now = time.monotonic()
        if child.poll() is not None and state["writer_done"] is None:
            state["writer_done"] = now
        if now >= state["next"]:
            lat = state["lat"]
            p50 = statistics.median(lat) if lat else float("nan")
            worst = max(lat) if lat else float("nan")
            prev = samples[-1][1] if samples else 0
            row = (now - start, state["stored"], live.lag_bytes(), p50, worst, rss_mb())
            samples.append(row)
            print(
                f"{row[0]:5.0f} {row[1]:10,} {row[1] - prev:10,} {row[2]:11,} "
                f"{p50:10.1f} {worst:10.1f} {row[5]:7.1f}",
                flush=True,
            )
            state["lat"] = []
            state["next"] += 1.0
        return max(state["next"] - now, 0.0)

    def done() -> bool:
        wd = state["writer_done"]
        return wd is not None and time.monotonic() - wd > 2.0

    follow_loop(live, watcher, on_written, done, tick=tick)
    written_by_writer = int(child.stdout.read().strip() or 0) if child.stdout else 0
    caught_up = state["stored"]

    # Idle: the writer has stopped; the loop keeps following and should use almost no CPU.
    idle_start = time.monotonic()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    follow_loop(live, watcher, on_written, lambda: time.monotonic() - idle_start > args.idle)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    idle_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    live.stop()
    watcher.close()
    con.close()

    steady = [s for s in samples if 5 <= s[0] <= args.seconds]
    print()
    print(
        f"writer appended {written_by_writer:,} entries; tailer stored {caught_up:,} "
        f"(+{state['stored'] - caught_up} after the writer stopped)"
    )
    if steady:
        lat_max = max(s[4] for s in steady)
        lat_p50 = statistics.median(s[3] for s in steady)
        lag_first, lag_last = steady[0][2], steady[-1][2]
        mem_first, mem_last = steady[0][5], steady[-1][5]
        print(
            f"steady state (5 s .. {args.seconds:.0f} s): latency median {lat_p50:.0f} ms, "
            f"worst {lat_max:.0f} ms; lag {lag_first:,} -> {lag_last:,} bytes; "
            f"rss {mem_first:.0f} -> {mem_last:.0f} MB"
        )
    print(
        f"idle: {idle_cpu:.3f} s CPU in {args.idle:.0f} s "
        f"({100 * idle_cpu / args.idle:.2f} % of one core)"
    )


if __name__ == "__main__":
    main()
