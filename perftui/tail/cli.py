"""The ``perftui tail`` command: its arguments and its entry point.

``perftui/cli.py`` wires it in with ``add_arguments(sub.add_parser("tail", …))`` and calls
``run(args)``; ``python -m perftui.tail …`` runs it on its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from perftui.ingest.formats import all_formats
from perftui.store.schema import StoreError
from perftui.textsafe import clean

DEFAULT_DB = "perftui.duckdb"
EXIT_OK, EXIT_INPUT = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``perftui tail``."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="log files to follow by name")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"DuckDB file (default ./{DEFAULT_DB})")
    parser.add_argument(
        "--headless",
        action="store_true",
        help="print new slow queries and findings instead of opening the app",
    )
    parser.add_argument(
        "--min-ms",
        type=float,
        default=0.0,
        metavar="N",
        help="headless: only print queries that took at least N ms (default 0: all)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "jsonl"),
        default="text",
        help="headless output: text lines or JSON Lines (default text)",
    )
    parser.add_argument(
        "--from-start",
        action="store_true",
        help="ingest what the files already hold first (default: start at their end, or "
        "where the DuckDB file says the last run stopped)",
    )
    parser.add_argument(
        "--show-literals",
        action="store_true",
        help="print statements with their literal values instead of fingerprints",
    )
    parser.add_argument(
        "--findings-every",
        type=float,
        default=5.0,
        metavar="S",
        help="headless: run the advisor at most every S seconds (0: never; default 5)",
    )
    parser.add_argument(
        "--log-format", choices=[f.name for f in all_formats()], help="skip auto-detection"
    )
    parser.add_argument(
        "--prefix", help="PostgreSQL log_line_prefix of a stderr log, when not detected"
    )
    parser.add_argument(
        "--poll",
        action="store_true",
        help="poll the files instead of using file-change notification",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``perftui tail``; returns the exit code (errors are one line on stderr)."""
    if args.min_ms < 0:
        return _fail("--min-ms must be 0 or more")
    try:
        if args.headless:
            from perftui.tail import headless

            return headless.run(
                headless.HeadlessOptions(
                    db=args.db,
                    files=list(args.files),
                    min_ms=args.min_ms,
                    fmt=args.format,
                    show_literals=args.show_literals,
                    from_start=args.from_start,
                    log_format=args.log_format,
                    prefix=args.prefix,
                    findings_every=args.findings_every,
                    force_polling=args.poll,
                )
            )
        try:
            from perftui.tail import live_app
        except ImportError:
            return _fail("the live app is not available in this build; use --headless")
        return live_app.run(args)
    except StoreError as exc:
        return _fail(str(exc))


def _fail(text: str) -> int:
    print(f"perftui: {clean(text, one_line=True)}", file=sys.stderr)
    return EXIT_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="perftui tail", description="Follow growing logs into the DuckDB file."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
