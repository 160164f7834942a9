"""log_line_prefix compilation, detection and timestamp conversion."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from perftui.ingest.pg_prefix import (
    KNOWN_PREFIXES,
    compile_prefix,
    count_matches,
    detect_prefix,
    epoch,
    tz_offset,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "postgres"
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC).timestamp()

# Fixture name -> the prefix it was written with (prefix-custom needs --prefix).
VARIANTS = {
    "prefix-pgbadger.log": "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "prefix-rds.log": "%t:%r:%u@%d:[%p]:",
    "prefix-tpid.log": "%t [%p]: ",
    "prefix-mpid.log": "%m [%p] ",
    "prefix-tpidline.log": "%t [%p-%l] %q%u@%d ",
    "prefix-appuserdb.log": "%m [%p] %q[%a] %u@%d ",
    "prefix-session.log": "%m [%p] %c %q%u@%d ",
    "prefix-redhat.log": "< %m > ",
    "interleaved.log": "%m [%p] %q%u@%d ",
}
CUSTOM = "%n %-6p|%e|%q%u@%d/%a "


def lines_of(name: str) -> list[str]:
    return (FIXTURES / name).read_text().split("\n")


def groups(prefix: str, line: str) -> dict[str, str | None]:
    m = compile_prefix(prefix).regex.match(line)
    assert m is not None, line
    return m.groupdict()


def test_every_escape_compiles_and_captures() -> None:
    prefix = "%a|%u|%d|%r|%b|%p|%P|%m|%n|%s|%i|%e|%c|%l|%v|%x|%Q|%%|%L "
    line = (
        "psql|alice|shop|10.0.0.5(50001)|client backend|201|199|2026-11-24 10:00:00.123 UTC|"
        "1795514400.123|2026-11-24 09:59:00 UTC|SELECT|00000|6742f0a0.c9|7|3/12|0|-42|%|::1 "
        "LOG:  statement: SELECT 1"
    )
    g = groups(prefix, line)
    assert g["app"] == "psql" and g["user"] == "alice" and g["db"] == "shop"
    assert g["host"] == "10.0.0.5" and g["btype"] == "client backend"
    assert g["pid"] == "201" and g["leader"] == "199"
    assert g["ts"] == "2026-11-24 10:00:00.123 UTC" and g["epoch"] == "1795514400.123"
    assert g["start"] == "2026-11-24 09:59:00 UTC" and g["tag"] == "SELECT"
    assert g["sqlstate"] == "00000" and g["sid"] == "6742f0a0.c9" and g["line"] == "7"
    assert g["vxid"] == "3/12" and g["xid"] == "0" and g["queryid"] == "-42"
    assert g["local"] == "::1" and g["sev"] == "LOG"


def test_h_is_the_host_without_port() -> None:
    g = groups("%h %p ", "10.0.0.5 201 LOG:  x")
    assert g["host"] == "10.0.0.5"


def test_padding() -> None:
    g = groups("%-10u|%8p|", "alice     |     201|LOG:  x")
    assert g["user"] == "alice" and g["pid"] == "201"


def test_unknown_and_empty_values_capture_none() -> None:
    g = groups("%m [%p] %q%u@%d ", "2026-11-24 10:00:00.100 UTC [201] [unknown]@[unknown] LOG:  x")
    assert g["user"] is None and g["db"] is None
    g = groups(
        "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
        "2026-11-24 10:00:00 UTC [100]: user=,db=,app=,client= LOG:  checkpoint",
    )
    assert g["user"] is None and g["app"] is None and g["host"] is None


def test_free_text_values_may_contain_the_separator() -> None:
    g = groups(
        "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
        "2026-11-24 10:00:00 UTC [201]: user=alice,db=shop,app=PostgreSQL JDBC, v42,"
        "client=10.0.0.5 LOG:  x",
    )
    assert g["app"] == "PostgreSQL JDBC, v42" and g["host"] == "10.0.0.5"


def test_q_makes_the_rest_optional() -> None:
    regex = compile_prefix("%m [%p] %q%u@%d ").regex
    m = regex.match("2026-11-24 10:00:00.000 UTC [100] LOG:  checkpoint starting: time")
    assert m is not None and m["user"] is None and m["sev"] == "LOG"
    m = regex.match("2026-11-24 10:00:00.000 UTC [201] alice@shop LOG:  statement: SELECT 'a@b'")
    assert m is not None and m["user"] == "alice" and m["db"] == "shop"


def test_literal_percent_unknown_escape_and_trailing_percent() -> None:
    g = groups("100%% %Z%m %", "100% 2026-11-24 10:00:00.000 UTC LOG:  x")
    assert g["ts"] == "2026-11-24 10:00:00.000 UTC"


def test_lenient_parse_accepts_m_for_t_but_detection_is_strict() -> None:
    line = "2026-11-24 10:00:00.123 UTC [201]: LOG:  x"
    assert compile_prefix("%t [%p]: ").regex.match(line)
    assert not compile_prefix("%t [%p]: ", strict=True).regex.match(line)


@pytest.mark.parametrize(("name", "prefix"), VARIANTS.items())
def test_detects_each_variant(name: str, prefix: str) -> None:
    detected, hits = detect_prefix(lines_of(name))
    assert detected is not None and detected.text == prefix
    assert hits > 0


def test_unknown_prefix_is_not_detected_but_compiles() -> None:
    lines = lines_of("prefix-custom.log")
    assert detect_prefix(lines) == (None, 0)
    assert count_matches(compile_prefix(CUSTOM), lines) == 8


def test_detection_ignores_garbage() -> None:
    assert detect_prefix(["# Time: 261124  0:18:24", "a (f.py:1);b (g.py:2) 12", ""]) == (None, 0)


def test_known_prefixes_all_compile() -> None:
    for prefix in KNOWN_PREFIXES:
        assert compile_prefix(prefix).regex.groupindex["sev"]
        assert compile_prefix(prefix, strict=True).regex.groupindex["sev"]


def test_session_group_prefers_c() -> None:
    assert compile_prefix("%m [%p] %c ").session_group == "sid"
    assert compile_prefix("%m [%p] ").session_group == "pid"
    assert compile_prefix("%m ").session_group is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24 10:00:00 UTC", T0),
        ("2026-11-24 10:00:00.250 UTC", T0 + 0.25),
        ("2026-11-24 10:00:00.250 GMT", T0 + 0.25),
        ("2026-11-24 10:00:00.250", T0 + 0.25),
        ("2026-11-24 11:00:00.250 CET", T0 + 0.25),
        ("2026-11-24 13:00:00 +03", T0),
        ("2026-11-24 04:30:00 -0530", T0),
        ("2026-11-24 15:30:00.5 +05:30", T0 + 0.5),
        ("2026-11-24 10:00:00.123456+00", T0 + 0.123456),
        ("garbage", None),
        ("", None),
    ],
)
def test_epoch(text: str, expected: float | None) -> None:
    value = epoch(text)
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected, abs=1e-6)
        assert epoch(text) == value  # cached


def test_tz_offset() -> None:
    assert tz_offset("UTC") == 0 and tz_offset("") == 0
    assert tz_offset("EST") == -5 * 3600 and tz_offset("+0545") == 5 * 3600 + 45 * 60
    assert tz_offset("XYZ") == 0  # unknown abbreviations are read as UTC
