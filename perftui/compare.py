"""``perftui compare BASELINE CURRENT``: did the fix work? ("measure improvement").

Each side is a perftui DuckDB file or a log (ingested into a temporary store). Classes are matched
by class id (the fingerprint), so the same query before and after a change lines up; findings are
matched by rule and classes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table
from rich.text import Text

from perftui.ingest.driver import IngestError, ingest_path
from perftui.ingest.formats import ParseOptions
from perftui.report.render_markdown import code_span, escape
from perftui.report.render_text import _ms
from perftui.rules import registry
from perftui.rules.base import Finding, Workload
from perftui.store import queries, schema
from perftui.textsafe import safe_text

# A class counts as faster/slower when its mean time per execution moved by at least this much.
CHANGE = 0.10


@dataclass(slots=True)
class ClassDelta:
    class_id: str
    fingerprint: str
    status: str  # faster | slower | same | new | gone
    before_count: int
    after_count: int
    before_total_ms: float
    after_total_ms: float
    before_mean_ms: float | None
    after_mean_ms: float | None
    before_p95_ms: float | None
    after_p95_ms: float | None

    @property
    def mean_change(self) -> float | None:
        if not self.before_mean_ms or self.after_mean_ms is None:
            return None
        return (self.after_mean_ms - self.before_mean_ms) / self.before_mean_ms


def _is_duckdb(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(12)[8:12] == b"DUCK"
    except OSError:
        return False


def _open_side(path_str: str, args: argparse.Namespace, tmp: Path, name: str):
    path = Path(path_str)
    if path_str != "-" and not path.exists():
        raise IngestError(f"{path_str}: no such file")
    if _is_duckdb(path):
        return schema.connect(path)
    con = schema.connect(tmp / f"{name}.duckdb")
    ingest_path(con, path_str, log_format=args.log_format, options=ParseOptions(args.prefix))
    return con


def _finding_key(f: Finding) -> tuple:
    return (f.rule, tuple(sorted(f.query_class_ids)), tuple(sorted(f.tables)), tuple(f.columns))


def diff_classes(
    before: duckdb.DuckDBPyConnection, after: duckdb.DuckDBPyConnection
) -> list[ClassDelta]:
    b = {c.class_id: c for c in queries.class_stats(before)}
    a = {c.class_id: c for c in queries.class_stats(after)}
    out = []
    for cid in b.keys() | a.keys():
        cb, ca = b.get(cid), a.get(cid)
        ref = ca or cb
        assert ref is not None
        if cb is None:
            status = "new"
        elif ca is None:
            status = "gone"
        else:
            change = ((ca.mean_ms or 0) - (cb.mean_ms or 0)) / cb.mean_ms if cb.mean_ms else 0.0
            status = "faster" if change <= -CHANGE else "slower" if change >= CHANGE else "same"
        out.append(
            ClassDelta(
                cid,
                ref.fingerprint,
                status,
                cb.count if cb else 0,
                ca.count if ca else 0,
                cb.total_ms if cb else 0.0,
                ca.total_ms if ca else 0.0,
                cb.mean_ms if cb else None,
                ca.mean_ms if ca else None,
                cb.p95_ms if cb else None,
                ca.p95_ms if ca else None,
            )
        )
    out.sort(key=lambda d: -abs(d.after_total_ms - d.before_total_ms))
    return out


def build(
    before: duckdb.DuckDBPyConnection,
    after: duckdb.DuckDBPyConnection,
    workload_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The comparison as plain data (the JSON form)."""
    wa = workload_args or {}
    tb, ta = queries.totals(before), queries.totals(after)
    fb = {_finding_key(f): f for f in registry.run(Workload(before, **wa))}
    fa = {_finding_key(f): f for f in registry.run(Workload(after, **wa))}
    deltas = diff_classes(before, after)

    def brief(f: Finding) -> dict[str, Any]:
        return {
            "rule": f.rule,
            "severity": f.severity,
            "title": f.title,
            "query_class_ids": f.query_class_ids,
            "impact_ms": round(f.impact_ms, 3),
        }

    def mean(t: queries.Totals) -> float | None:
        return t.total_ms / t.queries if t.queries else None

    return {
        "overall": {
            "before": {
                "queries": tb.queries,
                "classes": tb.classes,
                "total_ms": tb.total_ms,
                "mean_ms": mean(tb),
            },
            "after": {
                "queries": ta.queries,
                "classes": ta.classes,
                "total_ms": ta.total_ms,
                "mean_ms": mean(ta),
            },
        },
        "classes": [
            {
                "id": d.class_id,
                "fingerprint": d.fingerprint,
                "status": d.status,
                "before": {
                    "count": d.before_count,
                    "total_ms": d.before_total_ms,
                    "mean_ms": d.before_mean_ms,
                    "p95_ms": d.before_p95_ms,
                },
                "after": {
                    "count": d.after_count,
                    "total_ms": d.after_total_ms,
                    "mean_ms": d.after_mean_ms,
                    "p95_ms": d.after_p95_ms,
                },
                "mean_change": d.mean_change,
            }
            for d in deltas
        ],
        "findings": {
            "gone": [brief(fb[k]) for k in fb.keys() - fa.keys()],
            "new": [brief(fa[k]) for k in fa.keys() - fb.keys()],
            "remaining": [brief(fa[k]) for k in fa.keys() & fb.keys()],
        },
    }


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:+.0f}%"


