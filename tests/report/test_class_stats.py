"""``queries.class_stats``: exact, order-independent statistics (the report is the same run to
run, and a value that sits exactly on a rounding boundary always rounds the same way)."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from perftui.store import queries, schema
from perftui.store.results import first


def _store(path: Path, durations: list[float], *, seed: int) -> list[queries.ClassStats]:
    """One class whose executions have ``durations``, inserted in a shuffled order."""
    rows = list(enumerate(durations, start=1))
    random.Random(seed).shuffle(rows)
    with schema.connect(path) as con:
        con.execute(
            "INSERT INTO sources VALUES (1, 'x.log', 'mysql-slow', 'mysql', NULL, NULL, 'h', 0,"
            " 0, 0, 0, 0, true, now())"
        )
        con.execute(
            "INSERT INTO query_classes (class_id, fingerprint, dialect)"
            " VALUES ('C1', 'select ?', 'mysql')"
        )
        con.execute(
            "INSERT INTO entries (source_id, entry_no, line_start, n_lines, kind, duration_ms,"
            " query, class_id)"
            " SELECT 1, line, line, 1, 'query', ms, 'select ' || line, 'C1'"
            " FROM (SELECT unnest(?::BIGINT[]) AS line, unnest(?::DOUBLE[]) AS ms)",
            [[line for line, _ in rows], [ms for _, ms in rows]],
        )
        return queries.class_stats(con)


def test_mean_and_stddev_are_exact_on_a_rounding_boundary(tmp_path: Path) -> None:
    """1.000 and 1.001 ms: mean 1.0005, standard deviation 0.0005, exactly (the nearest
    doubles), whatever the order of the rows."""
    (c,) = _store(tmp_path / "a.duckdb", [1.0, 1.001], seed=1)
    assert c.mean_ms == 1.0005
    assert c.stddev_ms == 0.0005
    assert c.total_ms == 2.001


def test_statistics_do_not_depend_on_row_order(tmp_path: Path) -> None:
    """The same executions inserted in two orders give the same statistics, sample included
    (the slowest execution, the earliest line among equally slow ones)."""
    durations = [round(0.1 + (i % 37) * 0.013, 3) for i in range(5000)] + [9.5, 9.5]
    a = _store(tmp_path / "a.duckdb", durations, seed=1)
    b = _store(tmp_path / "b.duckdb", durations, seed=2)
    assert a == b
    assert a[0].sample == "select 5001"  # lines 5001 and 5002 are both 9.5 ms
    assert a[0].histogram == [0, 0, 5000, 2, 0, 0, 0, 0]
    assert a[0].p50_ms is not None and a[0].p50_ms <= a[0].p95_ms <= a[0].p99_ms


def test_absurd_durations_fall_back_to_float_statistics(tmp_path: Path) -> None:
    """A corrupt log's ``Query_time: 1e40`` is far past what exact microsecond sums can hold:
    the class still gets its (float) mean and standard deviation, not an error."""
    (c,) = _store(tmp_path / "a.duckdb", [1e43, 1.0], seed=1)
    assert c.mean_ms == (1e43 + 1.0) / 2
    assert c.stddev_ms is not None and c.stddev_ms > 1e42


def test_percentiles_in_several_passes_are_the_one_pass_percentiles(
    tmp_path: Path, monkeypatch
) -> None:
    """Past PERCENTILE_VALUES_PER_PASS entries the classes' percentiles are computed a pass of
    classes at a time, and those past PERCENTILE_VALUES_PER_CLASS from their distinct values
    (bounded memory on big stores): every statistic, and the order by p95, are what one
    ``quantile_cont`` pass gives."""
    from perftui.ingest.driver import ingest_path
    from tests.conftest import sample

    with schema.connect(tmp_path / "s.duckdb") as con:
        for name in ("mariadb-slow.log", "postgresql.log", "profile-shop.postgresql.log"):
            ingest_path(con, str(sample(name)))
        assert queries._percentile_passes(con) == 1
        one = queries.class_stats(con)
        one_by_p95 = queries.class_stats(con, order_by="p95_ms", limit=7)
        monkeypatch.setattr(queries, "PERCENTILE_VALUES_PER_PASS", 100)
        monkeypatch.setattr(queries, "PERCENTILE_VALUES_PER_CLASS", 20)
        assert queries._percentile_passes(con) > 20
        assert queries.class_stats(con) == one
        assert queries.class_stats(con, order_by="p95_ms", limit=7) == one_by_p95
    assert len(one) > 40 and sum(c.p95_ms is not None for c in one) > 40
    # both ways were taken: classes counted one by one, and passes of several classes
    assert sum(c.count > 20 for c in one) > 5 and sum(c.count <= 20 for c in one) > 5


_DURATION = st.one_of(
    # ±inf: ingest stores them as NULL, but a --parquet dataset or a hand-written file may not
    st.sampled_from([0.0, 0.001, 0.3715, 1.0, 2.5, 1e43, -1.0, float("inf"), float("-inf")]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), _DURATION), max_size=60))
def test_percentiles_from_counted_values_are_quantile_cont(durations: list[float | None]) -> None:
    """The distinct-value way (for classes too big for one aggregate state) gives exactly what
    ``quantile_cont`` gives: ties, NULLs, one value, negative and huge durations."""
    con = schema.connect(":memory:")
    con.execute(
        "INSERT INTO entries (source_id, entry_no, line_start, n_lines, kind, duration_ms,"
        " class_id) SELECT 1, i, i, 1, 'query', d, 'C1'"
        " FROM (SELECT unnest(range(len(?::DOUBLE[]))) AS i, unnest(?::DOUBLE[]) AS d)",
        [durations, durations],
    )
    where = "e.kind = 'query' AND e.class_id IS NOT NULL"
    want = first(
        con.execute(
            f"SELECT quantile_cont(duration_ms, [0.5, 0.95, 0.99]) FROM entries e WHERE {where}"
        )
    )[0]
    n = sum(d is not None for d in durations)
    got = queries._counted_percentiles(con, where, [], "C1", n)
    assert got == want
