"""Overview: the first screen, built to answer "what is worst, and what do I do" at a glance.

The worst findings come first, then when the time went (a sparkline that shows spikes) and the
classes that took it. Totals and top classes come from cheap aggregates, so they paint before
the advisor (which can take seconds on a big store) has finished.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Sparkline, Static

from perftui.textsafe import clean
from perftui.tui import data
from perftui.tui import format as fmt
from perftui.tui.background import Reader
from perftui.tui.keybar import KeyBar

TOP_FINDINGS = 3


class OverviewScreen(Reader, Screen[None]):
    AUTO_FOCUS = "#top-classes"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.headline: data.Headline | None = None
        self.top: list[data.TopClass] | None = None
        self.analysis: data.Analysis | None = None
        self._pending: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="overview-body"):
            yield Static(Text("Reading the store…", style="dim"), id="totals")
            yield Static(
                Text("Findings: analysing…", style="bold"), id="severity-counts", classes="section"
            )
            yield DataTable(id="top-findings", cursor_type="row", show_header=False)
            yield Static(
                Text("Query time over time", style="bold"), id="timeline-legend", classes="section"
            )
            yield Sparkline([], id="timeline")
            yield Static(id="profiles-summary", classes="section")
            yield Static(Text("Top query classes by total time", style="bold"), classes="section")
            yield DataTable(id="top-classes", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        top = self.query_one("#top-classes", DataTable)
        top.add_column(Text("time", justify="right"), key="time")
        top.add_column(Text("share", justify="right"), key="share")
        top.add_column(Text("count", justify="right"), key="count")
        top.add_column("query", key="query")
        findings = self.query_one("#top-findings", DataTable)
        findings.add_column("severity", key="severity")
        findings.add_column("impact", key="impact")
        findings.add_column("finding", key="title")
        findings.display = False
        self.query_one("#profiles-summary").display = False
        app: Any = self.app
        app.when_store_ready(self, lambda _store: self.action_reload())
        app.when_analysed(self, self._show_findings)
        app.when_classes_ready(self, self._render_headline)

    def action_reload(self) -> None:
        """Three reads in parallel; each paints its part of the screen when it lands."""
        self._pending = {"headline", "top", "timeline"}
        self.read(data.headline, then=self._show_headline, group="headline")
        self.read(data.top_classes, then=self._show_top, group="top")
        self.read(data.timeline, then=self._show_timeline, group="timeline")

    def _landed(self, part: str) -> None:
        self._pending.discard(part)
        if not self._pending:
            app: Any = self.app
            app.first_screen_done()

    # ------------------------------------------------------------------ totals and timeline

    def _show_headline(self, h: data.Headline) -> None:
        self.headline = h
        self._landed("headline")
        if h.entries == 0 and not h.profiles:
            app: Any = self.app
            app.show_empty()
            return
        self._render_headline()
        self._show_profiles(h.profiles)
        self._fill_top()

    def _render_headline(self, _n: object = None) -> None:
        h = self.headline
        if h is None:
            return
        app: Any = self.app
        classes = fmt.count(app.class_count) if app.class_count is not None else "…"
        line1 = Text.assemble(
            (fmt.count(h.queries), "bold"),
            " queries in ",
            (classes, "bold"),
            " classes · ",
            (fmt.ms(h.total_ms), "bold"),
            " of query time",
        )
        line2 = Text(
            f"{fmt.count(h.entries)} entries · {h.sources} source"
            f"{'s' if h.sources != 1 else ''} · {_time_range(h.first_ts, h.last_ts)}",
            style="dim",
        )
        self.query_one("#totals", Static).update(Text("\n").join([line1, line2]))

    def _show_timeline(self, tl: data.Timeline) -> None:
        self._landed("timeline")
        sparkline = self.query_one("#timeline", Sparkline)
        sparkline.data = tl.ms or [0.0]
        sparkline.display = bool(tl.ms)
        if tl.ms:
            legend = Text.assemble(
                ("Query time per ", "bold"),
                (fmt.ms(tl.bucket_s * 1000), "bold"),
                (
                    f" · busiest {fmt.ms(max(tl.ms))} · slowest query {fmt.ms(max(tl.slowest))}",
                    "dim",
                ),
            )
        else:
            legend = Text("No timestamps in these logs: no timeline.", style="dim")
        self.query_one("#timeline-legend", Static).update(legend)

    def _show_top(self, top: list[data.TopClass]) -> None:
        self.top = top
        self._landed("top")
        self._fill_top()

    def _show_profiles(self, profiles: list[data.ProfileSummary]) -> None:
        box = self.query_one("#profiles-summary", Static)
        box.display = bool(profiles)
        lines = [Text("Profiles (4 flame graph, 5 functions)", style="bold")]
        for s in profiles[:3]:
            p = s.profile
            line = Text(
                f"{clean(p.name or p.path or str(p.profile_id), one_line=True)}: "
                f"{fmt.count(p.total_samples)} samples"
                + (f", {p.threads} threads" if p.threads > 1 else "")
            )
            if s.hottest is not None and p.total_weight:
                line.append(" · most self time: ")
                line.append(fmt.one_line(s.hottest.function, 40))
                line.append(f" {fmt.share(s.hottest.self, p.total_weight)}", style="bold")
            lines.append(line)
        box.update(Text("\n").join(lines))

    def _fill_top(self) -> None:
        if self.top is None:
            return
        whole = self.headline.total_ms if self.headline else 0.0
        table = self.query_one("#top-classes", DataTable)
        cursor = table.cursor_row
        table.clear()
        width = max(20, self.size.width - 32)
        for c in self.top:
            table.add_row(
                Text(fmt.ms(c.total_ms), justify="right"),
                Text(fmt.share(c.total_ms, whole), justify="right"),
                Text(fmt.count(c.count), justify="right"),
                fmt.one_line(c.fingerprint, width),
                key=c.class_id,
            )
        if self.top:
            table.move_cursor(row=min(cursor, len(self.top) - 1))

    def on_resize(self) -> None:
        self._fill_top()
        if self.analysis is not None:
            self._show_findings(self.analysis)

    # ------------------------------------------------------------------ findings

    def _show_findings(self, analysis: data.Analysis) -> None:
        from perftui.rules.base import SEVERITIES  # sqlglot comes with it: not at start-up

        self.analysis = analysis
        counts = {s: 0 for s in SEVERITIES}
        for f in analysis.findings:
            counts[f.severity] = counts.get(f.severity, 0) + 1
        parts: list[Text | str] = [Text("Findings ", style="bold")]
        for sev in reversed(SEVERITIES):
            if counts.get(sev):
                parts += [Text(f" {counts[sev]} {sev} ", style=fmt.SEVERITY_STYLE[sev]), " "]
        if not analysis.findings:
            parts.append(Text("none: nothing the advisor knows how to improve", style="dim"))
        else:
            parts.append(Text(" 3 lists them, Enter opens one", style="dim"))
        self.query_one("#severity-counts", Static).update(Text.assemble(*parts))
        table = self.query_one("#top-findings", DataTable)
        table.clear()
        width = max(20, self.size.width - 24)
        for i, f in enumerate(analysis.findings[:TOP_FINDINGS]):
            table.add_row(
                fmt.severity(f.severity),
                Text(fmt.ms(f.impact_ms), justify="right"),
                fmt.one_line(f.title, width),
                key=str(i),
            )
        table.display = bool(analysis.findings)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        app: Any = self.app
        key = event.row_key.value
        if key is None:
            return
        if event.data_table.id == "top-classes":
            app.open_class(key)
        elif event.data_table.id == "top-findings":
            app.open_finding(int(key))


def _time_range(first: dt.datetime | None, last: dt.datetime | None) -> str:
    if first is None or last is None:
        return "no timestamps"
    end = last.strftime("%H:%M:%S") if first.date() == last.date() else fmt.when(last)
    return f"{fmt.when(first)} → {end} ({fmt.span(first, last)})"
