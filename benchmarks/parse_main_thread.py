"""Main-thread cost of batch-ingesting a log: a Python parser + sort + ``writer.to_arrow`` against
its compiled twin (``Format.make_fast``) + ``take_table``, for any format that has one (MySQL /
MariaDB slow logs, PostgreSQL stderr logs; the format is detected as the driver detects it).

This is the part of ``perftui ingest`` that runs on the main thread (DuckDB stores the tables on
the writer thread). The log is decoded into line batches first, exactly as the driver reads it
(``sources.line_batches``), and that is not timed; then each parser is fed every batch and a
table is made once ``CONVERT_ENTRIES`` entries are waiting and at the end, as the driver does
(the Python parser's entries sorted by line_start first, as it sorts them). Each implementation
runs ``--runs`` times (alternating); the medians are printed, split into parse and table time,
with the ratio.

    python benchmarks/parse_main_thread.py /var/tmp/pt/my100.log
    python benchmarks/parse_main_thread.py sample_logs/postgresql.log --runs 5
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Iterator
from typing import Any

from perftui.ingest import formats
from perftui.ingest.driver import CONVERT_ENTRIES
from perftui.ingest.formats import Format, ParseOptions
from perftui.ingest.records import Entry
from perftui.ingest.sources import line_batches, open_source, sample_lines
from perftui.store.writer import to_arrow

Batches = list[tuple[list[str], int]]


def read_batches(path: str) -> tuple[Batches, list[str]]:
    """The log's line batches and its sample lines (for format and prefix detection)."""
    src = open_source(path)
    try:
        return [(b.lines, b.first_line_no) for b in line_batches(src)], sample_lines(src.head)
    finally:
        src.close()


def steps(parser: Any, batches: Batches) -> Iterator[bool]:
    """Feed every batch, then finish; yields after each step (True after the last)."""
    for lines, first in batches:
        parser.feed(lines, first)
        yield False
    parser.finish()
    yield True


def run_python(fmt: Format, batches: Batches, sample: list[str]) -> tuple[float, float, int]:
    """(parse seconds, sort + to_arrow seconds, rows) for the Python parser."""
    parser = fmt.make(sample, ParseOptions())
    pending: list[Entry] = []
    parse = table = 0.0
    rows = 0
    t0 = time.perf_counter()
    for last in steps(parser, batches):
        pending.extend(parser.entries)
        parser.entries.clear()
        parser.rejects.clear()
        t1 = time.perf_counter()
        parse += t1 - t0
        if len(pending) >= CONVERT_ENTRIES or (last and pending):
            pending.sort(key=lambda e: e.line_start)
            rows += to_arrow(pending, rows).num_rows
            pending.clear()
        t0 = time.perf_counter()
        table += t0 - t1
    return parse, table, rows


def run_fast(fmt: Format, batches: Batches, sample: list[str]) -> tuple[float, float, int]:
    """(parse seconds, take_table seconds, rows) for the compiled parser."""
    parser = fmt.make_fast(sample, ParseOptions())
    assert hasattr(parser, "take_table"), "the compiled parser is not built"
    parse = table = 0.0
    rows = 0
    t0 = time.perf_counter()
    for last in steps(parser, batches):
        parser.rejects.clear()
        t1 = time.perf_counter()
        parse += t1 - t0
        if parser.entry_count >= CONVERT_ENTRIES or (last and parser.entry_count):
            rows += parser.take_table(rows).num_rows
        t0 = time.perf_counter()
        table += t0 - t1
    return parse, table, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", help="a slow log or a PostgreSQL stderr log")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    batches, sample = read_batches(args.log)
    fmt, _score = formats.detect(sample)
    if fmt is None or fmt.make_fast is None:
        raise SystemExit(f"{args.log}: not a format with a compiled parser")
    results: dict[str, list[tuple[float, float, int]]] = {"python": [], "compiled": []}
    gc.disable()  # as the driver does while parsing
    for _ in range(args.runs):
        results["python"].append(run_python(fmt, batches, sample))
        results["compiled"].append(run_fast(fmt, batches, sample))
    totals = {}
    for name, runs in results.items():
        parse = statistics.median(r[0] for r in runs)
        table = statistics.median(r[1] for r in runs)
        totals[name] = statistics.median(r[0] + r[1] for r in runs)
        print(
            f"{name:9} parse {parse:6.3f} s  table {table:6.3f} s  total {totals[name]:6.3f} s"
            f"  ({runs[0][2]:,} entries; totals {', '.join(f'{r[0] + r[1]:.3f}' for r in runs)})"
        )
    print(f"compiled / python main-thread time: 1 / {totals['python'] / totals['compiled']:.1f}")


if __name__ == "__main__":
    main()
