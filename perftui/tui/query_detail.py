"""Query detail: one class — its SQL, numbers, latency histogram, samples, plan and fixes.

Samples carry real values from the log (emails, ids…), so they stay masked until the user asks
(``l``); fixes can be copied to the clipboard (OSC 52, through the terminal) or written to a file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from perftui.store.queries import HISTOGRAM_LABELS
from perftui.textsafe import clean
from perftui.tui import data
from perftui.tui import format as fmt
from perftui.tui.background import Reader
from perftui.tui.keybar import KeyBar

if TYPE_CHECKING:
    from perftui.rules.base import Finding

# Quoted strings and numbers that are not part of an identifier: what "literals hidden" masks.
_LITERALS = re.compile(
    r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|(?<![\w$.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?\b",
    re.IGNORECASE,
)


def mask_literals(sql: str) -> str:
    return _LITERALS.sub("?", sql)


def sql_syntax(sql: str) -> Syntax:
    """Highlighted SQL; the text is cleaned first (Syntax never reads markup, but escapes pass)."""
    return Syntax(clean(sql), "sql", theme="ansi_dark", word_wrap=True, background_color="default")


class QueryDetailScreen(Reader, Screen[None]):
    AUTO_FOCUS = "#detail-body"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "back", "Back"),
        Binding("l", "toggle_literals", "Literals"),
        Binding("y", "copy_fix", "Copy fix"),
        Binding("e", "export_fix", "Export fix"),
        Binding("k", "open_link", "Call site", show=False),
    ]

    def __init__(self, class_id: str) -> None:
        super().__init__()
        self.class_id = class_id
        self.detail: data.ClassDetail | None = None
        self.examples: data.ClassExamples | None = None
        self.findings: list[Finding] = []
        self.analysis_tables: list[str] = []
        self.show_literals = False

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail-body"):
            yield Static(Text(f"Query class {self.class_id}", style="bold"), id="detail-title")
            yield Static(Text("Loading…", style="dim"), id="detail-sql")
            with Horizontal(id="detail-numbers"):
                yield Static(id="detail-stats")
                yield Static(id="detail-histogram")
            yield Static(Text("Samples", style="bold"), classes="section")
            yield Static(id="detail-samples")
            yield Static(Text("EXPLAIN plan", style="bold"), classes="section", id="plan-title")
            yield Static(id="detail-plan")
            yield Static(Text("Findings for this class", style="bold"), classes="section")
            yield Static(Text("Analysing…", style="dim"), id="detail-findings")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#plan-title").display = False
        self.query_one("#detail-plan").display = False
        self.read(data.class_detail, self.class_id, then=self._show, group="class-detail")
        self.read(
            data.class_examples, self.class_id, then=self._show_examples, group="class-examples"
        )
        app: Any = self.app
        app.when_analysed(self, self._analysed)
        self.query_one("#detail-body", VerticalScroll).focus()

    # ------------------------------------------------------------------ rendering

    def _show(self, detail: data.ClassDetail | None) -> None:
        if detail is None:
            self.query_one("#detail-sql", Static).update(
                Text(f"No queries of class {self.class_id} in this store.", style="dim")
            )
            return
        self.detail = detail
        c = detail.stats
        self._show_title(detail)
        sql: list[RenderableType] = [sql_syntax(detail.pretty)]
        if detail.parse_error:
            sql.append(fmt.one_line(f"sqlglot could not parse it: {detail.parse_error}"))
        self.query_one("#detail-sql", Static).update(Group(*sql))
        self.query_one("#detail-stats", Static).update(self._stats_table(detail))
        self.query_one("#detail-histogram", Static).update(self._histogram(c.histogram))
        if self.analysis_tables:
            self._show_tables()

    def _show_examples(self, ex: data.ClassExamples) -> None:
        self.examples = ex
        self._render_samples()
        if ex.plan:
            self.query_one("#plan-title").display = True
            plan = self.query_one("#detail-plan", Static)
            plan.display = True
            plan.update(
                Group(
                    Text(
                        f"from the slowest execution that logged one ({fmt.ms(ex.plan_ms)})",
                        style="dim",
                    ),
                    Text(clean(ex.plan)),
                )
            )

    def _show_title(self, d: data.ClassDetail) -> None:
        title = Text.assemble(
            ("Query class ", "bold"),
            (d.stats.class_id, "bold"),
            f" · {d.stats.dialect}",
            f" · tables: {', '.join(clean(t, one_line=True) for t in d.tables) or '–'}",
        )
        self.query_one("#detail-title", Static).update(title)

    def _stats_table(self, d: data.ClassDetail) -> Table:
        c = d.stats
        t = Table.grid(padding=(0, 2))
        t.add_column(style="dim")
        t.add_column(justify="right")
        rows = [
            ("count", fmt.count(c.count)),
            ("total", fmt.ms(c.total_ms)),
            ("mean", fmt.ms(c.mean_ms)),
            ("min / max", f"{fmt.ms(c.min_ms)} / {fmt.ms(c.max_ms)}"),
            ("p50 / p95", f"{fmt.ms(c.p50_ms)} / {fmt.ms(c.p95_ms)}"),
            ("p99", fmt.ms(c.p99_ms)),
            ("lock", fmt.ms(c.lock_ms)),
            ("rows sent", fmt.count(c.rows_sent)),
            ("rows exam.", fmt.count(c.rows_examined)),
            ("rows affected", fmt.count(c.rows_affected)),
            ("first seen", fmt.when(c.first_seen)),
            ("last seen", fmt.when(c.last_seen)),
        ]
        for label, value in rows:
            t.add_row(label, value)
        for label, counts in (("users", c.users), ("databases", c.databases), ("hosts", c.hosts)):
            if counts:
                top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
                t.add_row(label, fmt.one_line(", ".join(f"{k} ({v})" for k, v in top), 30))
        return t

    @staticmethod
    def _histogram(buckets: list[int]) -> Group:
        t = Table.grid(padding=(0, 1))
        t.add_column(style="dim", justify="right")
        t.add_column(width=20, no_wrap=True)
        t.add_column(justify="right")
        top = max(buckets) if buckets else 0
        for label, n in zip(HISTOGRAM_LABELS, buckets, strict=False):
            t.add_row(label, Text(fmt.bar(n, top, 20), style="green"), fmt.count(n))
        return Group(Text("latency (log10 buckets)", style="bold"), t)

    def _render_samples(self) -> None:
        d = self.examples
        if d is None:
            return
        out: list[RenderableType] = []
        if not self.show_literals:
            out.append(Text("literals hidden — press l to reveal the logged values", style="dim"))
        for s in d.samples:
            meta = " · ".join(
                x
                for x in (
                    fmt.ms(s.duration_ms),
                    fmt.when(s.ts),
                    f"user {clean(s.user, one_line=True)}" if s.user else "",
                    f"db {clean(s.db, one_line=True)}" if s.db else "",
                    f"rows {fmt.count(s.rows_examined)}" if s.rows_examined is not None else "",
                )
                if x
            )
            out.append(Text(meta, style="dim"))
            text = s.query if self.show_literals else mask_literals(s.query)
            out.append(Text(clean(text)))
        if not d.samples:
            out.append(Text("no statements stored for this class", style="dim"))
        self.query_one("#detail-samples", Static).update(Group(*out))

    def _analysed(self, analysis: data.Analysis) -> None:
        self.findings = [
            f
            for f in analysis.findings
            if self.class_id in f.query_class_ids
            or any(t.kind == "class" and t.key == self.class_id for t in data.finding_targets(f))
        ]
        self.analysis_tables = analysis.class_tables.get(self.class_id, [])
        self._render_findings()
        if self.detail is not None and self.analysis_tables:
            self._show_tables()

    def _show_tables(self) -> None:
        """Tables the advisor parsed (the store may not have them: it is opened read-only)."""
        d = self.detail
        if d is None or d.tables:
            return
        d.tables = list(self.analysis_tables)
        self._show_title(d)

    def _render_findings(self) -> None:
        out: list[RenderableType] = []
        if not self.findings:
            out.append(Text("The advisor found nothing to fix in this class.", style="dim"))
        for f in self.findings:
            out.append(
                Text.assemble(
                    fmt.severity(f.severity),
                    " ",
                    (clean(f.title, one_line=True), "bold"),
                    (f"  ({f.rule}, {fmt.ms(f.impact_ms)})", "dim"),
                )
            )
            out.append(Text(clean(f.detail)))
            if f.fix:
                out.append(sql_syntax(f.fix))
            for target in data.finding_targets(f):
                if target.kind == "function":
                    where = f" ({target.file}:{target.line})" if target.file else ""
                    out.append(fmt.one_line(f"→ call site {target.key}{where} (press k)"))
            out.append(Text(""))
        if self.findings:
            out.append(
                Text("y copies the fixes to the clipboard, e writes them to a file", style="dim")
            )
        self.query_one("#detail-findings", Static).update(Group(*out))

    # ------------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_literals(self) -> None:
        self.show_literals = not self.show_literals
        self._render_samples()

    def fixes_text(self) -> str:
        """Every fix of this class as one SQL script, each headed by its finding as a comment."""
        parts = []
        for f in self.findings:
            if f.fix:
                parts.append(f"-- {f.rule}: {clean(f.title, one_line=True)}\n{clean(f.fix)}")
        return "\n\n".join(parts)

    def action_copy_fix(self) -> None:
        text = self.fixes_text()
        if not text:
            self.notify("No fix to copy for this class.", markup=False)
            return
        self.app.copy_to_clipboard(text)
        self.notify("Fix copied to the clipboard (through the terminal).", markup=False)

    def action_export_fix(self) -> None:
        text = self.fixes_text()
        if not text:
            self.notify("No fix to export for this class.", markup=False)
            return
        target = Path(f"perftui-fix-{self.class_id}.sql")
        try:
            target.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            self.notify(f"Cannot write {target}: {exc.strerror}", severity="error", markup=False)
            return
        self.notify(f"Fix written to {target.resolve()}", markup=False)

    def action_open_link(self) -> None:
        app: Any = self.app
        for f in self.findings:
            for target in data.finding_targets(f):
                if target.kind == "function":
                    app.open_function(target.key, target.file, target.line)
                    return
        self.notify("No linked call site for this class.", markup=False)
