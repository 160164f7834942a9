"""``python -m perftui.tui [DB]``: the app without the CLI (tests, and until ``open`` is wired)."""

from __future__ import annotations

import sys

from perftui.tui.app import run_app

if __name__ == "__main__":
    sys.exit(run_app(sys.argv[1] if len(sys.argv) > 1 else "perftui.duckdb"))
