"""The registry of log formats: how to recognise each one and how to build its parser.

Adding a format is adding a module with ``sniff`` and ``make`` and one line in ``FORMATS``.
Detection reads a sample of the first lines; the highest score wins, and a score below
``MIN_SCORE`` means "not a log perftui knows".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from perftui.ingest.records import Parser


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """What the user told us about the input (``--prefix`` for PostgreSQL stderr logs)."""

    prefix: str | None = None


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    description: str
    # Fraction (0..1) of the non-blank sample lines that look like this format.
    sniff: Callable[[list[str]], float]
    # Builds a parser; gets the same sample lines (e.g. to detect a log_line_prefix).
    make: Callable[[list[str], ParseOptions], Parser]


MIN_SCORE = 0.2


def _formats() -> tuple[Format, ...]:
    from perftui.ingest import mysql_slow, postgres_csv, postgres_json, postgres_stderr

    return (
        Format(
            "postgres-stderr",
            "PostgreSQL stderr log (any log_line_prefix)",
            postgres_stderr.sniff,
            postgres_stderr.make,
        ),
        Format("postgres-csv", "PostgreSQL csvlog", postgres_csv.sniff, postgres_csv.make),
        Format("postgres-json", "PostgreSQL 15+ jsonlog", postgres_json.sniff, postgres_json.make),
        Format(
            "mysql-slow",
            "MySQL / MariaDB / Percona slow query log",
            mysql_slow.sniff,
            mysql_slow.make,
        ),
    )


def all_formats() -> tuple[Format, ...]:
    return _formats()


def by_name(name: str) -> Format:
    for fmt in _formats():
        if fmt.name == name:
            return fmt
    known = ", ".join(f.name for f in _formats())
    raise KeyError(f"unknown log format {name!r} (known: {known})")


def detect(sample: list[str]) -> tuple[Format | None, float]:
    """Best-scoring format for these sample lines, or ``(None, best_score)`` below MIN_SCORE."""
    best: Format | None = None
    best_score = 0.0
    for fmt in _formats():
        score = fmt.sniff(sample)
        if score > best_score:
            best, best_score = fmt, score
    if best_score < MIN_SCORE:
        return None, best_score
    return best, best_score
