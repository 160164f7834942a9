"""``python -m perftui.tui.advisor DB``: the advisor in a child process, result pickled to stdout.

The rules are pure Python (sqlglot); run in a thread of the app they would hold the GIL for
seconds and every key press would wait for it. A child process has its own interpreter, reads
the store through its own read-only connection, and is killed when the app quits.
"""

from __future__ import annotations

import os
import pickle
import sys
from functools import cached_property

import duckdb

from perftui.advice import advise
from perftui.rules.base import Finding, Workload
from perftui.store import queries, schema
from perftui.store.queries import ClassStats
from perftui.tui.data import Analysis


class ReadOnlyWorkload(Workload):
    """The advisor's workload over a read-only store.

    ``Workload.classes`` saves each class's parse into the store; the app cannot write, so
    classes not parsed yet are parsed in memory (and cached per process) instead.
    """

    @cached_property
    def classes(self) -> list[ClassStats]:
        stats = queries.class_stats(self.con, self.window)
        stored = dict(
            self.con.execute(
                "SELECT class_id, CASE WHEN parsed THEN coalesce(tables, []) END FROM query_classes"
            ).fetchall()
        )
        for c in stats:
            tables = stored.get(c.class_id)
            c.tables = list(tables) if tables is not None else list(self.parsed(c).tables)
        return stats


def analyse_file(path: str, threads: int | None = None) -> Analysis:
    """``analyse`` on its own read-only connection: what the app runs in a child process, since
    the rules are pure Python and would otherwise hold the GIL the UI thread needs."""
    con = schema.connect(path, read_only=True)
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    try:
        return analyse(con)
    finally:
        con.close()


def analyse(cur: duckdb.DuckDBPyConnection) -> Analysis:
    """Run every advisor rule over the whole store, most impactful finding first."""
    workload = ReadOnlyWorkload(cur)
    tables = {c.class_id: c.tables for c in workload.classes if c.tables}
    found, _warnings = advise(workload)
    return Analysis(found, tables, _fingerprints(workload, found))


def _fingerprints(workload: Workload, found: list[Finding]) -> dict[str, str]:
    by_id = workload.by_id
    return {cid: by_id[cid].fingerprint for f in found for cid in f.query_class_ids if cid in by_id}


def main(argv: list[str]) -> int:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # anything a rule prints must not corrupt the pickle
    # Background work: leave a core and the scheduler's favour to the app the user is driving.
    if hasattr(os, "nice"):
        os.nice(10)
    result = analyse_file(argv[0], threads=max(1, (os.cpu_count() or 2) - 1))
    out.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
