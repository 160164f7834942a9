"""The compiled fingerprinter gives what the SQL chain gives, for every text it does not decline:
the fingerprint and the four attributes, on the real sample logs and on generated text built
from the tokens each regex step looks at."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perftui.ingest.formats import ParseOptions, detect
from perftui.ingest.sources import sample_lines
from perftui.store import writer
from tests.conftest import sample
from tests.ingest.differential import compiled

COLUMNS = ("fingerprint", *writer._ATTRIBUTES)


def _fast():
    return compiled("perftui._fingerprint_fast", "fingerprint_texts")


def _by_sql(texts: list[str], dialect: str) -> dict[str, tuple]:
    """Each text's fingerprint (before the Python post-steps) and attributes, by the regexes."""
    con = duckdb.connect()
    con.register("_perftui_texts_in", pa.table({"query": pa.array(texts, pa.string())}))
    rows = con.sql(writer._texts_sql(dialect)).to_arrow_table().to_pylist()
    return {r["query"]: tuple(r[c] for c in COLUMNS) for r in rows}


def _compare(texts: list[str], dialect: str) -> int:
    """Assert equal results for every accepted text; the number accepted."""
    texts = list(dict.fromkeys(texts))
    fast = _fast()(pa.array(texts, pa.string()), dialect == "postgres")
    want = _by_sql(texts, dialect)
    accepted = 0
    for i, text in enumerate(texts):
        got = tuple(column[i].as_py() for column in fast)
        if got[0] is None:
            assert got == (None,) * len(COLUMNS), text  # declined: nothing half-done
            continue
        accepted += 1
        assert got == want[text], text
    return accepted


def _sample_texts(name: str) -> list[str]:
    text = sample(name).read_text()
    lines = text.splitlines()
    fmt, _ = detect(sample_lines(text.encode()[:65536]))
    parser = fmt.make(lines[:200], ParseOptions())
    parser.feed(lines, 1)
    parser.finish()
    return [e.query for e in parser.entries if e.query is not None]


@pytest.mark.parametrize(
    "name", ["mariadb-slow.log", "postgresql.log", "profile-shop.postgresql.log"]
)
def test_sample_log_statements_match_the_regexes(name: str) -> None:
    texts = _sample_texts(name)
    dialect = "mysql" if name.startswith("mariadb") else "postgres"
    accepted = _compare(texts, dialect)
    assert accepted >= 0.95 * len(set(texts))  # the fast path is the common path


TOKENS = [
    *"()(),,,;=*.?+-$'\"#\\/ \t\n\r\f\x0bxbe_",
    "SELECT",
    "select",
    "Select",
    "FROM",
    "from",
    "where",
    "WHERE",
    "in",
    "IN",
    "In",
    "NOT IN",
    "values",
    "VALUES",
    "Value",
    "value",
    "valuess",
    "insert",
    "INSERT",
    "Insert",
    "replace",
    "REPLACE",
    "ignore",
    "IGNORE",
    "into",
    "INTO",
    "limit",
    "LIMIT",
    "Limit",
    "offset",
    "OFFSET",
    "null",
    "NULL",
    "Null",
    "nullable",
    "is_null",
    "true",
    "TRUE",
    "False",
    "false",
    "falsey",
    "union",
    "order by",
    "asc",
    "call",
    "use",
    "users_2009",
    "t1",
    "col",
    "_in",
    "min",
    "join",
    "0",
    "1",
    "42",
    "007",
    "1.5",
    "-3",
    "+4",
    "1e5",
    "0x1F",
    "0xff",
    "12ab",
    "99999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "$1",
    "$12",
    "$$",
    "$a$",
    "'a'",
    "''",
    "'it''s'",
    '"q"',
    "/*",
    "*/",
    "--",
    "é",
    "?",
    "a.b",
]


@st.composite
def statements(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(TOKENS), max_size=30))
    spaced = draw(st.lists(st.booleans(), min_size=len(parts), max_size=len(parts)))
    return "".join(p + (" " if s else "") for p, s in zip(parts, spaced, strict=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(statements(), min_size=1, max_size=40), pg=st.booleans())
def test_generated_statements_match_the_regexes(texts: list[str], pg: bool) -> None:
    _compare(texts, "postgres" if pg else "mysql")


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1 /* note */",
        "SELECT 1 -- note",
        "SELECT 'a\\'b'",
        "SELECT 'unterminated",
        "SELECT 'é'",
        "CALL proc(1)",
        "use shop",
        "administrator command: Ping",
    ],
)
def test_rare_constructs_are_left_to_the_regexes(text: str) -> None:
    fast = _fast()(pa.array([text]), False)
    assert fast[0][0].as_py() is None


@pytest.mark.parametrize("dialect", ["mysql", "postgres"])
def test_store_gets_the_regexes_answer_for_a_mixed_batch(dialect: str) -> None:
    """The writer's path: accepted texts from C, declined ones through the regexes,
    one table with the pure-SQL path's rows (row order aside)."""
    _fast()
    texts = [
        "SELECT * FROM t WHERE a IN (1, 2) LIMIT 5, 10",
        "SELECT 1 /* declined */ FROM t WHERE b = 'x'",
        "INSERT INTO t (a) VALUES (1), (2), (3)",
        "select x from t order by y asc union select x from t order by y asc",
        "use shop",
        "SELECT a FROM t WHERE b = $1 ORDER BY a ASC, b DESC",
        "SELECT a FROM t WHERE b = 2 ORDER BY a ASC, b DESC",
    ]
    con = duckdb.connect()
    got = writer._fingerprint_texts(con, pa.array(texts), dialect)
    con.register("_perftui_texts_in", pa.table({"query": pa.array(texts, pa.string())}))
    want = writer._post_process(con.sql(writer._texts_sql(dialect)).to_arrow_table(), dialect)
    key = ["query"]
    assert got.sort_by([(k, "ascending") for k in key]).equals(
        want.sort_by([(k, "ascending") for k in key])
    )


def test_writer_uses_the_compiled_fingerprinter() -> None:
    """With the module built (and PERFTUI_PURE_PYTHON unset), ingest takes the fast path."""
    _fast()
    assert writer._fast_fingerprints is not None


def test_a_null_text_is_refused() -> None:
    """The writer drops nulls first; a caller that does not gets an error, not a fingerprint."""
    with pytest.raises(ValueError, match="without nulls"):
        _fast()(pa.array(["SELECT 1", None]), False)