def render_text(data: dict[str, Any], console: Console, top: int) -> None:
    ob, oa = data["overall"]["before"], data["overall"]["after"]
    console.print(Text("perftui compare", style="bold"))
    console.print(
        f"total time {_ms(ob['total_ms'])} → {_ms(oa['total_ms'])}; "
        f"queries {ob['queries']:,} → {oa['queries']:,}; "
        f"mean {_ms(ob['mean_ms'])} → {_ms(oa['mean_ms'])}",
        markup=False,
        highlight=False,
    )
    table = Table(show_edge=False, title="Classes by change in total time", title_justify="left")
    for col in ("status", "query id", "calls", "total", "mean", "Δ mean", "fingerprint"):
        table.add_column(col, no_wrap=col == "fingerprint", overflow="ellipsis")
    styles = {"faster": "green", "slower": "red", "new": "yellow", "gone": "cyan"}
    for c in data["classes"][:top]:
        b, a = c["before"], c["after"]
        table.add_row(
            Text(c["status"], style=styles.get(c["status"], "")),
            c["id"],
            f"{b['count']:,} → {a['count']:,}",
            f"{_ms(b['total_ms'])} → {_ms(a['total_ms'])}",
            f"{_ms(b['mean_ms'])} → {_ms(a['mean_ms'])}",
            _pct(c["mean_change"]),
            safe_text(c["fingerprint"], one_line=True),
        )
    console.print(table)
    for label, key in (("Findings gone", "gone"), ("New findings", "new")):
        items = data["findings"][key]
        console.print(Text(f"{label}: {len(items)}", style="bold"))
        for f in items:
            console.print(
                Text(f"  {f['severity']} {f['rule']}: ") + safe_text(f["title"], one_line=True)
            )


def render_markdown(data: dict[str, Any], top: int) -> str:
    ob, oa = data["overall"]["before"], data["overall"]["after"]
    lines = [
        "# perftui compare",
        "",
        f"Total time {_ms(ob['total_ms'])} → {_ms(oa['total_ms'])}; queries "
        f"{ob['queries']:,} → {oa['queries']:,}.",
        "",
        "| status | query id | calls | total | mean | Δ mean |",
        "|---|---|---|---|---|---:|",
    ]
    for c in data["classes"][:top]:
        b, a = c["before"], c["after"]
        lines.append(
            f"| {c['status']} | {code_span(c['id'])} | {b['count']:,} → {a['count']:,} | "
            f"{_ms(b['total_ms'])} → {_ms(a['total_ms'])} | "
            f"{_ms(b['mean_ms'])} → {_ms(a['mean_ms'])} | {_pct(c['mean_change'])} |"
        )
    for label, key in (("Findings gone", "gone"), ("New findings", "new")):
        lines += ["", f"## {label}", ""]
        lines += [
            f"- {f['severity']} {code_span(f['rule'])}: {escape(f['title'])}"
            for f in data["findings"][key]
        ] or ["- none"]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from perftui.cli import UsageError, advisor_inputs, say

    try:
        info, thresholds = advisor_inputs(args)
    except UsageError as exc:  # caught here: under ``python -m perftui.cli`` main's UsageError
        say(err, f"perftui: {exc}")  # is __main__'s, another class than this one
        return 2
    with tempfile.TemporaryDirectory(prefix="perftui-compare-") as tmp:
        try:
            before = _open_side(args.baseline, args, Path(tmp), "baseline")
            after = _open_side(args.current, args, Path(tmp), "current")
        except IngestError as exc:
            say(err, f"perftui: {exc}")
            return 2
        try:
            data = build(before, after, {"schema": info, "thresholds": thresholds})
        finally:
            before.close()
            after.close()
    if args.format == "json":
        text = json.dumps(data, indent=2) + "\n"
    elif args.format == "markdown":
        text = render_markdown(data, args.top)
    else:
        text = None
    if text is None:
        console = (
            out
            if not args.output
            else Console(
                file=open(args.output, "w"),  # noqa: SIM115
                width=160,
                color_system=None,
            )
        )
        render_text(data, console, args.top)
    elif args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        out.file.write(text)
    return 0
