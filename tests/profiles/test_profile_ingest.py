"""Loading profiles into the store: detection, real py-spy files, idempotence, one-line errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from perftui.ingest.sources import open_source, sample_lines
from perftui.profiles.ingest import ProfileIngestError, ingest_profile, profile_format, sniff
from perftui.store.results import first
from tests.conftest import SAMPLE_LOGS
from tests.profiles.conftest import RAW, SPEEDSCOPE, folded_total


def sniffed(path: Path) -> str | None:
    src = open_source(str(path))
    try:
        return sniff(sample_lines(src.head))
    finally:
        src.close()


def test_sniff_tells_profiles_apart_and_leaves_logs_alone(write) -> None:
    assert sniffed(RAW) == "pyspy-raw"
    assert sniffed(SPEEDSCOPE) == "speedscope"
    assert sniffed(Path(write("plain.folded", "main;work;leaf 12\nmain;idle 3\n"))) == "folded"
    assert profile_format(str(RAW)) == "pyspy-raw"
    assert profile_format("-") is None and profile_format("/nonexistent") is None
    for log in (
        "postgresql.log",
        "postgresql.csv",
        "postgresql.json",
        "mariadb-slow.log",
        "postgresql-pgbadger-prefix.log",
        "profile-shop.postgresql.log",
    ):
        assert sniffed(SAMPLE_LOGS / log) is None, log


def test_real_pyspy_raw_profile_loads_with_its_sample_total(con: duckdb.DuckDBPyConnection) -> None:
    r = ingest_profile(con, str(RAW))
    expected = folded_total(RAW)
    assert (r.status, r.format) == ("ingested", "pyspy-raw")
    assert r.samples == expected
    row = first(
        con.execute(
            "SELECT total_weight, total_samples, distinct_stacks, recorded_with_idle"
            " FROM profiles WHERE profile_id = ?",
            [r.profile_id],
        )
    )
    assert row == (expected, expected, len(RAW.read_text().splitlines()), None)
    # every sample sits in exactly one stored stack, and the flame root holds them all
    assert first(con.execute("SELECT sum(weight) FROM stacks"))[0] == expected
    assert (
        first(con.execute("SELECT total FROM flame_nodes WHERE parent_id IS NULL"))[0] == expected
    )


def test_real_speedscope_profile_loads(con: duckdb.DuckDBPyConnection) -> None:
    r = ingest_profile(con, str(SPEEDSCOPE))
    assert (r.status, r.format) == ("ingested", "speedscope")
    ms, duration = first(
        con.execute(
            "SELECT ms_per_weight, duration_s FROM profiles WHERE profile_id = ?", [r.profile_id]
        )
    )
    assert ms == pytest.approx(10.0)
    assert duration is None  # a sampled profile does not say how long the recording ran


def test_same_profile_twice_adds_nothing(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    once = ingest_profile(con, str(RAW))
    again = ingest_profile(con, str(RAW))
    assert again.status == "unchanged" and again.profile_id == once.profile_id
    # the same bytes under another name, and compressed, are the same profile too
    copy = tmp_path / "copy.txt"
    copy.write_bytes(RAW.read_bytes())
    assert ingest_profile(con, str(copy)).status == "unchanged"
    gz = tmp_path / "copy.txt.gz"
    gz.write_bytes(gzip.compress(RAW.read_bytes()))
    assert ingest_profile(con, str(gz)).status == "unchanged"
    assert first(con.execute("SELECT count(*) FROM profiles"))[0] == 1
    assert first(con.execute("SELECT count(*) FROM sources"))[0] == 1


def test_a_rewritten_file_replaces_its_profile(con: duckdb.DuckDBPyConnection, write) -> None:
    path = write("p.folded", "main;a 3\n")
    ingest_profile(con, path)
    Path(path).write_text("main;a 3\nmain;b 4\n")
    r = ingest_profile(con, path)
    assert r.status == "replaced" and r.samples == 7
    assert first(con.execute("SELECT count(*) FROM profiles"))[0] == 1
    assert first(con.execute("SELECT sum(weight) FROM stacks"))[0] == 7


def test_two_profiles_keep_their_own_ids(con: duckdb.DuckDBPyConnection) -> None:
    a = ingest_profile(con, str(RAW))
    b = ingest_profile(con, str(SPEEDSCOPE))
    assert a.profile_id != b.profile_id
    overlap = first(
        con.execute(
            "SELECT count(*) FROM frames f JOIN frames g USING (frame_id)"
            " WHERE f.profile_id <> g.profile_id"
        )
    )[0]
    assert overlap == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", "hello\nworld\n", r"not a profile perftui reads .*first line: 'hello'"),
        ("broken.json", '{"profiles": [], "shared": {"frames": [', "not valid JSON"),
        ("other.json", '{"profiles": [{"type": "x"}], "shared": {"frames": []}}', "unknown type"),
    ],
)
def test_bad_input_is_one_line(
    con: duckdb.DuckDBPyConnection, write, name: str, content: str, message: str
) -> None:
    with pytest.raises(ProfileIngestError, match=message) as info:
        ingest_profile(con, write(name, content))
    assert "\n" not in str(info.value)
    assert first(con.execute("SELECT count(*) FROM profiles"))[0] == 0


def test_missing_and_empty_files(con: duckdb.DuckDBPyConnection, write) -> None:
    with pytest.raises(ProfileIngestError, match="no such file"):
        ingest_profile(con, "/nonexistent/profile.txt")
    assert ingest_profile(con, write("empty.txt", "")).status == "empty"


def test_forced_format_must_match(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ProfileIngestError, match="does not look like speedscope"):
        ingest_profile(con, str(RAW), fmt="speedscope")


def test_lines_that_are_not_stacks_are_stored_as_rejects(
    con: duckdb.DuckDBPyConnection, write
) -> None:
    """Nothing lost: a damaged folded profile keeps its good stacks and records every bad line
    (number, reason, text), also after it is rewritten and ingested again."""
    good = [f"main (app.py:1);work (app.py:{n}) 1" for n in range(5, 35)]
    path = write("damaged.txt", "\n".join([*good[:3], "garbage line", "", *good[3:]]) + "\n")
    result = ingest_profile(con, str(path))
    assert result.rejected_lines == 2 and result.samples == 30
    rows = con.execute(
        "SELECT line_no, reason, raw FROM rejects WHERE source_id = ? ORDER BY line_no",
        [result.source_id],
    ).fetchall()
    assert rows == [(4, "no sample count at the end", "garbage line"), (5, "blank line", "")]
    assert first(
        con.execute("SELECT reject_lines FROM sources WHERE source_id = ?", [result.source_id])
    ) == (2,)
    with open(path, "a") as fh:  # the same file grown: its profile is replaced
        fh.write("still garbage\n")
    again = ingest_profile(con, str(path))
    assert again.source_id == result.source_id and again.status == "replaced"
    assert con.execute(
        "SELECT line_no, raw FROM rejects WHERE source_id = ? ORDER BY line_no",
        [result.source_id],
    ).fetchall() == [(4, "garbage line"), (5, ""), (33, "still garbage")]
