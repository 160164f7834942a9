"""Shared by the parser tests: read a fixture into lines, feed a parser, check the accounting."""

from __future__ import annotations

from pathlib import Path

from perftui.ingest.records import Entry, Parser, Reject

# Other formats' lines, for "must not sniff as mine" checks.
MYSQL_SLOW = [
    "# Time: 261124  0:18:24",
    "# User@Host: root[root] @ localhost [127.0.0.1]",
    "# Query_time: 0.000291  Lock_time: 0.000093  Rows_sent: 100  Rows_examined: 111",
    "SET timestamp=1795479504;",
    "SELECT id, name FROM users WHERE status = 'it''s' ORDER BY id LIMIT 100;",
]
PYSPY = ["main (app.py:10);handler (app.py:22);query (db.py:5) 12", "a (f.py:1);b (g.py:2) 3"]


def lines_of(path: Path) -> list[str]:
    lines = path.read_text().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def run(parser: Parser, lines: list[str], batch: int = 0) -> tuple[list[Entry], list[Reject]]:
    """Feed ``lines`` in batches of ``batch`` (0 = one) and check the invariant every parser
    keeps: every line is in exactly one entry or one reject, and nothing stays open."""
    step = batch or max(len(lines), 1)
    entries: list[Entry] = []
    rejects: list[Reject] = []
    for start in range(0, len(lines), step):
        parser.feed(lines[start : start + step], start + 1)
        entries += parser.entries
        rejects += parser.rejects
        parser.entries.clear()
        parser.rejects.clear()
    parser.finish()
    entries += parser.entries
    rejects += parser.rejects
    assert parser.pending_line is None
    assert sum(e.n_lines for e in entries) + len(rejects) == len(lines)
    return sorted(entries, key=lambda e: e.line_start), rejects
