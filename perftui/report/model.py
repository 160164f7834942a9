"""The report every output format renders: built once from the store, plain data only.

``schema_version`` versions the JSON form (documented in the README); bump it when a key changes
meaning or disappears, not when one is added.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb

from perftui import __version__, advice
from perftui.rules.base import Finding, Thresholds, Workload
from perftui.rules.schema_info import SchemaInfo
from perftui.store import queries
from perftui.store.queries import HISTOGRAM_LABELS, Window

SCHEMA_VERSION = 1


@dataclass(slots=True)
class Report:
    generated_at: dt.datetime
    window: Window
    totals: queries.Totals
    sources: list[queries.SourceSummary]
    classes: list[queries.ClassStats]
    classes_total: int
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    show_literals: bool = False


def build(
    con: duckdb.DuckDBPyConnection,
    *,
    window: Window | None = None,
    top: int | None = None,
    order_by: str = "total_ms",
    show_literals: bool = False,
    schema: SchemaInfo | None = None,
    thresholds: Thresholds | None = None,
    advise: bool = True,
) -> Report:
    """Gather sources, totals, ranked class statistics and the advisor's findings."""
    window = window or Window()
    workload = Workload(con, window, schema or SchemaInfo(), thresholds or Thresholds())
    all_classes = workload.classes
    if order_by != "total_ms":
        all_classes = queries.class_stats(con, window, order_by=order_by)
        for c in all_classes:
            c.tables = workload.by_id[c.class_id].tables
    shown = all_classes if top is None else all_classes[:top]
    report = Report(
        generated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        window=window,
        totals=queries.totals(con, window),
        sources=queries.sources(con),
        classes=shown,
        classes_total=len(all_classes),
        show_literals=show_literals,
    )
    if advise:
        report.findings, warnings = advice.advise(workload)
        report.warnings.extend(warnings)
    for s in report.sources:
        if not s.complete:
            report.warnings.append(f"{s.path}: ingest was interrupted; re-run ingest to finish it")
        if s.reconciles is False:
            report.warnings.append(
                f"{s.path}: {s.lines} lines read but {s.entry_lines} in entries"
                f" + {s.reject_lines} rejected"
            )
    return report


def _iso(v: dt.datetime | None) -> str | None:
    return None if v is None else v.isoformat() + "Z"


def _num(v: float | None, digits: int = 3) -> float | None:
    return None if v is None else round(float(v), digits)


def to_dict(report: Report) -> dict[str, Any]:
    """The JSON form (``--format json``); literals only when the user asked for them."""
    t = report.totals
    classes = []
    for c in report.classes:
        item: dict[str, Any] = {
            "id": c.class_id,
            "fingerprint": c.fingerprint,
            "dialect": c.dialect,
            "count": c.count,
            "total_ms": _num(c.total_ms),
            "mean_ms": _num(c.mean_ms),
            "min_ms": _num(c.min_ms),
            "p50_ms": _num(c.p50_ms),
            "p95_ms": _num(c.p95_ms),
            "p99_ms": _num(c.p99_ms),
            "max_ms": _num(c.max_ms),
            "stddev_ms": _num(c.stddev_ms),
            "lock_ms": _num(c.lock_ms),
            "rows_sent": c.rows_sent,
            "rows_examined": c.rows_examined,
            "rows_affected": c.rows_affected,
            "first_seen": _iso(c.first_seen),
            "last_seen": _iso(c.last_seen),
            "users": c.users,
            "databases": c.databases,
            "hosts": c.hosts,
            "histogram": dict(zip(HISTOGRAM_LABELS, c.histogram, strict=True)),
            "tables": c.tables,
        }
        if report.show_literals:
            item["sample"] = c.sample
        classes.append(item)
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": f"perftui {__version__}",
        "generated_at": _iso(report.generated_at),
        "window": {"since": _iso(report.window.since), "until": _iso(report.window.until)},
        "literals_shown": report.show_literals,
        "totals": {
            "entries": t.entries,
            "queries": t.queries,
            "classes": t.classes,
            "total_ms": _num(t.total_ms),
            "first_seen": _iso(t.first_ts),
            "last_seen": _iso(t.last_ts),
        },
        "sources": [
            {
                "path": s.path,
                "format": s.format,
                "lines": s.lines,
                "entries": s.entries,
                "entry_lines": s.entry_lines,
                "rejects": s.reject_lines,
                "reject_reasons": s.reject_reasons,
                "complete": s.complete,
                "reconciles": s.reconciles,
            }
            for s in report.sources
        ],
        "query_classes": classes,
        "query_classes_total": report.classes_total,
        "findings": [_finding_dict(f, report.show_literals) for f in report.findings],
        "warnings": report.warnings,
    }


# Raw in ``json.dumps(..., ensure_ascii=False)`` output yet obeyed by some terminals (C1 controls
# such as U+009B CSI) or breaking JavaScript consumers (U+2028/9): written as \u escapes.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")


def to_json(report: Report) -> str:
    """``--format json`` text: UTF-8 stays readable, control characters are escaped, so the
    report is safe to print to a terminal and keeps every value exactly (data stays data)."""
    text = json.dumps(to_dict(report), indent=2, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


# Evidence keys that carry literal values from the log; dropped unless --show-literals.
LITERAL_EVIDENCE_KEYS = ("statement", "sample", "params")


def _finding_dict(f: Finding, show_literals: bool) -> dict[str, Any]:
    d = f.to_dict()
    if not show_literals:
        d["evidence"] = {k: v for k, v in d["evidence"].items() if k not in LITERAL_EVIDENCE_KEYS}
    return d
