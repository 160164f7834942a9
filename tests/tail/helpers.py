"""Helpers for the tail tests: a clock the test moves, writing files in pieces, reading back."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import duckdb

from tests.conftest import ROOT


class FakeClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def append(path: Path, data: bytes | str) -> None:
    """Append ``data`` in one write, as a logging process does."""
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def pieces(data: bytes, seed: int, max_piece: int = 4000) -> list[bytes]:
    """``data`` cut at pseudo-random places (mid-line, mid-entry, mid-UTF-8 character)."""
    rnd = random.Random(seed)
    out, pos = [], 0
    while pos < len(data):
        n = rnd.randint(1, max_piece)
        out.append(data[pos : pos + n])
        pos += n
    return out


ENTRY_COLUMNS = (
    "line_start, n_lines, kind, ts, session, user_name, db, host, duration_ms, rows_sent, "
    "rows_examined, query, class_id, statement_name, params, plan, severity, message, conn_no"
)


def entries(con: duckdb.DuckDBPyConnection, source_id: int | None = None) -> list[tuple]:
    """Every stored entry (of one source, or all), in file order, with what identifies it."""
    where = "" if source_id is None else f"WHERE source_id = {int(source_id)}"
    return con.execute(
        f"SELECT {ENTRY_COLUMNS} FROM entries {where} ORDER BY source_id, line_start"
    ).fetchall()


def rejects(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT line_no, reason, raw FROM rejects ORDER BY source_id, line_no"
    ).fetchall()


def sources(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT source_id, bytes_read, lines, entries, reject_lines, complete FROM sources"
        " ORDER BY source_id"
    ).fetchall()


def reconciles(con: duckdb.DuckDBPyConnection) -> bool:
    """lines read = lines in entries + rejected lines, for every source."""
    rows = con.execute(
        "SELECT s.lines, coalesce((SELECT sum(n_lines) FROM entries e"
        " WHERE e.source_id = s.source_id), 0), (SELECT count(*) FROM rejects r"
        " WHERE r.source_id = s.source_id) FROM sources s"
    ).fetchall()
    return all(lines == in_entries + rejected for lines, in_entries, rejected in rows)


class TailProcess:
    """``python -m perftui.tail …`` as a child process, its output read by threads, so every
    wait in a test is bounded."""

    def __init__(self, args: list[str], cwd: Path = ROOT) -> None:
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self.out_lines: list[str] = []
        self.err_lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "perftui.tail", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        self._pumps = [
            threading.Thread(target=_pump, args=(stream, q), daemon=True)
            for stream, q in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for t in self._pumps:
            t.start()

    def wait_err(self, needle: str, timeout: float = 20.0) -> str:
        """The first stderr line containing ``needle`` (AssertionError after ``timeout``)."""
        return self._wait(self.err, self.err_lines, lambda line: needle in line, timeout)

    def wait_out(self, pred: Callable[[str], bool], timeout: float = 20.0) -> str:
        return self._wait(self.out, self.out_lines, pred, timeout)

    def _wait(
        self,
        q: queue.Queue[str],
        seen: list[str],
        pred: Callable[[str], bool],
        timeout: float,
    ) -> str:
        for line in seen:
            if pred(line):
                return line
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"timed out; stdout so far: {self.out_lines[-5:]}, stderr: {self.err_lines}"
                )
            try:
                line = q.get(timeout=left)
            except queue.Empty:
                continue
            seen.append(line)
            if pred(line):
                return line

    def drain(self) -> None:
        """Move whatever output is queued into ``out_lines`` / ``err_lines``."""
        for q, seen in ((self.out, self.out_lines), (self.err, self.err_lines)):
            while True:
                try:
                    seen.append(q.get_nowait())
                except queue.Empty:
                    break

    def interrupt(self, timeout: float = 20.0) -> int:
        """Ctrl-C, then the exit code (killed, and AssertionError, if it does not exit)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("perftui tail did not exit after Ctrl-C") from None
        for t in self._pumps:
            t.join(5)  # they end at end of output
        self.drain()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def _pump(stream: IO[str], q: queue.Queue[str]) -> None:
    for line in stream:
        q.put(line.rstrip("\n"))
    stream.close()
