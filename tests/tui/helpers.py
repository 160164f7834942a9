"""Driving the app in tests: wait until every worker has answered, read what widgets show."""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Callable, Coroutine
from typing import Any

from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, OptionList, Static

from perftui.tui.app import PerftuiApp


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body with asyncio (no async pytest plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def make_app(db: Any, **kwargs: Any) -> PerftuiApp:
    app = PerftuiApp(str(db), **kwargs)
    app.open_store()
    return app


async def settle(pilot: Pilot) -> None:
    """Let workers finish and their results land (they can start further reads)."""
    app = pilot.app
    for _ in range(6):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


async def press(pilot: Pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


def text_of(widget: Widget) -> str:
    """The plain text a Static (or any renderable widget) shows, as rendered by Rich."""
    renderable: Any = widget.content if isinstance(widget, Static) else widget.render()
    out = io.StringIO()
    Console(file=out, width=max(widget.size.width, 200), color_system=None).print(renderable)
    return out.getvalue()


def table_rows(table: DataTable) -> list[list[str]]:
    """Every row of a DataTable as plain strings."""
    out = []
    for row_key in table.rows:
        out.append([str(getattr(c, "plain", c)) for c in table.get_row(row_key)])
    return out


def options_text(widget: OptionList) -> list[str]:
    return [str(getattr(o.prompt, "plain", o.prompt)) for o in widget.options]


def screen_text(app: PerftuiApp) -> str:
    """Everything on screen as plain text lines (what a terminal would show)."""
    lines = []
    for strip in app.screen._compositor.render_strips():
        lines.append("".join(seg.text for seg in strip))
    return "\n".join(lines)
