"""Shared by the compiled-parser tests: feed a compiled parser and its Python twin the same lines
the same way, and require what the driver would store of both to be equal."""

from __future__ import annotations

import importlib
import os
import struct
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import strategies as st

from perftui.ingest.records import Entry
from perftui.ingest.sources import line_batches, open_source
from perftui.store.writer import to_arrow


def compiled(module: str, name: str) -> type:
    """Class ``name`` of the compiled ``module``; skips when it was not built, fails instead
    under PERFTUI_REQUIRE_NATIVE=1 (CI)."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        reason = (
            f"{module} is not compiled ({type(exc).__name__}: {exc}); "
            "`pip install -e .` with a C compiler builds it"
        )
        if os.environ.get("PERFTUI_REQUIRE_NATIVE") == "1":
            pytest.fail(f"PERFTUI_REQUIRE_NATIVE=1 but {reason}")
        pytest.skip(reason)


def _bits(values: list[float | None]) -> list[bytes | None]:
    """Floats by their bit pattern: NaN equals NaN, -0.0 differs from 0.0 (``equals`` would
    say the opposite of both)."""
    return [None if v is None else struct.pack("<d", v) for v in values]


def assert_same_table(expected: pa.Table, got: pa.Table) -> None:
    assert got.schema == expected.schema
    assert got.num_rows == expected.num_rows
    for name in expected.column_names:
        want, have = expected[name], got[name]
        if pa.types.is_floating(want.type):
            assert _bits(have.to_pylist()) == _bits(want.to_pylist()), name
        else:
            assert have.equals(want), (name, want.to_pylist()[:5], have.to_pylist()[:5])
    if not any(
        pa.types.is_floating(c.type) and c.to_pylist() != c.to_pylist() for c in expected.columns
    ):  # NaN is never ``equals`` to itself; without it the whole table must be
        assert got.equals(expected)


def feed_both(
    py,
    fast,
    lines: list[str],
    batches: Iterable[int] = (),
    *,
    settles: dict[int, int] | None = None,
    take_every: int = 1,
) -> int:
    """Feed ``lines`` to both parsers in batches of the given sizes (the rest in one batch),
    calling ``settle(settles[i])`` after batch ``i`` and taking a table after every
    ``take_every`` batches and at the end, as the driver does (it sorts the Python parser's
    entries by line_start before ``to_arrow``); every table and every reject must be equal, and
    so must ``pending_line`` and ``entry_count`` after every call. Returns the number of
    entries."""
    settles = settles or {}
    pending: list[Entry] = []
    entry_no = 0

    def check() -> None:
        pending.extend(py.entries)
        py.entries.clear()
        assert fast.rejects == py.rejects
        py.rejects.clear()
        fast.rejects.clear()
        assert fast.pending_line == py.pending_line
        assert fast.entry_count == len(pending)

    def take() -> None:
        nonlocal entry_no
        expected = to_arrow(sorted(pending, key=lambda e: e.line_start), entry_no)
        assert_same_table(expected, fast.take_table(entry_no))
        assert fast.entry_count == 0
        entry_no += len(pending)
        pending.clear()

    sizes = [*batches, len(lines)]
    start = 0
    for i, size in enumerate(sizes):
        chunk = lines[start : start + size]
        if not chunk and start:
            break
        py.feed(chunk, start + 1)
        fast.feed(chunk, start + 1)
        start += len(chunk)
        check()
        if i in settles:
            py.settle(settles[i])
            fast.settle(settles[i])
            check()
        if (i + 1) % take_every == 0:
            take()
    py.finish()
    fast.finish()
    check()
    assert fast.pending_line is None
    take()
    return entry_no


def decoded_lines(path: Path) -> list[str]:
    """The lines the driver feeds for ``path`` (``sources.line_batches``: its decoding)."""
    src = open_source(str(path))
    try:
        return [line for batch in line_batches(src) for line in batch.lines]
    finally:
        src.close()


def split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


@st.composite
def mutated_line(draw: st.DrawFn, pool: list[str], noise: list[str]) -> str:
    """A line of ``pool`` (or random text) with up to three characters of ``noise`` inserted,
    cut at or dropped."""
    line = draw(st.sampled_from(pool) | st.text(max_size=40))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(line)))
        kind = draw(st.sampled_from(["insert", "cut", "drop"]))
        if kind == "insert":
            line = line[:at] + draw(st.sampled_from(noise)) + line[at:]
        elif kind == "cut":
            line = line[:at]
        else:
            line = line[:at] + line[at + 1 :]
    return line.replace("\n", " ")


def assert_text_chunks_within(table: pa.Table, limit: int) -> None:
    """Every string column's chunks hold at most ``limit`` bytes of text (one value alone may
    hold more); with a small limit the statements did need several chunks."""
    for column in table.columns:
        if column.type == pa.string():
            assert all(len(chunk) == 1 or _text_bytes(chunk) <= limit for chunk in column.chunks)
    if limit < 1000:
        assert table["query"].num_chunks > 1


def _text_bytes(chunk: pa.StringArray) -> int:
    """Bytes of text in the chunk: its values' lengths (a slice shares its parent's buffers)."""
    return pc.sum(pc.binary_length(chunk)).as_py() or 0
