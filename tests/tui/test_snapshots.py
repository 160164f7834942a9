"""Screenshots of the main screens on the committed sample logs (pytest-textual-snapshot).

Regenerate after a deliberate change with ``pytest tests/tui --snapshot-update`` and look at the
SVGs in ``__snapshots__`` before committing them.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from tests.tui.helpers import make_app, settle


def _app(db: Path):
    app = make_app(db)
    app.sub_title = "sample logs"  # the store's path differs per run
    return app


def _view(key: str | None):
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        if key:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def test_overview_80x24(snap_compare, sample_db: Path) -> None:
    assert snap_compare(_app(sample_db), terminal_size=(80, 24), run_before=_view(None))


def test_queries_80x24(snap_compare, sample_db: Path) -> None:
    assert snap_compare(_app(sample_db), terminal_size=(80, 24), run_before=_view("2"))


def test_findings_80x24(snap_compare, sample_db: Path) -> None:
    assert snap_compare(_app(sample_db), terminal_size=(80, 24), run_before=_view("3"))


def test_overview_wide(snap_compare, sample_db: Path) -> None:
    assert snap_compare(_app(sample_db), terminal_size=(160, 48), run_before=_view(None))


def test_findings_wide(snap_compare, sample_db: Path) -> None:
    assert snap_compare(_app(sample_db), terminal_size=(160, 48), run_before=_view("3"))
