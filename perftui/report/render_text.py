"""The terminal report: a pt-query-digest-like profile as Rich tables; log text shown literally."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from perftui.report.model import Report
from perftui.textsafe import clean, safe_text


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v / 1000:,.2f}s"
    return f"{v:,.3f}ms" if v < 10 else f"{v:,.1f}ms"


def render(report: Report, console: Console, *, width_hint: int = 60) -> None:
    t = report.totals
    header = Text()
    header.append("perftui report", style="bold")
    span = ""
    if t.first_ts and t.last_ts:
        span = f"  {t.first_ts:%Y-%m-%d %H:%M:%S} → {t.last_ts:%Y-%m-%d %H:%M:%S} UTC"
    header.append(
        f"\n{t.queries:,} queries in {t.classes:,} classes, {_ms(t.total_ms)} in all"
        f" ({t.entries:,} entries){span}"
    )
    console.print(header)

    src = Table(title="Sources", title_justify="left", show_edge=False)
    for col in ("path", "format", "lines", "entries", "entry lines", "rejected", "reconciles"):
        src.add_column(col, justify="right" if col not in ("path", "format") else "left")
    for s in report.sources:
        src.add_row(
            safe_text(s.path, one_line=True),
            s.format,
            f"{s.lines:,}",
            f"{s.entries:,}",
            f"{s.entry_lines:,}",
            _rejects(s.reject_lines, s.reject_reasons),
            _reconciles(s.reconciles),
        )
    console.print(src)

    prof = Table(title="Profile (ranked by total time)", title_justify="left", show_edge=False)
    prof.add_column("rank", justify="right")
    prof.add_column("query id")
    prof.add_column("total", justify="right")
    prof.add_column("%", justify="right")
    prof.add_column("calls", justify="right")
    prof.add_column("mean", justify="right")
    prof.add_column("p95", justify="right")
    prof.add_column("max", justify="right")
    prof.add_column("fingerprint", overflow="ellipsis", no_wrap=True, max_width=width_hint)
    total = t.total_ms or 1.0
    for i, c in enumerate(report.classes, 1):
        prof.add_row(
            str(i),
            c.class_id,
            _ms(c.total_ms),
            f"{100 * c.total_ms / total:.1f}",
            f"{c.count:,}",
            _ms(c.mean_ms),
            _ms(c.p95_ms),
            _ms(c.max_ms),
            safe_text(c.fingerprint, one_line=True),
        )
    hidden = report.classes_total - len(report.classes)
    if hidden > 0:
        prof.caption = f"{hidden:,} more classes (use --top)"
    console.print(prof)
    if report.findings:
        _findings(report, console)
    for w in report.warnings:
        console.print(Group(Text("warning: ", style="yellow", end=""), safe_text(w)))


def _rejects(n: int, reasons: dict[str, int]) -> Text:
    if not n:
        return Text("0")
    detail = ", ".join(f"{clean(k, one_line=True)} {v:,}" for k, v in list(reasons.items())[:3])
    return Text(f"{n:,} ({detail})")


SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def _findings(report: Report, console: Console) -> None:
    table = Table(
        title=f"Findings ({len(report.findings)}, most impact first)",
        title_justify="left",
        show_edge=False,
    )
    table.add_column("#", justify="right")
    table.add_column("severity")
    table.add_column("rule")
    table.add_column("impact", justify="right")
    table.add_column("title", overflow="fold")
    for i, f in enumerate(report.findings, 1):
        table.add_row(
            str(i),
            Text(f.severity, style=SEVERITY_STYLE.get(f.severity, "")),
            f.rule,
            _ms(f.impact_ms),
            safe_text(f.title, one_line=True),
        )
    console.print(table)
    for i, f in enumerate(report.findings, 1):
        head = Text(f"\n{i}. ", style="bold")
        head.append(safe_text(f.title, "bold", one_line=True))
        head.append(f"  [{f.rule}]", style="dim")
        console.print(head)
        console.print(safe_text(f.detail))
        if f.verified is not None:
            console.print(
                Text(
                    "verified on the planner" if f.verified else "not verified",
                    style="green" if f.verified else "dim",
                )
            )
        console.print(Text("fix:", style="bold green"))
        console.print(safe_text(f.fix), style="green")


def _reconciles(ok: bool | None) -> Text:
    if ok is None:
        return Text("-", style="dim")
    return Text("yes", style="green") if ok else Text("NO", style="bold red")
