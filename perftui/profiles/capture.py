"""``perftui profile``: run or attach py-spy, then load what it recorded into the store.

Idle samples are on by default: without ``--idle`` py-spy drops blocked threads, and with them
every database and network wait (one real run: 107 samples without it, 863 with, 786 of them in
the database driver's wait). py-spy writes
its output when the program ends, when ``--duration`` runs out, and on Ctrl-C (SIGINT reaches
py-spy too; perftui keeps waiting for it, a second Ctrl-C gives up). The raw file is kept so other
tools can read it. Errors are one line that says why and what to do.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from perftui.textsafe import redact_credentials

EXIT_OK, EXIT_INPUT, EXIT_INTERRUPTED = 0, 2, 130
DEFAULT_DB = "perftui.duckdb"
STOP_TIMEOUT_S = 30.0


class CaptureError(Exception):
    """py-spy could not record; the message is one line: why, and what to do."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``perftui profile``; the program to run follows ``--``."""
    parser.add_argument(
        "--rate", type=int, default=100, metavar="HZ", help="samples per second (default 100)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="stop after S seconds (default: when the program ends or on Ctrl-C)",
    )
    parser.add_argument(
        "--no-idle",
        action="store_true",
        help="leave out idle threads (database and network waits disappear)",
    )
    parser.add_argument(
        "--gil", action="store_true", help="only samples that hold the GIL (CPU work)"
    )
    parser.add_argument("--threads", action="store_true", help="keep threads apart")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"DuckDB file (default ./{DEFAULT_DB})")
    parser.add_argument("--pid", type=int, help="attach to a running Python process")
    parser.add_argument(
        "--output", "-o", help="where to keep py-spy's raw file (default profile-<time>.pyspy.txt)"
    )
    # dest "program", not "command": perftui's top-level parser keeps the sub-command name there.
    parser.add_argument(
        "program",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND …",
        help="the program to run under py-spy: -- python app.py …",
    )


