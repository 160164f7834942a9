"""The writer fingerprints each distinct text once and spreads the results over the entries:
every entry must get what fingerprinting its own statement gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from perftui import fingerprint as fpmod
from perftui.ingest.records import CONNECT, ERROR, QUERY, Entry
from perftui.store import schema, writer
from perftui.store.connections import ConnectionNumbers
from perftui.store.results import first

STATEMENTS = [
    # (kind, query): repeats, the two Python post-steps, attributes, no statement at all.
    (QUERY, "SELECT id FROM users WHERE id = 1"),
    (QUERY, "SELECT id FROM users WHERE id = 1"),
    (QUERY, "SELECT id FROM users WHERE id = 2"),
    (QUERY, "select 1 union select 1 union all select 1"),
    (QUERY, "SELECT a FROM t ORDER BY a ASC, b ASC LIMIT 10 OFFSET 40"),
    (ERROR, "SELECT * FROM t WHERE a IN (1, 2, 3) LIMIT 5, 10"),
    (QUERY, "INSERT INTO t (a, b) VALUES (1, 2), (3, 4), (5, 6)"),
    (CONNECT, "SELECT not a class"),
    (QUERY, None),
    (ERROR, None),
]


@pytest.mark.parametrize("dialect", ["mysql", "postgres"])
def test_every_entry_gets_its_own_statements_fingerprint(dialect: str, tmp_path: Path) -> None:
    entries = [Entry(i + 1, 1, kind, query=q) for i, (kind, q) in enumerate(STATEMENTS)]
    with schema.connect(tmp_path / "s.duckdb") as con:
        writer.write_entries(con, 1, 0, entries, dialect, ConnectionNumbers())
        rows = con.execute(
            "SELECT kind, query, class_id, limit_value, offset_value, in_list_len, values_rows "
            "FROM entries ORDER BY entry_no"
        ).fetchall()
        classes = dict(con.execute("SELECT class_id, fingerprint FROM query_classes").fetchall())
        attributes = ", ".join(fpmod.attributes_sql("$q").values())
        expected_classes = {}
        for kind, query, class_id, *attrs in rows:
            if query is None or kind == CONNECT:
                assert class_id is None
            else:
                fp = fpmod.fingerprint_one(query, dialect)
                assert class_id == fpmod.class_id(fp, dialect)
                expected_classes[class_id] = fp
            if query is not None:
                own = first(con.execute(f"SELECT {attributes}", {"q": query}))
                assert tuple(attrs) == own
    assert classes == expected_classes
    assert "select ? /*repeat union all*/" in classes.values()
    assert any(fp.startswith("select a from t order by a, b") for fp in classes.values())


def _threads(con) -> int:
    return int(first(con.execute("SELECT current_setting('threads')"))[0])


@pytest.mark.parametrize("fail", [False, True])
def test_ingest_stores_with_one_duckdb_thread_and_gives_the_settings_back(
    fail: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline's own threads keep the cores busy during ingest, and strings are stored
    without FSST; the analysis after it (in the same connection for ``perftui analyze LOG``)
    must get DuckDB's threads and a user's compression setting back, also when storing
    failed."""
    from perftui.ingest.driver import IngestError, ingest_path
    from tests.conftest import sample

    con = schema.connect(tmp_path / "t.duckdb")
    con.execute("SET threads = 2")
    con.execute("SET disabled_compression_methods = 'chimp'")
    seen: list[tuple[int, frozenset[str]]] = []
    insert_entries = writer.insert_entries

    def disabled(c) -> frozenset[str]:
        text = first(c.execute("SELECT current_setting('disabled_compression_methods')"))[0]
        return frozenset(text.lower().split(","))

    def spying(c, *args: object) -> None:
        seen.append((_threads(c), disabled(c)))
        if fail:
            raise OSError("disk full")
        insert_entries(c, *args)

    monkeypatch.setattr(writer, "insert_entries", spying)
    if fail:
        with pytest.raises((OSError, IngestError)):
            ingest_path(con, str(sample("postgresql.log")))
    else:
        result = ingest_path(con, str(sample("postgresql.log")))
        assert result.entries > 0
    assert seen and set(seen) == {(1, frozenset({"chimp", "fsst"}))}
    assert _threads(con) == 2
    assert disabled(con) == {"chimp"}
