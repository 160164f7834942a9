"""The fingerprint cache hands back what fingerprinting gives, batch after batch, and stays
within its bound: batches of the real sample logs, classified with and without it."""

from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pytest

from perftui.ingest.driver import DIALECT
from perftui.ingest.formats import ParseOptions, detect
from perftui.ingest.sources import sample_lines
from perftui.store import writer
from perftui.store.connections import ConnectionNumbers
from perftui.store.fingerprint_cache import FingerprintCache
from tests.conftest import sample


def _batches(name: str, size: int) -> tuple[list[pa.Table], str]:
    """The sample log's entries (as the Python parser makes them) in tables of ``size``."""
    path = sample(name)
    text = path.read_text()
    lines = text.splitlines()
    fmt, _ = detect(sample_lines(text.encode()[:65536]))
    parser = fmt.make(lines[:200], ParseOptions())
    parser.feed(lines, 1)
    parser.finish()
    entries = sorted(parser.entries, key=lambda e: e.line_start)
    tables = [writer.to_arrow(entries[i : i + size], i) for i in range(0, len(entries), size)]
    return tables, DIALECT[fmt.name]


def _rows(classified: writer.Classified) -> list[tuple]:
    columns = ["query", "class_id", *writer._ATTRIBUTES]
    return list(zip(*(classified.entries.column(c).to_pylist() for c in columns), strict=True))


@pytest.mark.parametrize("name", ["mariadb-slow.log", "postgresql.log"])
@pytest.mark.parametrize("max_bytes", [0, 2_000, 10**9])
def test_cached_classes_equal_fingerprinting_each_batch(name: str, max_bytes: int) -> None:
    """Every batch classified through the cache (kept whole, starting over at each batch, or
    in between) gets the class ids, attributes and new classes of a batch classified alone;
    a shuffled order of batches too, so rows taken from the cache are matched by text."""
    tables, dialect = _batches(name, 97)
    random.Random(7).shuffle(tables)
    con = duckdb.connect()
    cache = FingerprintCache(max_bytes)
    for table in tables:
        alone = writer.classify(con, table, dialect, ConnectionNumbers())
        cached = writer.classify(con, table, dialect, ConnectionNumbers(), cache)
        assert _rows(cached) == _rows(alone)
        assert sorted(cached.classes.to_pylist(), key=str) == sorted(
            alone.classes.to_pylist(), key=str
        )
    assert cache.hits > 0  # the sample logs repeat statements across batches
    if max_bytes == 10**9:
        assert cache.misses == len(
            {q for t in tables for q in t.column("query").to_pylist()} - {None}
        )


def _upper(texts: pa.Array) -> pa.Table:
    return pa.table({"query": texts, "fingerprint": pa.compute.utf8_upper(texts)})


def test_a_batch_without_texts_first_or_later() -> None:
    cache = FingerprintCache()
    assert cache.fingerprinted(pa.array([], pa.string()), _upper).num_rows == 0
    cache.fingerprinted(pa.array(["select 1"]), _upper)
    assert cache.fingerprinted(pa.array([], pa.string()), _upper).num_rows == 0


def test_cache_stays_within_its_bound_and_keeps_the_last_batch() -> None:
    compute = _upper

    cache = FingerprintCache(max_bytes=1_000)
    for batch in range(50):
        texts = pa.array([f"select {batch * 10 + i} -- {'x' * 30}" for i in range(10)])
        out = cache.fingerprinted(texts, compute)
        assert sorted(out.column("query").to_pylist()) == sorted(texts.to_pylist())
        assert cache._bytes <= 1_000
    again = pa.array([f"select {49 * 10 + i} -- {'x' * 30}" for i in range(10)])
    misses = cache.misses
    cache.fingerprinted(again, compute)
    assert cache.misses == misses  # the last batch's texts are still known
