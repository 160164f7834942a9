"""Passwords in profiled command lines and DSNs are masked in every form a person writes them,
and what is not a password (``psql -p 5432``, ``ssh -p2222``) is left as it was.

``textsafe.redact_credentials`` runs on a py-spy process frame before it is stored, on a
profile's recorded command, and on a DSN before it is shown in an error.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from perftui.store.results import first
from perftui.textsafe import redact_credentials
from tests.hardening.checks import run_cli

SECRET = "Hunter2-x9"

# (text holding SECRET, what it must become)
MASKED = {
    "--password VALUE": (f"mysql --password {SECRET} shop", "mysql --password *** shop"),
    "--password=VALUE": (f"mysql --password={SECRET} shop", "mysql --password=*** shop"),
    "--db-password VALUE": (f"app --db-password '{SECRET} x' -v", "app --db-password *** -v"),
    "mysql -pSECRET": (f"mysql -uroot -p{SECRET} shop", "mysql -uroot -p*** shop"),
    "mysqldump path -pSECRET": (
        f"/usr/bin/mysqldump -h db -p{SECRET} shop",
        "/usr/bin/mysqldump -h db -p*** shop",
    ),
    "mariadb-dump -p'quoted'": (f"mariadb-dump -p'{SECRET} y' shop", "mariadb-dump -p*** shop"),
    "mysql -p with quotes inside": (f"mysql -p{SECRET}'\"z shop", "mysql -p*** shop"),
    "mysqladmin.exe -pSECRET": (
        f"C:\\mysql\\bin\\mysqladmin.exe -p{SECRET} status",
        "C:\\mysql\\bin\\mysqladmin.exe -p*** status",
    ),
    "py-spy process frame": (
        f'process 42:"mysql -uroot -p{SECRET}"',
        'process 42:"mysql -uroot -p***"',
    ),
    "PGPASSWORD=": (f"PGPASSWORD={SECRET} psql -h db", "PGPASSWORD=*** psql -h db"),
    "MYSQL_PWD=": (f"env MYSQL_PWD={SECRET} mysql shop", "env MYSQL_PWD=*** mysql shop"),
    "export DB_PASSWORD='…'": (f"export DB_PASSWORD='{SECRET} z'", "export DB_PASSWORD=***"),
    "libpq keyword DSN": (
        f"psql 'host=db user=app password={SECRET} dbname=shop'",
        "psql 'host=db user=app password=*** dbname=shop'",
    ),
    "libpq keyword DSN, quoted": (
        f"host=db password='{SECRET} q' dbname=shop",
        "host=db password=*** dbname=shop",
    ),
    "ODBC Pwd={…}": (f"Driver={{x}};Uid=u;Pwd={{{SECRET};}}}}z}};", "Driver={x};Uid=u;Pwd=***;"),
    "JSON": (f'{{"user": "app", "password": "{SECRET}"}}', '{"user": "app", "password": ***}'),
    "mysql:// URI": (f"mysql://app:{SECRET}@db/shop", "mysql://app:***@db/shop"),
    "postgresql:// URI": (
        f"postgresql://app:{SECRET}@db:5432/shop",
        "postgresql://app:***@db:5432/shop",
    ),
    "URI, '@' in password": (f"postgres://app:{SECRET}@x@db/shop", "postgres://app:***@db/shop"),
    "URI, raw '/' in password": (
        f"python app.py --dsn postgresql://app:a/{SECRET}@db/shop -v",
        "python app.py --dsn postgresql://app:***@db/shop -v",
    ),
    "URI, raw '/', '?', '#' and '@' in password": (
        f"mysql://app:{SECRET}/?#@x@db:3306/shop",
        "mysql://app:***@db:3306/shop",
    ),
    "URI, '@' before a raw '/' in password": (
        f"mysql://u:a@b/{SECRET}@h/db",
        "mysql://u:***@h/db",
    ),
    "URI, digits then '/' in password (reads like a port)": (
        f"mysql://root:123/{SECRET}@db:3306/shop",
        "mysql://root:***@db:3306/shop",
    ),
    "URI, inside JSON: to the word's last '@' (over-masks, never leaks)": (
        f'{{"dsn":"mysql://u:p/{SECRET}@h/db","owner":"ops@corp.com"}}',
        '{"dsn":"mysql://u:***@corp.com"}',
    ),
    "mysql+pymysql:// URI": (
        f"python app.py --dsn mysql+pymysql://app:{SECRET}@db/shop",
        "python app.py --dsn mysql+pymysql://app:***@db/shop",
    ),
    "URI query password=": (
        f"postgresql://db/shop?user=app&password={SECRET}&sslmode=off",
        "postgresql://db/shop?user=app&password=***&sslmode=off",
    ),
}

# Command lines without a password: left exactly as they were.
UNTOUCHED = [
    "psql -p 5432 -U app shop",
    "psql -p5432 -U app shop",
    "pg_dump -h db -p5433 shop",
    "ssh -p2222 db",
    "python -m http.server -p8080",
    "python app.py --dsn postgresql://app@db:5432/shop",
    "git clone git+ssh://git@github.com:org/repo.git",  # no password, a ':' after the '@'
    "mysql -p shop",  # -p alone: the client prompts; "shop" is the database
    "mysql -P3306 -uroot shop",  # -P is the port
    "app --password --verbose",  # a flag without a value
    "python -m mysql.connector -p5",  # a module named mysql…, not the client
]


@pytest.mark.parametrize("form", list(MASKED))
def test_password_form_is_masked(form: str) -> None:
    text, expected = MASKED[form]
    masked = redact_credentials(text)
    assert SECRET not in masked and SECRET.split("-")[0] not in masked
    assert masked == expected


@pytest.mark.parametrize("text", UNTOUCHED)
def test_text_without_a_password_is_left_alone(text: str) -> None:
    assert redact_credentials(text) == text


@pytest.mark.parametrize("unit", ["a://b:", "http://hN:x/", "a://b:/", "x://u:p/"])
def test_long_lines_of_url_look_alikes_are_masked_in_linear_time(unit: str) -> None:
    """A py-spy process frame is untrusted text: a regex form of the raw-'/' rule took 5.7 s on
    6 KB of these and 44 s on 12 KB (cubic); 2 MB must pass in well under a second."""
    text = unit * (2_000_000 // len(unit))
    started = time.perf_counter()
    redact_credentials(f'process 1:"python app.py {text}@h"')
    assert time.perf_counter() - started < 1.0


def test_profiled_command_lines_never_reach_the_store(tmp_path: Path) -> None:
    """Through ingest: each form as a py-spy process frame; the store holds none of them."""
    forms = [text for text, _ in MASKED.values() if '"' not in text]
    profile = tmp_path / "p.pyspy.txt"
    profile.write_text(
        "".join(
            f'process {100 + i}:"{text}";main (app.py:1);work (app.py:{i + 2}) {i + 1}\n'
            for i, text in enumerate(forms)
        )
    )
    db = tmp_path / "store.duckdb"
    code, out, err = run_cli("analyze", str(profile), "--db", str(db), "--format", "json")
    assert code == 0, err
    assert SECRET.split("-")[0] not in out + err
    with duckdb.connect(str(db), read_only=True) as con:
        frames = [r[0] for r in con.execute("SELECT function FROM frames").fetchall()]
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            hits = first(
                con.execute(
                    f'SELECT count(*) FROM "{table}" t WHERE contains(CAST(t AS VARCHAR), ?)',
                    [SECRET.split("-")[0]],
                )
            )[0]
            assert hits == 0, table
    assert any(f.startswith("process ") and "-p***" in f for f in frames)
