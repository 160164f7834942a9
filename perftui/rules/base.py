"""What every advisor rule shares: the finding it reports and the workload it reads.

A rule is a module in ``perftui/rules/`` with ``RULE_ID`` and ``detect(workload)``; the registry
(``perftui.rules.registry``) lists them in order. Rules read the store only through
``Workload`` (and ``perftui.store.queries``); sqlglot trees come from ``Workload.parsed`` which
parses each class once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import duckdb

from perftui.rules import parsing
from perftui.rules.schema_info import SchemaInfo
from perftui.store import queries
from perftui.store.queries import ClassStats, Window

SEVERITIES = ("info", "low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(slots=True)
class Finding:
    """One thing to fix, with the evidence that says so and the fix in the log's dialect."""

    rule: str
    severity: str
    title: str  # one line
    detail: str  # why: which classes, how many executions, how much time
    fix: str  # SQL (in the source dialect) and/or concrete advice
    impact_ms: float  # time spent in the affected executions (ranking key)
    query_class_ids: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    verified: bool | None = None  # None: not verifiable; False: not (yet) verified; True: proved
    evidence: dict[str, Any] = field(default_factory=dict)  # numbers behind the detail
    links: list[dict[str, Any]] = field(default_factory=list)  # cross-links (profile call sites…)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "title": self.title,
            "detail": self.detail,
            "query_class_ids": self.query_class_ids,
            "tables": self.tables,
            "columns": self.columns,
            "fix": self.fix,
            "impact_ms": round(self.impact_ms, 3),
            "verified": self.verified,
            "evidence": self.evidence,
            "links": self.links,
        }


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Configurable defaults (Sentry's N+1 numbers, dexter's index numbers…)."""

    n_plus_one_count: int = 5
    n_plus_one_ms: float = 50.0
    # N+1s are often fast per query: a run this long is reported even under the time threshold.
    n_plus_one_fast_count: int = 20
    row_by_row_count: int = 20
    # A longer pause between two executions ends a burst. MySQL slow-log timestamps have
    # one-second resolution, so anything under 2 s cannot be told apart from "back to back".
    row_by_row_gap_s: float = 2.0
    deep_offset: int = 1000
    unbounded_rows: int = 1000
    cache_repeats: int = 20
    cache_window_s: float = 60.0
    churn_min_connections: int = 10
    churn_statements_per_connection: float = 3.0
    index_min_cost: float = 100.0
    index_min_saving: float = 0.5


@dataclass
class Workload:
    """The analysed data, shared by every rule of one run."""

    con: duckdb.DuckDBPyConnection
    window: Window = field(default_factory=Window)
    schema: SchemaInfo = field(default_factory=SchemaInfo)
    thresholds: Thresholds = field(default_factory=Thresholds)
    # Intermediate results several rules share (e.g. entries tagged with their connection).
    shared: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def classes(self) -> list[ClassStats]:
        """Every query class with its statistics (ranked by total time)."""
        parsing.ensure_parsed(self.con)
        stats = queries.class_stats(self.con, self.window)
        tables = dict(
            self.con.execute("SELECT class_id, coalesce(tables, []) FROM query_classes").fetchall()
        )
        for c in stats:
            c.tables = list(tables.get(c.class_id) or [])
        return stats

    @cached_property
    def by_id(self) -> dict[str, ClassStats]:
        return {c.class_id: c for c in self.classes}

    def parsed(self, c: ClassStats) -> parsing.Parsed:
        """The sqlglot tree of a class's representative statement (parsed once, memoised)."""
        return parsing.parse_statement(c.sample or "", c.dialect)


class Rule(Protocol):
    RULE_ID: str

    def detect(self, workload: Workload) -> Iterable[Finding]: ...
