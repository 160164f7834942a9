"""Fixtures for the profile tests: a fresh store, the committed sample profiles, folded files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from perftui.profiles import schema as profile_schema
from perftui.store import schema as store_schema

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_logs"
SHOP_APP = SAMPLES / "app" / "shop_app.py"
RAW = SAMPLES / "profile-shop.pyspy.txt"
SPEEDSCOPE = SAMPLES / "profile-shop.speedscope.json"
PG_LOG = SAMPLES / "profile-shop.postgresql.log"


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A new perftui store with the profile tables."""
    c = store_schema.connect(tmp_path / "perftui.duckdb")
    profile_schema.ensure_tables(c)
    yield c
    c.close()


@pytest.fixture
def write(tmp_path: Path):
    """Write a text file under tmp_path and return its path as a string."""

    def _write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return _write


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of ``path`` holding ``needle`` (the sample's source moves when edited)."""
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return no
    raise AssertionError(f"{needle!r} not in {path}")


def folded_total(path: Path) -> int:
    """Sum of the sample counts of a folded file, read independently of perftui."""
    total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        count = line.rsplit(" ", 1)[-1]
        if count.isdigit():
            total += int(count)
    return total
