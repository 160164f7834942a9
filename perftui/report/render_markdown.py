"""A Markdown report a person can paste into a ticket; literals hidden unless asked for."""

from __future__ import annotations

from perftui.report.model import Report
from perftui.report.render_text import _ms
from perftui.store.queries import HISTOGRAM_LABELS
from perftui.textsafe import clean


def _cell(text: str) -> str:
    """Table-cell safe: one line, pipes and backticks neutralised, HTML not interpreted."""
    s = clean(text, one_line=True).replace("|", "\\|").replace("<", "&lt;").replace("`", "'")
    return s


def _cell_block(text: str) -> str:
    """Paragraph text from the log: HTML neutralised, control characters removed."""
    return clean(text).replace("<", "&lt;")


def _code(text: str, lang: str = "sql") -> str:
    body = clean(text)
    fence = "```"
    while fence in body:
        fence += "`"
    return f"{fence}{lang}\n{body}\n{fence}"


def render(report: Report) -> str:
    t = report.totals
    out = ["# perftui report", ""]
    out.append(
        f"{t.queries:,} queries in {t.classes:,} classes, {_ms(t.total_ms)} in all "
        f"({t.entries:,} entries)."
    )
    if t.first_ts and t.last_ts:
        out.append(
            f"Time covered: {t.first_ts:%Y-%m-%d %H:%M:%S} → {t.last_ts:%Y-%m-%d %H:%M:%S} UTC."
        )
    out += [
        "",
        "## Sources",
        "",
        "| path | format | lines | entries | rejected | reconciles |",
        "|---|---|---:|---:|---:|---|",
    ]
    for s in report.sources:
        out.append(
            f"| {_cell(s.path)} | {s.format} | {s.lines:,} | {s.entries:,} | {s.reject_lines:,} |"
            f" {_yes_no(s.reconciles)} |"
        )
    out += [
        "",
        "## Profile",
        "",
        "| rank | query id | total | % | calls | mean | p95 | max | tables |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    total = t.total_ms or 1.0
    for i, c in enumerate(report.classes, 1):
        out.append(
            f"| {i} | `{c.class_id}` | {_ms(c.total_ms)} | {100 * c.total_ms / total:.1f} |"
            f" {c.count:,} | {_ms(c.mean_ms)} | {_ms(c.p95_ms)} | {_ms(c.max_ms)} |"
            f" {_cell(', '.join(c.tables))} |"
        )
    if report.findings:
        out += ["", "## Findings", "", "| # | severity | rule | impact | title |",
                "|---:|---|---|---:|---|"]
        for i, f in enumerate(report.findings, 1):
            out.append(
                f"| {i} | {f.severity} | `{f.rule}` | {_ms(f.impact_ms)} | {_cell(f.title)} |"
            )
        for i, f in enumerate(report.findings, 1):
            out += ["", f"### Finding {i}: {_cell(f.title)}", ""]
            out.append(f"`{f.rule}` · {f.severity} · classes "
                       + ", ".join(f"`{_cell(c)}`" for c in f.query_class_ids))
            out += ["", _cell_block(f.detail), "", "Fix:", "", _code(f.fix)]
            if f.verified is not None:
                out += ["", "Verified on the planner." if f.verified else "Not verified."]
    out += ["", "## Query classes", ""]
    for i, c in enumerate(report.classes, 1):
        out += [f"### {i}. `{c.class_id}`", "", _code(c.fingerprint), ""]
        out.append(
            f"count {c.count:,} · total {_ms(c.total_ms)} · mean {_ms(c.mean_ms)} · "
            f"p50 {_ms(c.p50_ms)} · p95 {_ms(c.p95_ms)} · p99 {_ms(c.p99_ms)} · max {_ms(c.max_ms)}"
        )
        hist = " · ".join(
            f"{k}: {v}" for k, v in zip(HISTOGRAM_LABELS, c.histogram, strict=True) if v
        )
        if hist:
            out.append(f"\nQuery_time distribution: {hist}")
        if report.show_literals and c.sample:
            out += ["", "Slowest sample:", "", _code(c.sample)]
        out.append("")
    if report.warnings:
        out += ["## Warnings", ""] + [f"- {_cell(w)}" for w in report.warnings]
    return "\n".join(out) + "\n"


def _yes_no(ok: bool | None) -> str:
    return "-" if ok is None else "yes" if ok else "**no**"
