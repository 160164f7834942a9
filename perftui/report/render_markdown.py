"""A Markdown report a person can paste into a ticket; literals hidden unless asked for.

Everything that comes from the logs (paths, table names, fingerprints and finding titles that
quote them) is untrusted: ``escape`` makes it plain text wherever it lands, so a crafted log line
cannot add a link, an image, raw HTML, a heading or a table cell; code blocks get a fence longer
than any backtick run inside them instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

from perftui.report.model import LITERAL_EVIDENCE_KEYS, Report
from perftui.report.render_text import _ms
from perftui.store.queries import HISTOGRAM_LABELS
from perftui.textsafe import clean

# Backslash-escaped everywhere: emphasis, code, links and images ([ ] — with both escaped no
# "](" can open a link target), tables, headings, strikethrough. '_' between two letters or
# digits stays as is (it cannot start emphasis there, and identifiers are full of it). '(' and
# ')' need no escape once '[' and ']' have one.
_INLINE = re.compile(r"[\\`*\[\]|#~]|(?<![^\W_])_|_(?![^\W_])")
# '<' starts HTML and autolinks: written as an entity; '&' only where it would start one.
_ENTITY_START = re.compile(r"&(?=#?\w+;)")
# GFM turns bare URLs into links while parsing; an escaped ':' or '.' keeps them text.
_BARE_LINK = re.compile(r"(?i)(?<=\w):(?=//)|(?<=\bwww)\.")
# What makes a line a quote, list item, setext underline or ordered list when it starts one.
_LINE_START = re.compile(r"^[ \t]*(?:[-+=>]|\d{1,9}[.)])", re.MULTILINE)
_PLAIN_CODE = re.compile(r"[\w.:-]+")


def escape(text: str | None, *, one_line: bool = True) -> str:
    """``text`` from a log as Markdown that renders as exactly that text (control characters
    removed; folded to one line unless ``one_line`` is False, for paragraphs)."""
    s = _ENTITY_START.sub("&amp;", clean(text, one_line=one_line))
    s = _INLINE.sub(lambda m: "\\" + m.group(), s).replace("<", "&lt;")
    s = _BARE_LINK.sub(lambda m: "\\" + m.group(), s)
    return _LINE_START.sub(lambda m: m.group()[:-1] + "\\" + m.group()[-1], s)


def code_span(text: str) -> str:
    """An id as inline code when it is one (hex class ids, rule ids), else escaped text: a value
    from an imported dataset could hold backticks or pipes."""
    return f"`{text}`" if _PLAIN_CODE.fullmatch(text) else escape(text)


def _cell(text: str) -> str:
    """Table-cell text: one line, every pipe escaped, nothing interpreted."""
    return escape(text)


def _code(text: str, lang: str = "sql") -> str:
    """A fenced block whose fence is longer than any backtick run in ``text``: nothing in it
    can close the block early."""
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
            f"| {_cell(s.path)} | {escape(s.format)} | {s.lines:,} | {s.entries:,} |"
            f" {s.reject_lines:,} | {_yes_no(s.reconciles)} |"
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
            f"| {i} | {code_span(c.class_id)} | {_ms(c.total_ms)} |"
            f" {100 * c.total_ms / total:.1f} | {c.count:,} | {_ms(c.mean_ms)} |"
            f" {_ms(c.p95_ms)} | {_ms(c.max_ms)} | {_cell(', '.join(c.tables))} |"
        )
    if report.findings:
        out += [
            "",
            "## Findings",
            "",
            "| # | severity | rule | impact | title |",
            "|---:|---|---|---:|---|",
        ]
        for i, f in enumerate(report.findings, 1):
            out.append(
                f"| {i} | {f.severity} | {code_span(f.rule)} | {_ms(f.impact_ms)} |"
                f" {_cell(f.title)} |"
            )
        for i, f in enumerate(report.findings, 1):
            out += ["", f"### Finding {i}: {escape(f.title)}", ""]
            out.append(
                f"{code_span(f.rule)} · {f.severity} · classes "
                + ", ".join(code_span(c) for c in f.query_class_ids)
            )
            out += ["", escape(f.detail, one_line=False), "", "Fix:", "", _code(f.fix)]
            evidence = {
                k: v
                for k, v in f.evidence.items()
                if report.show_literals or k not in LITERAL_EVIDENCE_KEYS
            }
            if evidence:
                out += ["", "Evidence:", ""]
                out += [f"- {escape(k)}: {escape(_value(v))}" for k, v in evidence.items()]
            if f.verified is not None:
                out += ["", "Verified on the planner." if f.verified else "Not verified."]
    out += ["", "## Query classes", ""]
    for i, c in enumerate(report.classes, 1):
        out += [f"### {i}. {code_span(c.class_id)}", "", _code(c.fingerprint), ""]
        out.append(
            f"count {c.count:,} · total {_ms(c.total_ms)} · mean {_ms(c.mean_ms)} · "
            f"p50 {_ms(c.p50_ms)} · p95 {_ms(c.p95_ms)} · p99 {_ms(c.p99_ms)} · max {_ms(c.max_ms)}"
        )
        rows = [
            f"{label} {value:,}" if isinstance(value, int) else f"{label} {_ms(value)}"
            for label, value in (
                ("lock", c.lock_ms),
                ("rows sent", c.rows_sent),
                ("rows examined", c.rows_examined),
                ("rows affected", c.rows_affected),
            )
            if value is not None
        ]
        if rows:
            out.append("\n" + " · ".join(rows))
        who = " · ".join(
            f"{label}: {_top(counts)}"
            for label, counts in (
                ("users", c.users),
                ("databases", c.databases),
                ("hosts", c.hosts),
            )
            if counts
        )
        if who:
            out.append("\n" + who)
        hist = " · ".join(
            f"{k}: {v}" for k, v in zip(HISTOGRAM_LABELS, c.histogram, strict=True) if v
        )
        if hist:
            out.append(f"\nQuery_time distribution: {hist}")
        if report.show_literals and c.sample:
            out += ["", "Slowest sample:", "", _code(c.sample)]
        out.append("")
    if report.warnings:
        out += ["## Warnings", ""] + [f"- {escape(w)}" for w in report.warnings]
    return "\n".join(out) + "\n"


def _top(counts: dict[str, int], n: int = 5) -> str:
    """The ``n`` most frequent values with their counts, as pt-query-digest lists users and
    databases; values come from the log, so each is escaped."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{escape(k)} ({v:,})" for k, v in ranked[:n])
    return text + (f", … {len(ranked) - n} more" if len(ranked) > n else "")


def _value(v: Any) -> str:
    """An evidence value on one line: text as is, anything else as compact JSON."""
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)


def _yes_no(ok: bool | None) -> str:
    return "-" if ok is None else "yes" if ok else "**no**"
