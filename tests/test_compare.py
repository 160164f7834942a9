"""perftui compare: the before/after view a user runs after applying a fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import sample
from tests.test_cli import perftui


def _after_fix(src: Path, dest: Path) -> None:
    """The same log as if the orders index existed: that class 20× faster, no N+1 loop."""
    text = src.read_text()
    entries = re.split(r"(?=^# User@Host:)", text, flags=re.M)
    out = []
    for e in entries:
        if "FROM orders WHERE user_id =" in e and "status = 'pending'" in e:
            e = re.sub(
                r"Query_time: ([\d.]+)", lambda m: f"Query_time: {float(m.group(1)) / 20:.6f}", e
            )
        if re.search(r"SELECT id, total FROM orders WHERE user_id = \d+;", e):
            continue  # the N+1 lookups are gone (one IN query instead)
        out.append(e)
    dest.write_text("".join(out))


def test_compare_two_logs_shows_faster_class_and_gone_finding(tmp_path: Path) -> None:
    before = sample("mariadb-slow.log")
    after = tmp_path / "after.log"
    _after_fix(before, after)
    proc = perftui("compare", str(before), str(after), "--format", "json")
    assert proc.returncode == 0, proc.stderr.decode()
    data = json.loads(proc.stdout)
    by_fp = {c["fingerprint"]: c for c in data["classes"]}
    pending = by_fp[
        "select id, total, created_at from orders where user_id = ? and status = ? "
        "order by created_at desc"
    ]
    assert pending["status"] == "faster"
    assert pending["mean_change"] < -0.9
    assert by_fp["select id, total from orders where user_id = ?"]["status"] == "gone"
    assert "n-plus-one" in {f["rule"] for f in data["findings"]["gone"]}
    assert data["overall"]["after"]["total_ms"] < data["overall"]["before"]["total_ms"]


def test_compare_duckdb_files_and_text_output(tmp_path: Path) -> None:
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    log = str(sample("mariadb-slow.log"))
    assert perftui("ingest", log, "--db", str(a)).returncode == 0
    assert perftui("ingest", log, "--db", str(b)).returncode == 0
    proc = perftui("compare", str(a), str(b))
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    assert "Findings gone: 0" in out and "New findings: 0" in out
    missing = perftui("compare", str(a), str(tmp_path / "nope.duckdb"))
    assert missing.returncode == 2 and b"no such file" in missing.stderr
