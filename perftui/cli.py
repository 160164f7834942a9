"""The ``perftui`` command: open, ingest, analyze, export, profile, tail, compare, verify.

Errors the user can fix are one line on stderr and exit code 2; never a traceback.
Exit codes: 0 success, 1 a finding at or above ``--fail-on``, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TypeVar

import duckdb
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from perftui import __version__, export_parquet
from perftui.ingest.driver import IngestError, IngestResult, ingest_path
from perftui.ingest.formats import ParseOptions, all_formats
from perftui.profiles import capture
from perftui.profiles.ingest import ingest_profile, profile_format
from perftui.rules.base import SEVERITIES, Thresholds, severity_rank
from perftui.rules.schema_info import SchemaInfo
from perftui.store import schema
from perftui.store.queries import Window
from perftui.tail import cli as tail_cli
from perftui.textsafe import clean

DEFAULT_DB = "perftui.duckdb"


_T = TypeVar("_T")


class _DefaultDb(str):
    """``--db`` when it was not given (argparse hands given values over as plain ``str``)."""


EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2


class UsageError(Exception):
    """Bad arguments; the message is shown as one line."""


def _add_ingest_args(p: argparse.ArgumentParser, *, files_required: bool) -> None:
    p.add_argument(
        "files",
        nargs="+" if files_required else "*",
        metavar="FILE",
        help="log files ('-' = standard input; .gz/.bz2/.zst read transparently)",
    )
    p.add_argument(
        "--db", default=_DefaultDb(DEFAULT_DB), help=f"DuckDB file (default ./{DEFAULT_DB})"
    )
    p.add_argument(
        "--log-format", choices=[f.name for f in all_formats()], help="skip auto-detection"
    )
    p.add_argument("--prefix", help="PostgreSQL log_line_prefix of a stderr log, when not detected")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perftui",
        description="Slow-query logs and Python profiles in one DuckDB file, and what to fix.",
    )
    parser.add_argument("--version", action="version", version=f"perftui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("open", help="ingest logs / profiles (with progress), then open the app")
    _add_ingest_args(p, files_required=False)

    p = sub.add_parser("ingest", help="load logs into the DuckDB file")
    _add_ingest_args(p, files_required=True)

    p = sub.add_parser("analyze", help="ingest what is new, then report (text, JSON, Markdown)")
    _add_ingest_args(p, files_required=False)
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument("--output", "-o", help="write the report here instead of standard output")
    p.add_argument("--top", type=int, default=None, help="show the N classes with most time")
    p.add_argument(
        "--order-by",
        default="total_ms",
        choices=("total_ms", "count", "p95_ms", "max_ms", "mean_ms", "rows"),
    )
    p.add_argument("--since", help="only entries at/after: ISO time or N[smhd] ago")
    p.add_argument("--until", help="only entries before: ISO time or N[smhd] ago")
    p.add_argument(
        "--show-literals",
        action="store_true",
        help="include sample statements with their literal values in the report",
    )
    p.add_argument(
        "--parquet",
        metavar="DIR",
        help="report on a dataset written by `perftui export --parquet` instead of --db",
    )
    _add_advisor_args(p)
    p.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        help="exit 1 when a finding at or above this severity exists (for CI)",
    )

    p = sub.add_parser(
        "export", help="write the DuckDB file as a Parquet dataset (for DuckDB, Spark, Trino)"
    )
    export_parquet.add_arguments(p)

    p = sub.add_parser(
        "profile",
        help="record a Python program (or --pid) with py-spy and ingest the profile",
        description="perftui profile [options] -- python app.py …   |   perftui profile --pid N",
    )
    capture.add_arguments(p)

    p = sub.add_parser(
        "tail", help="follow growing logs into the DuckDB file (the app, or --headless)"
    )
    tail_cli.add_arguments(p)

    p = sub.add_parser("compare", help="what got faster or slower between two runs")
    p.add_argument("baseline", help="a perftui DuckDB file or a log file")
    p.add_argument("current", help="a perftui DuckDB file or a log file")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument("--output", "-o")
    p.add_argument("--top", type=int, default=20, help="classes to list (default 20)")
    p.add_argument("--log-format", choices=[f.name for f in all_formats()])
    p.add_argument("--prefix")
    _add_advisor_args(p)

    p = sub.add_parser("verify", help="prove index advice on PostgreSQL with HypoPG (rolled back)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"DuckDB file (default ./{DEFAULT_DB})")
    p.add_argument("--dsn", required=True, help="postgresql://user@host/db to EXPLAIN against")
    p.add_argument("--schema", help="DDL file describing existing tables and indexes")
    p.add_argument(
        "--allow-literals",
        action="store_true",
        help="EXPLAIN real statements from the log instead of generic plans",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def _add_advisor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--schema", help="DDL file with the tables and indexes that exist")
    p.add_argument("--dsn", help="postgresql://… or mysql://… to read existing indexes from")
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an advisor threshold, e.g. n_plus_one_count=3 (repeatable)",
    )


def _ddl_dialect(path: str) -> str:
    """MySQL DDL gives itself away by backticks or ENGINE=; anything else reads as PostgreSQL."""
    try:
        head = Path(path).read_text(encoding="utf-8", errors="replace")[:65536]
    except OSError:
        return "postgres"
    return "mysql" if "`" in head or re.search(r"(?i)\bENGINE\s*=", head) else "postgres"


def advisor_inputs(args: argparse.Namespace) -> tuple[SchemaInfo, Thresholds]:
    """SchemaInfo from --schema/--dsn and Thresholds from --threshold, or a UsageError."""
    from perftui.rules import schema_load

    info = SchemaInfo()
    dsn = getattr(args, "dsn", None)
    try:
        if getattr(args, "schema", None):
            info = schema_load.load_ddl_file(args.schema, _ddl_dialect(args.schema))
        elif dsn:
            info = schema_load.load_dsn(dsn)
    except (OSError, ValueError) as exc:
        raise UsageError(schema_load.scrub(str(exc), dsn) if dsn else str(exc)) from None
    values: dict[str, float | int] = {}
    kinds = {f.name: f.type for f in dataclasses.fields(Thresholds)}
    for item in getattr(args, "threshold", []):
        key, _, raw = item.partition("=")
        if key not in kinds or not raw:
            raise UsageError(
                f"--threshold {item!r}: use NAME=VALUE with NAME one of " + ", ".join(kinds)
            )
        try:
            values[key] = float(raw) if "float" in str(kinds[key]) else int(raw)
        except ValueError:
            raise UsageError(f"--threshold {item!r}: {raw!r} is not a number") from None
    return info, Thresholds(**values)


_RELATIVE = re.compile(r"^(\d+)([smhd])$")


def parse_time(value: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """ISO date/time (taken as UTC) or ``N[smhd]`` before now."""
    if value is None:
        return None
    m = _RELATIVE.match(value.strip())
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return now - dt.timedelta(**{unit: int(m.group(1))})
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"cannot read time {value!r}: use YYYY-MM-DD[ HH:MM:SS] or N[smhd]"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _progress(err: Console, path: str):
    if not err.is_terminal or path == "-":
        return nullcontext(None)
    try:
        size = Path(path).stat().st_size
    except OSError:
        return nullcontext(None)
    prog = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    return _ProgressCtx(prog, clean(Path(path).name, one_line=True), size)


class _ProgressCtx:
    def __init__(self, prog: Progress, name: str, size: int) -> None:
        self.prog, self.name, self.size = prog, name, size

    def __enter__(self):
        self.prog.start()
        task = self.prog.add_task(self.name.replace("[", "\\["), total=self.size)
        return lambda done: self.prog.update(task, completed=min(done, self.size))

    def __exit__(self, *exc: object) -> None:
        self.prog.stop()


def say(console: Console, text: str) -> None:
    """One plain line (no markup, no wrapping): messages may quote untrusted log text."""
    console.print(clean(text, one_line=True), markup=False, highlight=False, soft_wrap=True)


def _summary_line(r: IngestResult) -> str:
    path = clean(r.path, one_line=True)
    if r.status == "empty":
        return f"{path}: empty, nothing to ingest"
    if r.status == "unchanged":
        return f"{path}: already ingested, nothing new"
    verb = "appended" if r.status == "appended" else "ingested"
    if r.interrupted:
        where = "the start" if r.first_line == 1 else f"line {r.first_line:,}"
        verb = f"re-reading an interrupted ingest from {where}: {verb}"
    reasons = ""
    if r.reject_reasons:
        reasons = (
            " ("
            + ", ".join(f"{clean(k, one_line=True)}: {v:,}" for k, v in r.reject_reasons.items())
            + ")"
        )
    return (
        f"{path}: {verb} as {r.format}: {r.lines:,} lines read = "
        f"{r.lines - r.reject_lines:,} in {r.entries:,} entries"
        f" + {r.reject_lines:,} rejected{reasons}"
    )


def run_ingest(con: duckdb.DuckDBPyConnection, args: argparse.Namespace, err: Console) -> int:
    """Ingest every file; one line per file on stderr. Returns EXIT_INPUT if any file failed."""
    status = EXIT_OK
    for path in args.files:
        try:
            with _progress(err, path) as on_progress:
                say(err, ingest_one(con, path, args, on_progress))
        except IngestError as exc:
            say(err, f"perftui: {exc}")
            status = EXIT_INPUT
    return status


def cmd_ingest(args: argparse.Namespace, out: Console, err: Console) -> int:
    with schema.connect(args.db) as con:
        return run_ingest(con, args, err)


def cmd_analyze(args: argparse.Namespace, out: Console, err: Console) -> int:
    from perftui.report import model, render_markdown, render_text

    window = Window(parse_time(args.since), parse_time(args.until))
    if args.top is not None and args.top < 1:
        raise UsageError("--top must be at least 1")
    info, thresholds = advisor_inputs(args)
    status = EXIT_OK
    with _analyzed_store(args) as con:
        if args.files:
            status = run_ingest(con, args, err)
        try:
            with schema.setting(con, "memory_limit", schema.ANALYSIS_MEMORY_LIMIT):
                report = _within_memory(
                    con,
                    lambda: model.build(
                        con,
                        window=window,
                        top=args.top,
                        order_by=args.order_by,
                        show_literals=args.show_literals,
                        schema=info,
                        thresholds=thresholds,
                    ),
                )
        except duckdb.OutOfMemoryException:
            raise UsageError(
                f"{args.parquet or args.db}: the analysis needs more memory than DuckDB may use"
                f" (PERFTUI_ANALYSIS_MEMORY_LIMIT={schema.ANALYSIS_MEMORY_LIMIT}); set it higher"
            ) from None
        except duckdb.Error as exc:
            if args.parquet is None:
                raise
            # Parquet files are read only now: a damaged one shows up here, not when opened.
            first = str(exc).splitlines()[0]
            raise UsageError(f"{args.parquet}: cannot read: {first}") from None
    if args.format == "json":
        text = model.to_json(report)
    elif args.format == "markdown":
        text = render_markdown.render(report)
    else:
        text = None
    if args.output:
        target = Path(args.output)
        try:
            if text is None:
                with target.open("w", encoding="utf-8") as fh:
                    render_text.render(report, Console(file=fh, width=160, color_system=None))
            else:
                target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror}") from None
    elif text is None:
        render_text.render(report, out, width_hint=max(30, out.width - 80))
    else:
        sys.stdout.write(text)
    if status == EXIT_OK and args.fail_on:
        floor = severity_rank(args.fail_on)
        if any(severity_rank(f.severity) >= floor for f in report.findings):
            return EXIT_FINDINGS
    return status


def _analyzed_store(args: argparse.Namespace) -> duckdb.DuckDBPyConnection:
    """What ``analyze`` reports on: the exported dataset of ``--parquet`` (read-only files, so
    no log files can be added to it), or the ``--db`` file, opened read-write even without files
    because the store caches each class's parse (once per class)."""
    if args.parquet is not None:
        if args.files:
            raise UsageError("--parquet reports on an exported dataset; give no FILE with it")
        if not isinstance(args.db, _DefaultDb):
            raise UsageError(
                "--parquet reports on an exported dataset, --db on a DuckDB file; give one"
            )
        try:
            return export_parquet.connect_dataset(args.parquet)
        except export_parquet.DatasetError as exc:
            raise UsageError(str(exc)) from None
    if not args.files and not Path(args.db).exists():
        raise UsageError(f"{args.db}: no such perftui database; give log files to analyze")
    return schema.connect(args.db)


