"""Findings: every advisor finding, grouped by rule and ranked by impact, with evidence and fix.

Enter follows a finding to what it is about (its query class, or the profiled function a link
names). Evidence that quotes logged values stays hidden until ``l``, as in the reports.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, OptionList, Static
from textual.widgets.option_list import Option

from perftui.textsafe import clean
from perftui.tui import data
from perftui.tui import format as fmt
from perftui.tui.keybar import KeyBar
from perftui.tui.query_detail import sql_syntax

if TYPE_CHECKING:
    from perftui.rules.base import Finding

WIDE = 140  # columns from which list and detail sit side by side
EVIDENCE_CHARS = 600  # per evidence item: the whole of it is in the JSON report


class FindingsScreen(Screen[None]):
    AUTO_FOCUS = "#finding-list"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "toggle_literals", "Literals"),
        Binding("y", "copy_fix", "Copy fix"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.analysis: data.Analysis | None = None
        self.order: list[int] = []  # option index → finding index (-1 for group headings)
        self.current: int | None = None
        self.show_literals = False
        self._pending_select: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Container(id="findings-body"):
            yield OptionList(Option(Text("Analysing the store…"), disabled=True), id="finding-list")
            with VerticalScroll(id="finding-detail"):
                yield Static(id="finding-text")
        yield KeyBar()

    def on_mount(self) -> None:
        app: Any = self.app
        app.when_analysed(self, self._analysed)
        self.query_one("#finding-list", OptionList).focus()

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE, "-wide")

    def _analysed(self, analysis: data.Analysis) -> None:
        self.analysis = analysis
        options: list[Option | None] = []
        self.order = []
        index = {id(f): i for i, f in enumerate(analysis.findings)}
        for rule, group in data.grouped_by_rule(analysis.findings):
            total = sum(f.impact_ms for f in group)
            heading = Text.assemble(
                (clean(rule, one_line=True), "bold underline"),
                (f"  {len(group)} finding{'s' if len(group) != 1 else ''}, {fmt.ms(total)}", "dim"),
            )
            options.append(Option(heading, disabled=True))
            self.order.append(-1)
            for f in group:
                prompt = Text.assemble(
                    "  ",
                    fmt.severity(f.severity),
                    " ",
                    (f"{fmt.ms(f.impact_ms):>9}", "bold"),
                    "  ",
                    fmt.one_line(f.title),
                )
                options.append(Option(prompt, id=f"finding-{index[id(f)]}"))
                self.order.append(index[id(f)])
        widget = self.query_one("#finding-list", OptionList)
        widget.clear_options()
        if not options:
            widget.add_option(
                Option(
                    Text("No findings: nothing the advisor knows how to improve."), disabled=True
                )
            )
            self.query_one("#finding-text", Static).update("")
            return
        widget.add_options(options)
        first = next(i for i, f in enumerate(self.order) if f >= 0)
        widget.highlighted = first
        if self._pending_select is not None:
            self.select_finding(self._pending_select)

    def select_finding(self, finding_index: int) -> None:
        """Highlight the finding with this index in ``analysis.findings``."""
        if self.analysis is None:
            self._pending_select = finding_index
            return
        self._pending_select = None
        if finding_index in self.order:
            widget = self.query_one("#finding-list", OptionList)
            widget.highlighted = self.order.index(finding_index)
            widget.focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        i = self.order[event.option_index] if event.option_index < len(self.order) else -1
        self.current = i if i >= 0 else None
        self._render_current()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        f = self.finding()
        if f is None:
            return
        targets = data.finding_targets(f)
        if not targets:
            self.notify("This finding is about the whole workload, not one class.", markup=False)
            return
        app: Any = self.app
        target = targets[0]
        if target.kind == "class":
            app.open_class(target.key)
        else:
            app.open_function(target.key, target.file, target.line)

    def finding(self) -> Finding | None:
        if self.analysis is None or self.current is None:
            return None
        return self.analysis.findings[self.current]

    def _render_current(self) -> None:
        f = self.finding()
        panel = self.query_one("#finding-text", Static)
        if f is None or self.analysis is None:
            panel.update("")
            return
        panel.update(render_finding(f, self.analysis, self.show_literals))
        self.query_one("#finding-detail", VerticalScroll).scroll_home(animate=False)

    def action_toggle_literals(self) -> None:
        self.show_literals = not self.show_literals
        self._render_current()

    def action_copy_fix(self) -> None:
        f = self.finding()
        if f is None or not f.fix:
            self.notify("This finding has no fix to copy.", markup=False)
            return
        self.app.copy_to_clipboard(clean(f.fix))
        self.notify("Fix copied to the clipboard (through the terminal).", markup=False)


def render_finding(f: Finding, analysis: data.Analysis, show_literals: bool) -> Group:
    """The detail panel: title, why, which classes, evidence, fix and links."""
    verified = {True: "verified", False: "not verified yet", None: "not verifiable"}[f.verified]
    out: list[RenderableType] = [
        Text.assemble(fmt.severity(f.severity), " ", (clean(f.title, one_line=True), "bold")),
        Text(f"{f.rule} · impact {fmt.ms(f.impact_ms)} · {verified}", style="dim"),
    ]
    if f.fix:  # the fix first: it is what the reader came for
        out += [Text(""), Text("Fix (y copies it)", style="bold"), sql_syntax(f.fix)]
    out += [Text(""), Text("Why", style="bold"), Text(clean(f.detail))]
    if f.query_class_ids:
        out += [Text(""), Text("Query classes (Enter opens the first)", style="bold")]
        for cid in f.query_class_ids[:10]:
            out.append(
                Text.assemble(
                    (cid, "cyan"), "  ", fmt.one_line(analysis.fingerprints.get(cid, ""), 100)
                )
            )
        if len(f.query_class_ids) > 10:
            out.append(Text(f"… and {len(f.query_class_ids) - 10} more", style="dim"))
    where = [*(f"table {t}" for t in f.tables), *(f"column {c}" for c in f.columns)]
    if where:
        out.append(fmt.one_line("On: " + ", ".join(where)))
    evidence = data.public_evidence(f, show_literals)
    if evidence:
        out += [Text(""), Text("Evidence", style="bold")]
        for key, value in evidence.items():
            shown = value if isinstance(value, str) else json.dumps(value, default=str)
            if len(shown) > EVIDENCE_CHARS:
                shown = shown[:EVIDENCE_CHARS] + f"… ({len(shown):,} characters)"
            out.append(Text.assemble((f"{clean(key, one_line=True)}: ", "dim"), clean(shown)))
    hidden = len(f.evidence) - len(evidence)
    if hidden:
        out.append(
            Text(f"{hidden} evidence item(s) quote logged values: l reveals them", style="dim")
        )
    links = [t for t in (data.link_target(link) for link in f.links) if t is not None]
    if links:
        out += [Text(""), Text("Linked", style="bold")]
        for t in links:
            where_ = f" ({t.file}:{t.line})" if t.file else ""
            out.append(fmt.one_line(f"{t.kind} {t.label or t.key}{where_}"))
    return Group(*out)
