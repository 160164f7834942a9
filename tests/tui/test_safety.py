"""Log text is untrusted: markup in statements shows literally, escape sequences never reach the
terminal (``textsafe.clean`` drops a whole OSC/CSI sequence, its payload included)."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandList

from perftui.tui.findings import FindingsScreen
from perftui.tui.queries import QueriesScreen
from perftui.tui.query_detail import QueryDetailScreen
from tests.tui.helpers import make_app, press, run_async, screen_text, settle, table_rows, text_of

SIZE = (100, 30)


def _no_control(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, repr(text)


@run_async
async def test_markup_and_escapes_show_literally(hostile_db: Path) -> None:
    app = make_app(hostile_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # Overview: the top class row.
        overview = screen_text(app)
        assert "[bold]x[/bold]" in overview
        _no_control(overview)
        # Queries table: the cell holds the literal text, no escape characters.
        await press(pilot, "2")
        screen = app.screen
        assert isinstance(screen, QueriesScreen)
        rows = table_rows(screen.query_one("#classes"))
        cell = next(r[-1] for r in rows if "notes" in r[-1] and "[bold]" in r[-1])
        assert "`[bold]x[/bold]`, `` from notes" in cell  # the OSC title sequence is gone
        assert "pwned" not in cell
        _no_control(cell)
        # A filter typed with markup is just text.
        screen.set_filter("[bold]")
        await settle(pilot)
        assert screen.page.matching == 1
        assert "filter: [bold]" in text_of(screen.query_one("#page-status"))
        # Detail: fingerprint, samples (revealed), everything literal.
        await press(pilot, "enter")
        detail = app.screen
        assert isinstance(detail, QueryDetailScreen)
        sql = text_of(detail.query_one("#detail-sql"))
        assert "`[bold]x[/bold]`" in sql
        _no_control(sql)
        await press(pilot, "l")
        samples = text_of(detail.query_one("#detail-samples"))
        assert "'[link=https://evil.example]click[/link]'" in samples
        assert "pwned" not in samples
        _no_control(samples)
        shown = screen_text(app)
        _no_control(shown)
        assert "[bold]x[/bold]" in shown
        # The rendered screen is what reaches the terminal: no escapes from the log in it.
        svg = app.export_screenshot()
        assert "[link=https://evil.example]click[/link]" in svg.replace("&#160;", " ")
        assert "pwned" not in svg and "\x1b" not in svg and "\x07" not in svg
        await press(pilot, "3")
        assert isinstance(app.screen, FindingsScreen)
        _no_control(screen_text(app))
        # The command palette reads plain strings as markup: its prompts must stay literal.
        await press(pilot, "ctrl+p")
        await pilot.press(*"class bold")
        await pilot.pause(0.5)
        await settle(pilot)
        prompts = [
            str(getattr(o.prompt, "plain", o.prompt))
            for o in app.screen.query_one(CommandList).options
        ]
        assert any("select `[bold]x[/bold]`, `` from notes" in p for p in prompts), prompts
        for p in prompts:
            _no_control(p)