def py_spy_command(args: argparse.Namespace, output: str) -> list[str]:
    """The ``py-spy record`` command line for ``args`` (raw format, idle unless --no-idle)."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise CaptureError("py-spy is not installed or not on PATH: pip install py-spy")
    cmd = [py_spy, "record", "--format", "raw", "--rate", str(args.rate), "-o", output]
    if not args.no_idle:
        cmd.append("--idle")
    if args.gil:
        cmd.append("--gil")
    if args.threads:
        cmd.append("--threads")
    if args.duration is not None:
        cmd += ["--duration", str(max(1, math.ceil(args.duration)))]
    if args.pid is not None:
        cmd += ["--pid", str(args.pid)]
    else:
        cmd += ["--", *_program(args)]
    return cmd


def _program(args: argparse.Namespace) -> list[str]:
    """The program to run: ``args.program`` (from ``add_arguments``) or a ``command`` list."""
    command = getattr(args, "program", None)
    if command is None:
        command = getattr(args, "command", None)
    command = list(command) if isinstance(command, (list, tuple)) else []
    if command and command[0] == "--":
        command = command[1:]
    return command


def run(args: argparse.Namespace, *, err: IO[str] | None = None) -> int:
    """Record, ingest, report one line per step on stderr; 0, 2 (cannot) or 130 (interrupted)."""
    err = err or sys.stderr
    try:
        return _run(args, err)
    except CaptureError as exc:
        print(f"perftui: {exc}", file=err)
        return EXIT_INPUT


def _run(args: argparse.Namespace, err: IO[str]) -> int:
    program = _program(args)
    if (args.pid is None) == (not program):
        raise CaptureError(
            "give either --pid N or the program to run: perftui profile -- python app.py"
        )
    if args.rate <= 0:
        raise CaptureError("--rate must be a positive number of samples per second")
    if args.duration is not None and args.duration <= 0:
        raise CaptureError("--duration must be positive")
    started = _utcnow()
    output = args.output or f"profile-{started:%Y%m%d-%H%M%S}.pyspy.txt"
    cmd = py_spy_command(args, output)
    # Shown in messages and stored with the profile: a password in the command line is masked.
    target = (
        f"process {args.pid}" if args.pid is not None else redact_credentials(shlex.join(program))
    )
    Path(output).unlink(missing_ok=True)
    messages, _interrupted = _record(cmd, err)
    ended = _utcnow()
    out = Path(output)
    if not out.exists() or out.stat().st_size == 0:
        raise CaptureError(explain(messages, args.pid, program, target))

    from perftui.profiles import rules, schema
    from perftui.profiles.ingest import ProfileIngestError, Recording, ingest_profile
    from perftui.store import schema as store_schema

    recording = Recording(
        idle=not args.no_idle,
        rate_hz=float(args.rate),
        started_at=started,
        ended_at=ended,
        command=target,
    )
    try:
        with store_schema.connect(args.db) as con:
            schema.ensure_tables(con)
            result = ingest_profile(con, output, recording=recording)
            mine = f"profile {result.profile_id} "
            notes = [n for n in rules.warnings(con) if n.startswith(mine)] if args.no_idle else []
    except (store_schema.StoreError, ProfileIngestError) as exc:
        raise CaptureError(str(exc)) from None
    print(result.summary(), file=err)
    for note in notes:
        print(f"perftui: {note}", file=err)
    print(f"perftui: read it with `perftui analyze --db {shlex.quote(args.db)}`", file=err)
    return EXIT_OK  # Ctrl-C is how an attach ends: the profile is in, nothing failed


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _record(cmd: list[str], err: IO[str]) -> tuple[list[str], bool]:
    """Run py-spy, echoing its (and the program's) stderr; (the lines, whether Ctrl-C was hit)."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, errors="replace")
    lines: list[str] = []

    def pump() -> None:
        # py-spy's own error block (and its backtrace) is replaced by perftui's one line.
        assert proc.stderr is not None
        quiet = False
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if len(lines) > 200:
                del lines[:100]
            quiet = quiet or line.startswith(("Error:", "Permission Denied"))
            if not quiet:
                err.write(line)
                err.flush()

    reader = threading.Thread(target=pump, name="py-spy-stderr", daemon=True)
    reader.start()
    interrupted = False
    try:
        proc.wait()
    except KeyboardInterrupt:
        # py-spy got the same SIGINT and is writing its file: give it time to finish.
        interrupted = True
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
    reader.join(timeout=5)
    return lines, interrupted


def explain(messages: list[str], pid: int | None, program: list[str], target: str) -> str:
    """One line from py-spy's error output: why it could not record, and what to do."""
    text = "\n".join(messages)
    low = text.lower()
    if "permission denied" in low or "operation not permitted" in low or "ptrace" in low:
        return (
            f"py-spy may not read {target}: ptrace is not permitted. Run as root (sudo "
            "perftui profile …), or grant CAP_SYS_PTRACE (Docker: --cap-add SYS_PTRACE), or set "
            "kernel.yama.ptrace_scope to 0"
            + (
                "; or start the program under perftui: perftui profile -- python app.py"
                if pid is not None
                else ""
            )
        )
    if pid is not None and (
        "failed to get process executable name" in low
        or "no such process" in low
        or "no such file" in low
    ):
        return f"no process {pid}: it is not running (it may have exited; check with ps)"
    if "failed to find python version" in low or "failed to find python interpreter" in low:
        what = f"process {pid}" if pid is not None else target
        return (
            f"{what} does not look like a Python program py-spy can read (a wrong pid, a "
            "shell wrapper, or a Python version this py-spy does not support: upgrade py-spy)"
        )
    if "failed to create process" in low:
        return f"cannot start {program[0] if program else target}: no such program"
    error = next((m for m in messages if m.startswith("Error:")), None)
    if error is None:
        error = next((m for m in reversed(messages) if m.strip()), "py-spy wrote no profile")
    return f"py-spy could not record {target}: {error.removeprefix('Error:').strip()}"
