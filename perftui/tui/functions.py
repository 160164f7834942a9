"""Functions: the top functions by self or total time, and speedscope's sandwich for one of them.

The sandwich answers "who calls the slow function": its callers above, its callees below, each
merged over every call site. Enter (or a click) on a function shows its sandwich; Enter on a
caller or callee moves the sandwich to it, Backspace goes back.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import DataTable, Header, OptionList, Static
from textual.widgets.data_table import RowDoesNotExist
from textual.widgets.option_list import Option

from perftui.profiles import queries as pq
from perftui.tui import data
from perftui.tui import format as fmt
from perftui.tui.background import Reader
from perftui.tui.keybar import KeyBar

TOP = 200
# Thread and process frames are in the stacks but are not functions anyone can speed up.
FUNCTION_KINDS = ("application", "library", "stdlib", "native", "import")
WIDE = 140


class FunctionsScreen(Reader, Screen[None]):
    AUTO_FOCUS = "#functions"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "toggle_sort", "Self/total"),
        Binding("g", "show_in_flame", "In flame graph"),
        Binding("backspace", "back", "Back", show=False),
        Binding("P", "next_profile", "Profile", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.profiles: list[pq.Profile] = []
        self.profile: pq.Profile | None = None
        self.by = "self"
        self.sandwich: pq.Sandwich | None = None
        self.history: list[int] = []
        self.edges: list[pq.FunctionStat | None] = []  # option index → function
        self._pending: tuple[str, str | None, int | None] | None = None
        self._resolving = False
        self._wanted: int | None = None  # the function whose sandwich is shown or on its way

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("Looking for a profile…", style="dim"), id="functions-context")
        with Container(id="functions-body"):
            yield DataTable(id="functions", cursor_type="row", zebra_stripes=True)
            yield OptionList(id="sandwich")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#functions", DataTable)
        for key, label in (
            ("self", "self"),
            ("total", "total"),
            ("function", "function"),
            ("where", "file:line"),
        ):
            table.add_column(label, key=key)
        app: Any = self.app
        app.when_store_ready(
            self, lambda _s: self.read(data.profile_list, then=self._profiles, group="profiles")
        )

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE, "-wide")

    def _profiles(self, profiles: list[pq.Profile]) -> None:
        self.profiles = profiles
        if not profiles:
            self.query_one("#functions-context", Static).update(
                Text.assemble(
                    ("No profile in this store. ", "bold"),
                    "Record one with ",
                    ("perftui profile -- python app.py", "bold cyan"),
                    ".",
                )
            )
            return
        self.profile = profiles[0]
        self.reload()

    def reload(self) -> None:
        if self.profile is None:
            return
        self.read(
            pq.top_functions,
            self.profile.profile_id,
            by=self.by,
            limit=TOP,
            kinds=FUNCTION_KINDS,
            then=self._show_top,
            group="top-functions",
        )

    def _show_top(self, funcs: list[pq.FunctionStat]) -> None:
        p = self.profile
        if p is None:
            return
        self.query_one("#functions-context", Static).update(
            fmt.one_line(
                f"{p.name or p.path} · {fmt.count(p.total_samples)} samples · by {self.by} time"
                " · Enter: callers and callees"
            )
        )
        table = self.query_one("#functions", DataTable)
        table.clear()
        for f in funcs:
            table.add_row(
                Text(fmt.share(f.self, p.total_weight), justify="right"),
                Text(fmt.share(f.total, p.total_weight), justify="right"),
                fmt.one_line(f.function, 40),
                fmt.one_line(_where(f), 50),
                key=str(f.func_id),
            )
        if self._pending is not None:
            name, file, line = self._pending
            self._pending = None
            self.select_function(name, file, line)
        elif self._wanted is None and funcs and not self._resolving:
            self.show_sandwich(funcs[0].func_id)  # something useful before the first Enter

    # ------------------------------------------------------------------ sandwich

    def select_function(self, name: str, file: str | None = None, line: int | None = None) -> None:
        """Show the sandwich of the function called ``name`` (from a finding or the palette)."""
        if self.profile is None:
            self._pending = (name, file, line)
            return
        self._resolving = True
        self.read(
            data.resolve_function,
            self.profile.profile_id,
            name,
            file,
            then=self._resolved,
            group="resolve-function",
        )

    def _resolved(self, func: pq.FunctionStat | None) -> None:
        self._resolving = False
        if func is None:
            self.notify("That function is not in the current profile.", markup=False)
            return
        table = self.query_one("#functions", DataTable)
        # Not among the top rows: the sandwich still shows it.
        with suppress(RowDoesNotExist):
            table.move_cursor(row=table.get_row_index(str(func.func_id)))
        self.show_sandwich(func.func_id)

    def show_sandwich(self, func_id: int, *, remember: bool = True) -> None:
        if self.profile is None:
            return
        if remember and self.sandwich is not None and self.sandwich.func.func_id != func_id:
            self.history.append(self.sandwich.func.func_id)
        self._wanted = func_id
        self.read(
            pq.sandwich,
            self.profile.profile_id,
            func_id,
            then=self._show_sandwich,
            group="sandwich",
        )

    def _show_sandwich(self, s: pq.Sandwich) -> None:
        p = self.profile
        if p is None:
            return
        self.sandwich = s
        whole = p.total_weight
        widget = self.query_one("#sandwich", OptionList)
        widget.clear_options()
        self.edges = []

        def add(prompt: Text, func: pq.FunctionStat | None, disabled: bool = False) -> None:
            widget.add_option(Option(prompt, disabled=disabled))
            self.edges.append(func)

        add(Text(f"Callers of {s.func.function}", style="bold underline"), None, True)
        for e in s.callers or []:
            add(_edge(e, whole, "↑"), e.func, e.func is None)
        if not s.callers:
            add(Text("  (none: a root frame)", style="dim"), None, True)
        f = s.func
        add(
            Text.assemble(
                ("▶ ", "bold"),
                fmt.one_line(f.function),
                (f"  {_where(f)}", "dim"),
                f"  self {fmt.share(f.self, whole)} · total {fmt.share(f.total, whole)}",
                f" · recursion {f.max_recursion}" if f.max_recursion > 1 else "",
            ),
            None,
            True,
        )
        add(Text("Callees", style="bold underline"), None, True)
        for e in s.callees:
            add(_edge(e, whole, "↓"), e.func, e.func is None)
        if not s.callees:
            add(Text("  (none: all its time is its own)", style="dim"), None, True)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.show_sandwich(int(event.row_key.value))
            self.query_one("#sandwich", OptionList).focus()

    @on(OptionList.OptionSelected, "#sandwich")
    def _edge_selected(self, event: OptionList.OptionSelected) -> None:
        func = self.edges[event.option_index] if event.option_index < len(self.edges) else None
        if func is not None:
            self.show_sandwich(func.func_id)

    # ------------------------------------------------------------------ actions

    def action_toggle_sort(self) -> None:
        self.by = "total" if self.by == "self" else "self"
        self.reload()

    def action_back(self) -> None:
        if self.history:
            self.show_sandwich(self.history.pop(), remember=False)

    def action_show_in_flame(self) -> None:
        if self.sandwich is None:
            return
        app: Any = self.app
        app.show_in_flame(self.sandwich.func.function)

    def action_next_profile(self) -> None:
        if len(self.profiles) > 1 and self.profile is not None:
            i = self.profiles.index(self.profile)
            self.profile = self.profiles[(i + 1) % len(self.profiles)]
            self.sandwich = None
            self._wanted = None
            self.history = []
            self.reload()


def _where(f: pq.FunctionStat) -> str:
    if not f.file:
        return f.kind
    return f"{f.file}:{f.first_line}" if f.first_line else f.file


def _edge(e: pq.Edge, whole: int, arrow: str) -> Text:
    if e.func is None:
        return Text(f"  {arrow} (root) {fmt.share(e.weight, whole)}", style="dim")
    return Text.assemble(
        f"  {arrow} ",
        (f"{fmt.share(e.weight, whole):>6}", "bold"),
        "  ",
        fmt.one_line(e.func.function, 40),
        (f"  {_where(e.func)}", "dim"),
    )
