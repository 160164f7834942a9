"""What the hardening tests assert about a run of ``perftui``: the exit code the README documents,
no traceback, one-line errors, and every input line accounted for in the store."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import duckdb

from perftui import cli
from perftui.store.results import first


def run_cli(*args: str) -> tuple[int, str, str]:
    """``perftui ARGS`` in this process (fast enough for hypothesis): (exit code, stdout,
    stderr). An exception escaping ``main`` is a traceback the user would see: it fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def run_subprocess(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``perftui ARGS`` as a user runs it (a fresh interpreter, real stdio)."""
    return subprocess.run(
        [sys.executable, "-m", "perftui.cli", *args],
        input=stdin,
        capture_output=True,
        timeout=300,
        check=False,
    )


def assert_clean_failure(code: int, err: str) -> None:
    """Exit 2 (bad input) with one ``perftui: …`` line on stderr, as the README says."""
    assert code == cli.EXIT_INPUT, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("perftui: "), err


def file_lines(data: bytes) -> int:
    """Lines as perftui counts them: LF-terminated, plus a final unterminated one."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def decoded_lines(data: bytes) -> list[str]:
    """The lines a parser receives (``ingest.sources``: U+FFFD for bad bytes and NUL, CRLF → LF)."""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\x00", "\ufffd")
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


def assert_reconciles(db: Path, data: bytes) -> None:
    """The one source in ``db`` read every line of ``data``, and each line is in exactly one
    entry's ``n_lines`` or is one reject: ``sources.lines == sum(n_lines) + reject_lines``."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            """SELECT s.dialect, s.lines, s.entries, s.reject_lines, s.complete,
                      (SELECT coalesce(sum(n_lines), 0) FROM entries e
                        WHERE e.source_id = s.source_id),
                      (SELECT count(*) FROM entries e WHERE e.source_id = s.source_id),
                      (SELECT count(*) FROM rejects r WHERE r.source_id = s.source_id)
               FROM sources s"""
        ).fetchall()
        weights = first(con.execute("SELECT coalesce(sum(weight), 0) FROM stacks"))[0]
    assert len(rows) == 1, rows
    dialect, lines, entries, reject_lines, complete, entry_lines, n_entries, n_rejects = rows[0]
    assert complete
    assert lines == file_lines(data)
    if dialect == "profile":
        # A profile keeps distinct stacks, not lines: the identity is read off the samples, and
        # every other line (blank or not a stack) is a stored reject.
        stack_weight, blank, rejected = folded_accounting(data)
        assert (weights, reject_lines, n_rejects) == (
            stack_weight,
            blank + rejected,
            blank + rejected,
        )
        assert lines - blank - rejected >= entries >= 1  # distinct stacks <= stack lines
        return
    assert entry_lines + reject_lines == lines
    assert (n_entries, n_rejects) == (entries, reject_lines)


def folded_accounting(data: bytes) -> tuple[int, int, int]:
    """(sample weight, blank lines, rejected lines) of folded stacks without ``process`` frames,
    by the format's definition: ``frames count`` with a space before an ASCII count."""
    weight = blank = rejected = 0
    for raw in decoded_lines(data):
        line = raw.rstrip()
        if not line:
            blank += 1
            continue
        sp = line.rfind(" ")
        count = line[sp + 1 :]
        if sp >= 0 and count.isascii() and count.isdigit() and len(count) <= 15:
            weight += int(count)
        else:
            rejected += 1
    return weight, blank, rejected
