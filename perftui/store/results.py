"""Reading DuckDB results so that the connection is free for the next statement."""

from __future__ import annotations

from typing import Any


def first(result: Any) -> tuple | None:
    """The first row of an executed statement, or None; the result is read to its end.

    DuckDB 2 streams results: one read in part (``fetchone``) keeps the connection busy, and the
    next statement on it fails until the rest is fetched. Our single-row reads are aggregates
    and lookups, so reading them whole costs nothing."""
    rows = result.fetchall()
    return rows[0] if rows else None
