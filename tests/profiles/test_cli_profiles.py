"""Profiles through the perftui command: ingest routing and the query/profile link in analyze."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.conftest import sample
from tests.report.test_json_report import SCHEMA
from tests.test_cli import perftui


def test_analyze_links_the_n_plus_one_to_the_profile_call_site(db_path: Path) -> None:
    proc = perftui(
        "analyze",
        str(sample("profile-shop.pyspy.txt")),
        str(sample("profile-shop.postgresql.log")),
        "--db",
        str(db_path),
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"pyspy-raw profile" in proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.validate(report, SCHEMA)
    by_rule = {f["rule"]: f for f in report["findings"]}
    db_wait, n1 = by_rule["db-wait"], by_rule["n-plus-one"]
    assert "orders_for (shop_app.py:40)" in db_wait["title"]
    assert any(link["kind"] == "profile-call-site" and link.get("match") for link in n1["links"])
    assert any(link["kind"] == "query-finding" for link in db_wait["links"])
    assert "fib" in by_rule["memoize-candidate"]["title"]
    profile_src = next(s for s in report["sources"] if s["format"] == "pyspy-raw")
    assert profile_src["reconciles"] is None and profile_src["lines"] > 0
    again = perftui("ingest", str(sample("profile-shop.pyspy.txt")), "--db", str(db_path))
    assert again.returncode == 0 and b"already ingested" in again.stderr
