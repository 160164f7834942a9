"""perftui groups a real MariaDB slow log into exactly the classes pt-query-digest reports."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from perftui.ingest.driver import ingest_path
from perftui.store import schema
from tests.conftest import sample

pytestmark = pytest.mark.skipif(
    shutil.which("pt-query-digest") is None,
    reason="pt-query-digest not installed (Debian package percona-toolkit)",
)


def _pt_classes(path: str) -> dict[str, tuple[int, float]]:
    out = subprocess.run(
        [
            "pt-query-digest",
            "--output",
            "json",
            "--preserve-embedded-numbers",
            "--limit",
            "100%:10000",
            path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    # pt keeps a trailing space where it stripped a trailing comment; perftui trims it.
    return {
        c["fingerprint"].strip(): (c["query_count"], float(c["metrics"]["Query_time"]["sum"]))
        for c in data["classes"]
    }


def test_same_classes_counts_and_times_as_pt_query_digest(tmp_path) -> None:
    log = str(sample("mariadb-slow.log"))
    con = schema.connect(tmp_path / "t.duckdb")
    ingest_path(con, log)
    ours = {
        fp: (n, total / 1000)
        for fp, n, total in con.execute(
            "SELECT c.fingerprint, count(*), sum(e.duration_ms) FROM entries e "
            "JOIN query_classes c USING (class_id) WHERE e.kind = 'query' GROUP BY ALL"
        ).fetchall()
    }
    theirs = _pt_classes(log)
    assert ours.keys() == theirs.keys()
    for fp, (n, secs) in theirs.items():
        assert ours[fp][0] == n, fp
        assert ours[fp][1] == pytest.approx(secs, abs=1e-5), fp
