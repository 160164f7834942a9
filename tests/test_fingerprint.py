"""Fingerprints group what pt-query-digest (--preserve-embedded-numbers) groups."""

from __future__ import annotations

import pytest

from perftui.fingerprint import fingerprint_one

# Expected values follow pt-query-digest's QueryRewriter steps (lower case, literals -> ?,
# in(?+), values(?+), limit ?, ASC dropped), with embedded numbers preserved.
CASES = [
    (
        "select * from foo where a in (5) and b in (5, 8,9 ,9 , 10)",
        "mysql",
        "select * from foo where a in(?+) and b in(?+)",
    ),
    (
        "SELECT * FROM t WHERE a IN (1, 2,3) AND b = 'x' LIMIT 5, 10",
        "mysql",
        "select * from t where a in(?+) and b = ? limit ?",
    ),
    ("SELECT name FROM users_2009 WHERE id=42", "mysql", "select name from users_2009 where id=?"),
    (
        "INSERT INTO t (a,b) VALUES (1,'a'),(2,'b'),(3,'c')",
        "mysql",
        "insert into t (a,b) values(?+)",
    ),
    ("SELECT a FROM t ORDER BY a ASC, b ASC", "mysql", "select a from t order by a, b"),
    ("select 1 union select 1 union all select 1", "mysql", "select ? /*repeat union all*/"),
    ("use shop", "mysql", "use ?"),
    # Whitespace: runs of any kind fold to one space, a lone tab or newline too, ends trimmed.
    ("\tSELECT a,\tb\r\nFROM  t \f WHERE\n\nc = 1 ", "mysql", "select a, b from t where c = ?"),
    ("SELECT\ta FROM t", "postgres", "select a from t"),
    ("CALL foo(1,2)", "mysql", "call foo"),
    ("administrator command: Quit", "mysql", "administrator command: Quit"),
    (
        'SELECT x FROM t WHERE s = "str" -- trailing\n AND flag = true',
        "mysql",
        "select x from t where s = ? and flag = ?",
    ),
    (
        'SELECT "Col" FROM t WHERE id = $1 AND x = $2::int',
        "postgres",
        'select "col" from t where id = ? and x = ?::int',
    ),
    (
        "SELECT 1 FROM t WHERE body = $$it's$$ /* note */ LIMIT 10 OFFSET 20",
        "postgres",
        "select ? from t where body = ? limit ?",
    ),
    ("SELECT *\n  FROM   t\n\tWHERE x = NULL", "postgres", "select * from t where x = ?"),
]


@pytest.mark.parametrize(("query", "dialect", "expected"), CASES)
def test_fingerprint_matches_pt_query_digest_rules(query: str, dialect: str, expected: str) -> None:
    assert fingerprint_one(query, dialect) == expected


def test_literals_of_any_kind_land_in_one_class() -> None:
    a = fingerprint_one("SELECT id FROM orders WHERE user_id = 1 AND status = 'pending'")
    b = fingerprint_one(
        "select id  from orders where user_id=1 and status = 'shipped'".replace(
            "user_id=1", "user_id = 99"
        )
    )
    assert a == b


def test_identifier_digits_and_quoted_pg_identifiers_keep_classes_apart() -> None:
    assert fingerprint_one("SELECT * FROM users_2009") != fingerprint_one(
        "SELECT * FROM users_2010"
    )
    assert fingerprint_one('SELECT * FROM "a"', "postgres") != fingerprint_one(
        'SELECT * FROM "b"', "postgres"
    )
