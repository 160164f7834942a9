"""The registry of log formats: how to recognise each one and how to build its parser.

Adding a format is adding a module with ``sniff`` and ``make`` and one line in ``FORMATS``.
Detection reads a sample of the first lines; a score below ``MIN_SCORE`` means "not a log perftui
knows". Among the formats that score, the one with the most lines of evidence wins (see
``detect``), so one stray line of another format at the top cannot decide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from perftui.ingest.records import ColumnarParser, Parser


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
    # How many sample lines only this format writes, for a format whose ``sniff`` also counts
    # free text (a slow log's statements); None when every line ``sniff`` counts is such a line.
    evidence: Callable[[list[str]], int] | None = None
    # Builds the parser for batch ingest when the format has a faster one that returns Arrow
    # tables (``ColumnarParser``) instead of ``entries``; None: batch ingest uses ``make`` too.
    # The tailer always uses ``make``.
    make_fast: Callable[[list[str], ParseOptions], Parser | ColumnarParser] | None = None


MIN_SCORE = 0.2


def _formats() -> tuple[Format, ...]:
    from perftui.ingest import mysql_slow, postgres_csv, postgres_json, postgres_stderr

    return (
        Format(
            "postgres-stderr",
            "PostgreSQL stderr log (any log_line_prefix)",
            postgres_stderr.sniff,
            postgres_stderr.make,
            make_fast=postgres_stderr.make_fast,
        ),
        Format("postgres-csv", "PostgreSQL csvlog", postgres_csv.sniff, postgres_csv.make),
        Format("postgres-json", "PostgreSQL 15+ jsonlog", postgres_json.sniff, postgres_json.make),
        Format(
            "mysql-slow",
            "MySQL / MariaDB / Percona slow query log",
            mysql_slow.sniff,
            mysql_slow.make,
            mysql_slow.evidence,
            make_fast=mysql_slow.make_fast,
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
    """The format with the most evidence in these sample lines, and its score; ``(None,
    best_score)`` when no format reaches MIN_SCORE.

    Scores alone are not enough: a slow log's score counts every line after one ``# Query_time:``
    header as statement text, so a PostgreSQL log under one junk header line would score as
    high. Counting only the lines each format can claim for itself, the majority format wins.
    """
    scored = [(fmt, fmt.sniff(sample)) for fmt in _formats()]
    best_score = max((score for _fmt, score in scored), default=0.0)
    candidates = [(fmt, score) for fmt, score in scored if score >= MIN_SCORE]
    if not candidates:
        return None, best_score
    lines = sum(1 for s in sample if s.strip())
    best, score = max(candidates, key=lambda fs: (_evidence(fs[0], fs[1], sample, lines), fs[1]))
    return best, score


def _evidence(fmt: Format, score: float, sample: list[str], lines: int) -> float:
    """Sample lines that only ``fmt`` writes (its ``evidence``, else every line it sniffed)."""
    return fmt.evidence(sample) if fmt.evidence is not None else score * lines