def _within_memory(con: duckdb.DuckDBPyConnection, analyse: Callable[[], _T]) -> _T:
    """``analyse()``; if DuckDB runs out of its memory limit, once more with one thread.

    Every DuckDB thread holds its own share of a sort or join. Found on a 59 M-entry store,
    where the analysis-time connection numbering (now done while storing) needed more than
    384 MB with two threads and ran in 600 MB (134 s instead of 77 s) with one; the current
    analysis of that store fits (145 s, 909 MB), the retry stays for larger ones. Slower beats
    a failed report; the setting is given back."""
    try:
        return analyse()
    except duckdb.OutOfMemoryException:
        with schema.single_threaded(con) as threads:
            if threads <= 1:
                raise
            return analyse()


def ingest_one(
    con: duckdb.DuckDBPyConnection, path: str, args: argparse.Namespace, on_progress=None
) -> str:
    """Ingest a log or a profile; the one-line summary. Raises IngestError."""
    if profile_format(path) is not None:
        return ingest_profile(con, path).summary()
    result = ingest_path(
        con,
        path,
        log_format=args.log_format,
        options=ParseOptions(prefix=args.prefix),
        on_progress=on_progress,
    )
    return _summary_line(result)


def cmd_open(args: argparse.Namespace, out: Console, err: Console) -> int:
    """The app on --db; files given are ingested first behind a progress screen."""
    from perftui.tui.app import run_app

    if not args.files:
        return run_app(args.db)

    def job(progress) -> None:  # runs in a thread behind the progress screen
        try:
            con = schema.connect(args.db)
        except schema.StoreError as exc:
            progress.error(str(exc))
            return
        with con:  # closed before the app opens the file read-only
            for path in args.files:
                size = Path(path).stat().st_size if Path(path).is_file() else None
                progress.file(path, size)
                try:
                    progress.message(ingest_one(con, path, args, progress.advance))
                except IngestError as exc:
                    progress.error(f"perftui: {exc}")

    return run_app(args.db, ingest=job)


def cmd_profile(args: argparse.Namespace, out: Console, err: Console) -> int:
    return capture.run(args)


def cmd_compare(args: argparse.Namespace, out: Console, err: Console) -> int:
    from perftui import compare

    return compare.run(args, out, err)


def cmd_verify(args: argparse.Namespace, out: Console, err: Console) -> int:
    from perftui import verify_cmd

    try:
        return verify_cmd.run(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Console()
    err = Console(stderr=True)
    if args.command is None:
        from perftui.tui.app import run_app

        return run_app(DEFAULT_DB)
    handler = {
        "ingest": cmd_ingest,
        "analyze": cmd_analyze,
        "compare": cmd_compare,
        "export": lambda args, out, err: export_parquet.run(args),
        "verify": cmd_verify,
        "profile": cmd_profile,
        "tail": lambda args, out, err: tail_cli.run(args),
        "open": cmd_open,
    }[args.command]
    try:
        return handler(args, out, err)
    except (UsageError, schema.StoreError) as exc:
        say(err, f"perftui: {exc}")
        return EXIT_INPUT
    except KeyboardInterrupt:
        err.print("perftui: interrupted", markup=False)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
