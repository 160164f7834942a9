"""Flame graph: an icicle of one profile (root on top), zoomable, searchable, per thread.

The widget draws only what fits: one read of the zoomed frame's subtree, as many levels deep as
the widget is tall and no lighter than one character cell (``data.flame_window``), so zooming
costs the same on a 100 k-stack profile as on a tiny one. Moving the selection never reads.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Header, Input, Static

from perftui.profiles import queries as pq
from perftui.textsafe import clean
from perftui.tui import data
from perftui.tui import format as fmt
from perftui.tui.background import Reader
from perftui.tui.keybar import KeyBar

# Background colours per frame kind (two shades each, picked by function name, so neighbours
# differ); application code is warm so it stands out from libraries and the standard library.
PALETTE: dict[str, tuple[str, str]] = {
    "application": ("#d9822b", "#c9692a"),
    "library": ("#4f86c6", "#3f6fae"),
    "stdlib": ("#5a9e6f", "#4a8a5e"),
    "import": ("#9b6fc3", "#8a5db3"),
    "native": ("#777777", "#666666"),
    "thread": ("#555577", "#4a4a6a"),
    "process": ("#555577", "#4a4a6a"),
    "root": ("#444444", "#444444"),
}
MATCH = "#e040a0"
LABEL_MIN = 4  # narrower frames are drawn as blocks without a label


@dataclass(frozen=True, slots=True)
class Box:
    x0: int
    x1: int
    node: pq.Node


def layout(
    nodes: dict[int, pq.Node],
    children: dict[int, list[int]],
    top: pq.Node,
    width: int,
    levels: int,
) -> list[list[Box]]:
    """Place frames on rows: each child gets its share of its parent's span, heaviest first.

    Positions are cumulative and rounded once, so tiny frames add up instead of vanishing and
    every drawn frame is at least one cell wide.
    """
    rows: list[list[Box]] = [[] for _ in range(levels)]
    if top.total <= 0 or width <= 0:
        return rows
    scale = width / top.total
    stack: list[tuple[pq.Node, float]] = [(top, 0.0)]
    while stack:
        node, start = stack.pop()
        row = node.depth - top.depth
        if row >= levels:
            continue
        x0, x1 = round(start * scale), round((start + node.total) * scale)
        if x1 <= x0:
            continue
        rows[row].append(Box(x0, x1, node))
        offset = start
        for cid in children.get(node.node_id, ()):
            child = nodes[cid]
            stack.append((child, offset))
            offset += child.total
    for row in rows:
        row.sort(key=lambda b: b.x0)
    return rows


class FlameGraph(Widget, can_focus=True):
    """The icicle itself; the screen owns loading and posts the window here."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "sibling(-1)", "Prev", show=False),
        Binding("right", "sibling(1)", "Next", show=False),
        Binding("up", "level(-1)", "Parent", show=False),
        Binding("down", "level(1)", "Child", show=False),
        Binding("enter", "zoom", "Zoom in"),
        Binding("escape,backspace", "zoom_out", "Zoom out"),
        Binding("h", "hottest", "Hottest", show=False),
    ]

    search: reactive[str] = reactive("")

    class Selected(Message):
        def __init__(self, node: pq.Node) -> None:
            super().__init__()
            self.node = node

    class ZoomTo(Message):
        def __init__(self, node: pq.Node, out: bool = False) -> None:
            super().__init__()
            self.node = node
            self.out = out

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.nodes: dict[int, pq.Node] = {}
        self.children_of: dict[int, list[int]] = {}
        self.top: pq.Node | None = None
        self.selected: pq.Node | None = None
        self.rows: list[list[Box]] = []

    # ------------------------------------------------------------------ data

    def show(self, top: pq.Node, nodes: list[pq.Node], select: pq.Node | None = None) -> None:
        self.top = top
        self.nodes = {n.node_id: n for n in nodes}
        self.children_of = {}
        for n in nodes:
            if n.parent_id is not None and n.parent_id in self.nodes:
                self.children_of.setdefault(n.parent_id, []).append(n.node_id)
        for ids in self.children_of.values():
            ids.sort(key=lambda i: (-self.nodes[i].total, i))
        self._layout()
        keep = select or self.selected
        if keep is None or keep.node_id not in self.nodes or not self._drawn(keep):
            keep = top
        self._select(self.nodes.get(keep.node_id, top))

    def _layout(self) -> None:
        if self.top is None:
            self.rows = []
        else:
            self.rows = layout(
                self.nodes, self.children_of, self.top, self.size.width, max(self.size.height, 1)
            )
        self.refresh()

    def on_resize(self) -> None:
        self._layout()

    def _drawn(self, node: pq.Node) -> bool:
        if self.top is None:
            return False
        row = node.depth - self.top.depth
        return 0 <= row < len(self.rows) and any(
            b.node.node_id == node.node_id for b in self.rows[row]
        )

    def _select(self, node: pq.Node) -> None:
        self.selected = node
        self.refresh()
        self.post_message(self.Selected(node))

    # ------------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= len(self.rows) or self.top is None:
            return Strip.blank(width)
        segments: list[Segment] = []
        x = 0
        needle = self.search.lower()
        for box in self.rows[y]:
            if box.x0 > x:
                segments.append(Segment(" " * (box.x0 - x)))
            segments.append(Segment(self._label(box), self._style(box.node, needle)))
            x = box.x1
        if x < width:
            segments.append(Segment(" " * (width - x)))
        return Strip(segments, width)

    def _label(self, box: Box) -> str:
        w = box.x1 - box.x0
        if w < LABEL_MIN:
            return "▏" + " " * (w - 1) if w > 1 else " "
        name = clean(box.node.function, one_line=True)
        if box.node.kind == "root":
            name = "all"
        text = f"▏{name}"
        return text[: w - 1] + "…" if len(text) > w else text.ljust(w)

    def _style(self, node: pq.Node, needle: str) -> Style:
        shades = PALETTE.get(node.kind, PALETTE["native"])
        bg = shades[zlib.crc32(node.function.encode("utf-8", "replace")) & 1]
        dim = False
        if needle:
            if matches(node, needle):
                bg = MATCH
            else:
                dim = True
        selected = self.selected is not None and node.node_id == self.selected.node_id
        return Style(
            color="#101010" if not dim else "#808080",
            bgcolor=bg if not dim else "#2a2a2a",
            bold=selected,
            reverse=selected,
        )

    def watch_search(self) -> None:
        self.refresh()

    # ------------------------------------------------------------------ moving

    def _box_of(self, node: pq.Node) -> tuple[int, int] | None:
        if self.top is None:
            return None
        row = node.depth - self.top.depth
        if not 0 <= row < len(self.rows):
            return None
        for i, b in enumerate(self.rows[row]):
            if b.node.node_id == node.node_id:
                return row, i
        return None

    def action_sibling(self, step: int) -> None:
        """Next/previous frame on the same level (across parents, as drawn)."""
        if self.selected is None:
            return
        at = self._box_of(self.selected)
        if at is None:
            return
        row, i = at
        j = i + step
        if 0 <= j < len(self.rows[row]):
            self._select(self.rows[row][j].node)

    def action_level(self, step: int) -> None:
        """Up to the parent, or down to the heaviest drawn child."""
        node = self.selected
        if node is None or self.top is None:
            return
        if step < 0:
            if node.node_id != self.top.node_id and node.parent_id in self.nodes:
                self._select(self.nodes[node.parent_id])
            return
        for cid in self.children_of.get(node.node_id, ()):
            child = self.nodes[cid]
            if self._drawn(child):
                self._select(child)
                return

    def action_zoom(self) -> None:
        sel, top = self.selected, self.top
        if sel is not None and top is not None and sel.node_id != top.node_id:
            self.post_message(self.ZoomTo(sel))

    def action_zoom_out(self) -> None:
        if self.top is not None:
            self.post_message(self.ZoomTo(self.top, out=True))

    def action_hottest(self) -> None:
        """Select the end of the hottest drawn path below the selection."""
        node = self.selected
        while node is not None:
            kids = [
                self.nodes[c]
                for c in self.children_of.get(node.node_id, ())
                if self._drawn(self.nodes[c])
            ]
            if not kids:
                break
            node = kids[0]
        if node is not None:
            self._select(node)

    def on_click(self, event: events.Click) -> None:
        if self.top is None or not 0 <= event.y < len(self.rows):
            return
        for b in self.rows[event.y]:
            if b.x0 <= event.x < b.x1:
                self._select(b.node)
                if b.node.node_id != self.top.node_id:
                    self.post_message(self.ZoomTo(b.node))
                return


