"""The sequence rules (n-plus-one, row-by-row-write, cache-candidate, connection-churn) and the
"log was filtered" warning, on the real sample logs and on small hand-made MySQL slow logs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from perftui.ingest.driver import ingest_path
from perftui.rules import cache_candidate, connection_churn, n_plus_one, row_by_row_write
from perftui.rules.base import Finding, Thresholds, Workload
from perftui.rules.log_filter import filtering_warnings
from perftui.store import schema
from perftui.store.queries import Window
from tests.conftest import FIXTURES, sample

RULES_FIXTURES = FIXTURES / "rules"
SAMPLES = ("postgresql.log", "mariadb-slow.log")

N1_SOURCE_FP = "select id, name from users where status = ? order by id limit ?"
N1_REPEATED_FP = "select id, total from orders where user_id = ?"
PK_LOOKUP_FP = "select id, name, email from users where id = ?"


def _workload(tmp: Path, *logs: Path, **kw) -> Workload:
    tmp.mkdir(parents=True, exist_ok=True)
    con = schema.connect(tmp / "t.duckdb")
    for log in logs:
        ingest_path(con, str(log))
    return Workload(con, **kw)


def _fixture(name: str) -> Path:
    path = RULES_FIXTURES / name
    assert path.exists(), f"hand-made log {path} is missing"
    return path


def _fp(w: Workload, class_id: str) -> str:
    return w.by_id[class_id].fingerprint


@pytest.fixture(scope="module", params=SAMPLES)
def sample_workload(request, tmp_path_factory) -> Workload:
    """One real sample log (fails, never skips, when it is missing)."""
    log = sample(request.param)
    return _workload(tmp_path_factory.mktemp("sample"), log)


@pytest.fixture(scope="module")
def sample_findings(sample_workload) -> dict[str, list[Finding]]:
    w = sample_workload
    return {
        m.RULE_ID: list(m.detect(w))
        for m in (n_plus_one, row_by_row_write, cache_candidate, connection_churn)
    }


def _dialect(w: Workload) -> str:
    return w.con.execute("SELECT dialect FROM sources").fetchall()[0][0]


# -- the real sample logs ----------------------------------------------------------------------


def test_planted_n_plus_one_is_found_with_its_classes(sample_workload, sample_findings) -> None:
    w = sample_workload
    found = sample_findings["n-plus-one"]
    assert len(found) == 1, [f.title for f in found]  # PK lookups etc. are not N+1
    f = found[0]
    ev = f.evidence
    assert _fp(w, ev["source_class_id"]) == N1_SOURCE_FP
    assert _fp(w, ev["repeated_class_id"]) == N1_REPEATED_FP
    assert f.query_class_ids == [ev["source_class_id"], ev["repeated_class_id"]]
    assert ev["executions"] == 30 and ev["runs"] == 1 and ev["sessions"] == 1
    assert ev["example"]["executions"] == 30
    assert ev["example"]["source_line"] < ev["example"]["first_line"]
    assert set(f.tables) == {"orders", "users"}
    assert f.columns == ["user_id"]
    assert f.impact_ms == pytest.approx(ev["total_ms"], abs=1e-3)
    # Under 50 ms the 30-long run is still reported, at low severity, saying why.
    if ev["total_ms"] >= w.thresholds.n_plus_one_ms:
        assert ev["time_threshold_met"] and f.severity == "medium"
    else:
        assert not ev["time_threshold_met"] and f.severity == "low"
        assert "time threshold" in f.detail
    if _dialect(w) == "postgres":
        assert "SELECT id, total FROM orders WHERE user_id = ANY($1)" in f.fix
    else:
        assert "SELECT id, total FROM orders WHERE user_id IN (?)" in f.fix
    assert "JOIN (SELECT id FROM users WHERE status = " in f.fix
    assert "selectinload" in f.fix and "prefetch_related" in f.fix
    assert "vip" not in f.fix + f.detail + f.title


def test_lookups_without_a_source_query_are_not_n_plus_one(
    sample_workload, sample_findings
) -> None:
    """100 PK lookups opening their session, and the settings lookup spread over 40 churned
    connections, repeat a class but follow no source query in their session."""
    w = sample_workload
    pk = [c.class_id for c in w.classes if c.fingerprint == PK_LOOKUP_FP]
    assert pk and w.by_id[pk[0]].count >= 100
    settings = [c.class_id for c in w.classes if c.fingerprint.startswith("select value from")]
    assert settings and w.by_id[settings[0]].count >= 100
    for f in sample_findings["n-plus-one"]:
        assert pk[0] not in f.query_class_ids and settings[0] not in f.query_class_ids


def test_planted_row_by_row_writes_are_found(sample_workload, sample_findings) -> None:
    w = sample_workload
    by_fp = {_fp(w, f.query_class_ids[0]): f for f in sample_findings["row-by-row-write"]}
    insert = next(f for fp, f in by_fp.items() if fp.startswith("insert into order_items"))
    # 200 single-row INSERTs; the checkout's 3-row INSERT of the same class does not count.
    assert insert.evidence["executions"] == 200
    assert insert.evidence["commit_pattern"] == "autocommit"
    assert insert.tables == ["order_items"] and insert.severity == "medium"
    update = by_fp["update users set status = ? where id = ?"]
    assert update.evidence["executions"] == 50 and update.tables == ["users"]
    assert update.evidence["commit_pattern"] == "autocommit"
    if _dialect(w) == "postgres":
        assert "VALUES ($1, $2, $3, $4), ($5, $6, $7, $8), …" in insert.fix
        assert "COPY order_items (order_id, product_id, qty, price) FROM STDIN" in insert.fix
        assert "UPDATE users SET status = $1 WHERE id = ANY($2)" in update.fix
    else:
        assert "VALUES (?, ?, ?, ?), (?, ?, ?, ?), …" in insert.fix
        assert "LOAD DATA LOCAL INFILE" in insert.fix
        assert "UPDATE users SET status = ? WHERE id IN (?)" in update.fix
    assert len(by_fp) == 2, list(by_fp)


def test_planted_cache_candidate_keeps_literals_in_evidence_only(
    sample_workload, sample_findings
) -> None:
    found = sample_findings["cache-candidate"]
    f = next(f for f in found if f.tables == ["settings"])
    ev = f.evidence
    assert ev["repeats"] == 60 and ev["sessions"] == 1 and ev["max_in_window"] == 60
    assert "'currency'" in ev["statement"]
    assert ev["distinct_statements"] == 2  # 'maintenance_mode' 40× from the churn connections
    for text in (f.title, f.detail, f.fix):
        assert "currency" not in text and "maintenance_mode" not in text
    assert f.query_class_ids[0] in f.fix
    assert "TTLCache" in f.fix and "settings" in f.fix


def test_planted_connection_churn_is_found(sample_workload, sample_findings) -> None:
    w = sample_workload
    (f,) = sample_findings["connection-churn"]
    ev = f.evidence
    assert ev["connections"] >= 41 and ev["short_connections"] >= 40
    assert ev["median_statements_per_connection"] <= w.thresholds.churn_statements_per_connection
    top = next(iter(ev["classes"]))
    assert _fp(w, top).startswith("select value from settings where") and ev["classes"][top] == 40
    if _dialect(w) == "postgres":
        assert ev["connect_entries"] == ev["disconnect_entries"] == ev["connections"]
        assert ev["mean_session_ms"] is not None
        assert "PgBouncer" in f.fix and "pool_mode = transaction" in f.fix
    else:
        assert "thread_cache_size" in f.fix
    assert "pool_size=" in f.fix and "pool_pre_ping=True" in f.fix


def test_sample_logs_are_not_filtered_and_findings_serialise(
    sample_workload, sample_findings
) -> None:
    assert filtering_warnings(sample_workload) == []
    for found in sample_findings.values():
        for f in found:
            json.dumps(f.to_dict())
            assert f.impact_ms >= 0 and f.query_class_ids and f.detail and f.fix


# -- hand-made logs: edge cases -----------------------------------------------------------------


def test_run_of_four_is_below_the_count_threshold(tmp_path: Path) -> None:
    w = _workload(tmp_path, _fixture("n_plus_one_run_of_four.log"))
    assert list(n_plus_one.detect(w)) == []  # 4 × 20 ms: slow enough, one too few


def test_begin_commit_and_set_neither_break_nor_extend_a_run(tmp_path: Path) -> None:
    w = _workload(tmp_path, _fixture("n_plus_one_with_transactions.log"))
    (f,) = n_plus_one.detect(w)
    assert f.evidence["runs"] == 1 and f.evidence["executions"] == 6
    assert _fp(w, f.evidence["source_class_id"]) == N1_SOURCE_FP
    assert f.evidence["total_ms"] == pytest.approx(66.0)
    assert f.severity == "medium"


def test_interleaved_sessions_each_have_their_run(tmp_path: Path) -> None:
    w = _workload(tmp_path, _fixture("n_plus_one_interleaved.log"))
    (f,) = n_plus_one.detect(w)
    ev = f.evidence
    assert ev["runs"] == 2 and ev["sessions"] == 2 and ev["executions"] == 12
    assert ev["mean_run_length"] == 6.0
    assert ev["example"]["session"] == "22"  # the costlier of the two equally long runs


def test_tied_runs_give_the_earliest_as_example(tmp_path: Path) -> None:
    """Two runs of equal length and time: the report names the first one, on every run."""
    text = _fixture("n_plus_one_interleaved.log").read_text().replace("0.012500", "0.012000")
    log = tmp_path / "tied.log"
    log.write_text(text)
    examples = []
    for attempt in range(3):
        (f,) = n_plus_one.detect(_workload(tmp_path / str(attempt), log))
        examples.append(f.evidence["example"])
    assert examples[0]["session"] == "21" and examples[0]["first_line"] == 14
    assert examples.count(examples[0]) == 3


def test_thresholds_and_window_are_respected(tmp_path: Path) -> None:
    con = _workload(tmp_path, _fixture("n_plus_one_interleaved.log")).con
    strict = Workload(con, thresholds=Thresholds(n_plus_one_count=7))
    assert list(n_plus_one.detect(strict)) == []
    # 6 × ~12 ms runs stay under a 100 ms time threshold unless the fast-run count allows them.
    slow_only = Thresholds(n_plus_one_ms=100.0, n_plus_one_fast_count=20)
    assert list(n_plus_one.detect(Workload(con, thresholds=slow_only))) == []
    fast_ok = Thresholds(n_plus_one_ms=100.0, n_plus_one_fast_count=6)
    assert len(list(n_plus_one.detect(Workload(con, thresholds=fast_ok)))) == 1
    before = Window(until=dt.datetime(2024, 3, 1, 9, 0))
    assert list(n_plus_one.detect(Workload(con, window=before))) == []
    around = Window(since=dt.datetime(2024, 3, 1, 9, 0), until=dt.datetime(2024, 3, 1, 11, 0))
    assert len(list(n_plus_one.detect(Workload(con, window=around)))) == 1


def test_filtered_log_warns_and_sequence_rules_find_nothing(tmp_path: Path) -> None:
    log = _fixture("filtered_100ms.log")
    w = _workload(tmp_path, log)
    (warning,) = filtering_warnings(w)
    assert str(log) in warning and "long_query_time = 0" in warning
    assert "100.000 ms" in warning and "may find nothing" in warning
    assert list(n_plus_one.detect(w)) == [] and list(row_by_row_write.detect(w)) == []


def test_commit_after_each_row_and_one_transaction_are_told_apart(tmp_path: Path) -> None:
    w = _workload(tmp_path, _fixture("row_by_row_commit_each.log"))
    by_table = {f.tables[0]: f for f in row_by_row_write.detect(w)}
    each = by_table["audit_log"]
    assert each.evidence["commit_pattern"] == "commit-each"
    assert each.evidence["executions"] == 25 and each.evidence["commits"] == 25
    assert each.impact_ms == pytest.approx(25 * 0.3 + 25 * 0.9)
    assert each.severity == "medium"
    assert each.columns == ["user_id", "action"]
    batched = by_table["products"]
    assert batched.evidence["commit_pattern"] == "transaction"
    assert batched.evidence["executions"] == 25 and batched.severity == "low"
    assert "UPDATE products SET stock = stock - ? WHERE id IN (?)" in batched.fix
    assert "UNION ALL" not in batched.fix  # per-row values would turn `stock - ?` into `= ?`


def test_quit_entries_split_reused_thread_ids_into_connections(tmp_path: Path) -> None:
    w = _workload(tmp_path, _fixture("churn_quit.log"))
    (f,) = connection_churn.detect(w)
    assert f.evidence["connections"] == 12  # 6 thread ids, each used twice
    assert f.evidence["quit_entries"] == 12
    assert f.evidence["median_statements_per_connection"] == 1
    assert "Quit" in f.detail
    few = Workload(w.con, thresholds=Thresholds(churn_min_connections=13))
    assert list(connection_churn.detect(few)) == []


def _slow_entry(second: int, sql: str, thread: int = 7) -> str:
    """One MySQL slow-log entry at 2024-03-01 10:00:00 + ``second`` (whole seconds, as MySQL's
    ``SET timestamp`` has them)."""
    return (
        f"# Time: 2024-03-01T10:{second // 60:02d}:{second % 60:02d}.000000Z\n"
        f"# User@Host: app[app] @ localhost [127.0.0.1]  Id: {thread:5d}\n"
        "# Query_time: 0.001000  Lock_time: 0.000001 Rows_sent: 1  Rows_examined: 1\n"
        f"SET timestamp={1709287200 + second};\n{sql};\n"
    )


def test_cache_window_counts_executions_sharing_a_second_and_the_gaps(tmp_path: Path) -> None:
    """Bursts within one second, a gap longer than the window and a write to the table: the
    busiest 60 s holds the 10 + 15 executions at seconds 0 and 30; 47 of the 50 came within
    60 s of the one before (not the first, nor those after the 70 s and 100 s gaps)."""
    select = "SELECT value FROM settings WHERE name = 'currency'"
    bursts = {0: 10, 30: 15, 100: 5, 200: 20}
    log = "".join(_slow_entry(sec, select) for sec, n in bursts.items() for _ in range(n))
    log += "".join(
        _slow_entry(300 + i, f"UPDATE settings SET value = 'x{i}' WHERE name = 'theme'", 8)
        for i in range(3)
    )
    path = tmp_path / "bursts.log"
    path.write_text(log)
    w = _workload(tmp_path, path)
    (f,) = cache_candidate.detect(w)
    ev = f.evidence
    assert (ev["repeats"], ev["max_in_window"], ev["hits_with_ttl"]) == (50, 25, 47)
    (update_class,) = ev["writes_to_tables"]
    assert ev["writes_to_tables"][update_class] == 3
    assert _fp(w, update_class).startswith("update settings")
    narrow = Workload(w.con, thresholds=Thresholds(cache_repeats=26))
    assert list(cache_candidate.detect(narrow)) == []  # 50 in all, but never 26 within 60 s


@pytest.mark.parametrize("name", SAMPLES)
def test_runs_keep_their_source_when_its_class_row_is_gone(name: str, tmp_path: Path) -> None:
    """Ingest stores a class before its entries, but a store edited by hand (or by another
    tool) may lack a query_classes row: the run is still found, with the same source class."""
    w = _workload(tmp_path, sample(name))
    before = n_plus_one._pairs(w)
    assert len(before) == 1
    w.con.execute("DELETE FROM query_classes WHERE class_id = ?", [before[0]["source_class"]])
    assert n_plus_one._pairs(Workload(w.con)) == before
