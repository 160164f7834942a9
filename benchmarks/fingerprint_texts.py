"""CPU of fingerprinting a store's distinct statements: the SQL regex chain alone against the
compiled fingerprinter with the chain for what it declines (``writer._fingerprint_texts``).

Ingest fingerprints each batch's distinct texts that its cache does not hold; this times the
same call on all the distinct texts of a store (``perftui ingest`` a log first), in chunks of
``--chunk`` texts, on one DuckDB thread as the ingest's fingerprinting thread runs it. Both
paths run ``--runs`` times, alternating; the medians of process CPU time are printed with the
ratio and the share of texts the compiled path declined.

    python benchmarks/fingerprint_texts.py --db /var/tmp/pt/pg.duckdb --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import duckdb
import pyarrow as pa

from perftui.store import writer


def distinct_texts(db: str) -> tuple[pa.Array, str]:
    con = duckdb.connect(db, read_only=True)
    try:
        texts = con.sql(
            "SELECT DISTINCT query FROM entries WHERE query IS NOT NULL ORDER BY query"
        ).to_arrow_table()
        dialect = con.execute("SELECT any_value(dialect) FROM sources").fetchall()[0][0]
    finally:
        con.close()
    return texts.column(0).combine_chunks(), dialect


def run(texts: pa.Array, dialect: str, chunk: int, fast: bool) -> float:
    """CPU seconds to fingerprint every chunk of ``texts``."""
    saved = writer._fast_fingerprints
    writer._fast_fingerprints = saved if fast else None
    con = duckdb.connect()
    con.execute("SET threads = 1")
    try:
        start = time.process_time()
        for i in range(0, len(texts), chunk):
            writer._fingerprint_texts(con, texts.slice(i, chunk), dialect)
        return time.process_time() - start
    finally:
        writer._fast_fingerprints = saved
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="a perftui store (perftui ingest LOG --db FILE)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=20_000, help="texts per call (a batch's misses)")
    args = ap.parse_args()
    if writer._fast_fingerprints is None:
        raise SystemExit(
            "the compiled fingerprinter is not built (pip install -e . with a C compiler)"
        )
    texts, dialect = distinct_texts(args.db)
    declined = writer._fast_fingerprints(texts, dialect == "postgres")[0].null_count
    sql, fast = [], []
    for _ in range(args.runs):
        sql.append(run(texts, dialect, args.chunk, fast=False))
        fast.append(run(texts, dialect, args.chunk, fast=True))
    mb = texts.nbytes / 1e6
    print(
        f"{len(texts):,} distinct {dialect} texts, {mb:.1f} MB; compiled path declined {declined:,}"
    )
    for name, times in (("regexes only", sql), ("compiled + regexes", fast)):
        t = statistics.median(times)
        print(f"{name:20} {t:7.3f} s CPU (median of {args.runs})  {mb / t:7.1f} MB/s")
    print(f"ratio compiled / regexes: {statistics.median(fast) / statistics.median(sql):.3f}")


if __name__ == "__main__":
    main()
