"""The JSON report validates against its documented schema and keeps literals out by default."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

import perftui
from tests.conftest import sample
from tests.test_cli import perftui as run

SCHEMA = json.loads((Path(perftui.__file__).parent / "report" / "report.schema.json").read_text())


def test_report_on_both_sample_logs_validates_and_has_findings(db_path: Path) -> None:
    proc = run(
        "analyze",
        str(sample("postgresql.log")),
        str(sample("mariadb-slow.log")),
        "--db",
        str(db_path),
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr.decode()
    report = json.loads(proc.stdout)
    jsonschema.validate(report, SCHEMA)
    assert {s["format"] for s in report["sources"]} == {"postgres-stderr", "mysql-slow"}
    assert all(s["reconciles"] for s in report["sources"])
    rules = {f["rule"] for f in report["findings"]}
    assert {"missing-index", "n-plus-one", "select-star", "leading-wildcard"} <= rules
    for f in report["findings"]:
        assert "statement" not in f["evidence"]


def test_fail_on_exit_code(db_path: Path) -> None:
    log = str(sample("mariadb-slow.log"))
    assert (
        run("analyze", log, "--db", str(db_path), "--fail-on", "low", "--format", "json").returncode
        == 1
    )
    report = json.loads(run("analyze", "--db", str(db_path), "--format", "json").stdout)
    worst = max(
        ("info", "low", "medium", "high", "critical").index(f["severity"])
        for f in report["findings"]
    )
    above = ("info", "low", "medium", "high", "critical")[worst + 1 :] if worst < 4 else ()
    for severity in above:
        assert run("analyze", "--db", str(db_path), "--fail-on", severity).returncode == 0