def matches(node: pq.Node, needle: str) -> bool:
    return needle in node.function.lower() or needle in (node.file or "").lower()


def frame_name(node: pq.Node | None) -> str:
    if node is None:
        return ""
    if node.kind == "root":
        return "all"
    where = f" ({node.file}:{node.line})" if node.file else ""
    return f"{node.function}{where}"


class FlameScreen(Reader, Screen[None]):
    AUTO_FOCUS = "#flame"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search"),
        Binding("escape", "leave_search", "Back to the graph", show=False),
        Binding("t", "next_thread", "Thread"),
        Binding("P", "next_profile", "Profile", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.profiles: list[pq.Profile] = []
        self.profile: pq.Profile | None = None
        self.root: pq.Node | None = None
        self.bases: list[pq.Node] = []  # "all", then each thread / process
        self.base_index = 0
        self.zoom_stack: list[pq.Node] = []
        self.loaded: tuple[int, int, int] | None = None  # (node, levels, width) on screen
        self.match: data.FlameMatch | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("Looking for a profile…", style="dim"), id="flame-context")
        yield FlameGraph(id="flame")
        yield Static(id="flame-status")
        yield Input(
            placeholder="/ search frames by function or file (Enter; empty clears)",
            id="flame-search",
        )
        yield KeyBar()

    def on_mount(self) -> None:
        app: Any = self.app
        app.when_store_ready(
            self, lambda _s: self.read(data.profile_list, then=self._profiles, group="profiles")
        )

    # ------------------------------------------------------------------ loading

    def _profiles(self, profiles: list[pq.Profile]) -> None:
        self.profiles = profiles
        if not profiles:
            self.query_one("#flame-context", Static).update(
                Text.assemble(
                    ("No profile in this store. ", "bold"),
                    "Record one with ",
                    ("perftui profile -- python app.py", "bold cyan"),
                    " or ingest py-spy output with ",
                    ("perftui ingest FILE", "bold cyan"),
                    ".",
                )
            )
            return
        self.use_profile(profiles[0])

    def use_profile(self, profile: pq.Profile) -> None:
        self.profile = profile
        self.read(_bases, profile, then=self._got_bases, group="flame-bases")

    def _got_bases(self, bases: list[pq.Node]) -> None:
        self.root = bases[0]
        self.bases = bases
        self.base_index = 0
        self.zoom_stack = []
        self.zoom(bases[0])

    def zoom(self, node: pq.Node, select: pq.Node | None = None) -> None:
        graph = self.query_one("#flame", FlameGraph)
        levels = max(graph.size.height, 1)
        width = max(graph.size.width, 1)
        if self.profile is None:
            return
        self.read(
            data.flame_window,
            self.profile.profile_id,
            node,
            levels,
            node.total / (2 * width),
            then=lambda nodes: self._show(node, nodes, select, levels, width),
            group="flame-window",
        )
        if self.match is not None:
            self._search(self.match.text, node)

    def _show(
        self, top: pq.Node, nodes: list[pq.Node], select: pq.Node | None, levels: int, width: int
    ) -> None:
        self.loaded = (top.node_id, levels, width)
        graph = self.query_one("#flame", FlameGraph)
        graph.show(top, nodes, select)
        self._show_context()

    def on_resize(self) -> None:
        graph = self.query_one("#flame", FlameGraph)
        top = graph.top
        if top is None or self.loaded is None:
            return
        _node, levels, width = self.loaded
        if graph.size.height > levels or graph.size.width > width:
            self.zoom(top, graph.selected)

    # ------------------------------------------------------------------ status

    def _show_context(self) -> None:
        graph = self.query_one("#flame", FlameGraph)
        p, top = self.profile, graph.top
        if p is None or top is None:
            return
        parts = [f"{p.name or p.path or p.profile_id}", f"{fmt.count(p.total_samples)} samples"]
        if len(self.bases) > 1:
            base = self.bases[self.base_index]
            label = "all threads" if base.kind == "root" else base.function
            parts.append(f"{label} (t: next of {len(self.bases)})")
        if len(self.profiles) > 1:
            parts.append(f"profile {self.profiles.index(p) + 1}/{len(self.profiles)} (P)")
        if self.zoom_stack:
            names = [n.function for n in [*self.zoom_stack, top] if n.kind != "root"]
            crumbs = " › ".join(names[-3:])
            parts.append("zoom: " + ("… › " if len(names) > 3 else "") + crumbs)
        self.query_one("#flame-context", Static).update(fmt.one_line(" · ".join(parts)))

    @on(FlameGraph.Selected)
    def _selected(self, event: FlameGraph.Selected) -> None:
        self._status(event.node)

    def _status(self, node: pq.Node) -> None:
        p = self.profile
        graph = self.query_one("#flame", FlameGraph)
        if p is None or graph.top is None:
            return
        whole = self.root.total if self.root else p.total_weight
        total_ms = p.ms(node.total)
        timing = f", {fmt.ms(total_ms)}" if total_ms is not None else ""
        line = Text.assemble(
            (clean(frame_name(node), one_line=True), "bold"),
            f"\ntotal {fmt.share(node.total, whole)} ({fmt.count(node.total)} "
            f"{p.weight_unit}{timing}) · self {fmt.share(node.self, whole)}"
            f" · {node.kind}",
        )
        if graph.top.total and graph.top.total != whole:
            line.append(f" · {fmt.share(node.total, graph.top.total)} of the zoomed frame")
        if self.match is not None:
            line.append(
                f"\n'{clean(self.match.text, one_line=True)}': {self.match.frames} frames, "
                f"{fmt.share(self.match.weight, graph.top.total)} of the view",
                style="magenta",
            )
        self.query_one("#flame-status", Static).update(line)

    # ------------------------------------------------------------------ zoom, search, threads

    @on(FlameGraph.ZoomTo)
    def _zoom_to(self, event: FlameGraph.ZoomTo) -> None:
        graph = self.query_one("#flame", FlameGraph)
        if event.out:
            if self.zoom_stack:
                previous = self.zoom_stack.pop()
                self.zoom(previous, select=graph.top)
            return
        if graph.top is not None:
            self.zoom_stack.append(graph.top)
        self.zoom(event.node, select=event.node)

    def action_search(self) -> None:
        self.query_one("#flame-search", Input).focus()

    def action_leave_search(self) -> None:
        self.query_one("#flame", FlameGraph).focus()

    @on(Input.Submitted, "#flame-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        graph = self.query_one("#flame", FlameGraph)
        graph.search = text
        graph.focus()
        if not text:
            self.match = None
            if graph.selected is not None:
                self._status(graph.selected)
            return
        if graph.top is not None:
            self._search(text, graph.top)

    def search_for(self, text: str) -> None:
        """Search from elsewhere (Functions → "show in flame graph")."""
        box = self.query_one("#flame-search", Input)
        box.value = text
        graph = self.query_one("#flame", FlameGraph)
        graph.search = text
        if graph.top is not None:
            self._search(text, graph.top)
        else:
            self.match = data.FlameMatch(text, 0, 0)

    def _search(self, text: str, top: pq.Node) -> None:
        if self.profile is None:
            return
        self.read(
            data.flame_search,
            self.profile.profile_id,
            top,
            text,
            then=self._matched,
            group="flame-search",
        )

    def _matched(self, match: data.FlameMatch) -> None:
        self.match = match
        graph = self.query_one("#flame", FlameGraph)
        if graph.selected is not None:
            self._status(graph.selected)

    def action_next_thread(self) -> None:
        if len(self.bases) <= 1:
            self.notify(
                "This profile has one thread (record with --threads to split them).", markup=False
            )
            return
        self.base_index = (self.base_index + 1) % len(self.bases)
        self.zoom_stack = []
        self.zoom(self.bases[self.base_index])

    def action_next_profile(self) -> None:
        if len(self.profiles) > 1 and self.profile is not None:
            i = self.profiles.index(self.profile)
            self.use_profile(self.profiles[(i + 1) % len(self.profiles)])


def _bases(cur: Any, profile: pq.Profile) -> list[pq.Node]:
    """The root, then its thread and process frames: what the thread selector cycles through."""
    root = pq.node(cur, profile.profile_id, profile.root_node_id)
    kids = pq.children(cur, profile.profile_id, root.node_id)
    return [root, *(k for k in kids if k.kind in ("thread", "process"))]
