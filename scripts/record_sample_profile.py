#!/usr/bin/env python3
"""Record the sample profiles in ``sample_logs/`` with py-spy, and the PostgreSQL log that matches.

Runs ``sample_logs/app/shop_app.py`` (an N+1 loop against the local PostgreSQL plus a naive
recursive ``fib``) twice under ``py-spy record --idle``:

* ``--format raw``        → ``sample_logs/profile-shop.pyspy.txt``
* ``--format speedscope`` → ``sample_logs/profile-shop.speedscope.json``

During the raw run the app's own connection asks the server to log every statement
(``log_min_duration_statement = 0`` for that session only; no server setting changes), and the
lines of that backend are copied from the server log to ``sample_logs/profile-shop.postgresql.log``
so ``perftui analyze`` can read the profile and the queries of the same run together.

Needs py-spy (root, or ptrace permission), the local PostgreSQL on 127.0.0.1:5432 (user
postgres, database test) with the ``shop`` tables of ``scripts/generate_sample_logs.py``; when
they are missing a tiny ``shop_profile`` schema is created instead. Reading the server log needs
permission on it (root here).

Usage: ``python scripts/record_sample_profile.py [--out DIR] [--pg-log PATH]``
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "sample_logs" / "app" / "shop_app.py"
DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
RATE = 100


def shop_schema(conn: psycopg.Connection) -> str:
    """``shop`` when its users/orders tables (with VIP users) exist, else a tiny own schema."""
    row = conn.execute(
        "SELECT to_regclass('shop.users') IS NOT NULL AND to_regclass('shop.orders') IS NOT NULL"
    ).fetchone()
    if row and row[0]:
        vip = conn.execute("SELECT count(*) FROM shop.users WHERE status = 'vip'").fetchone()
        if vip and vip[0] >= 50:
            return "shop"
    print("shop tables missing: creating schema shop_profile", file=sys.stderr)
    conn.execute("DROP SCHEMA IF EXISTS shop_profile CASCADE")
    conn.execute("CREATE SCHEMA shop_profile")
    conn.execute(
        "CREATE TABLE shop_profile.users (id int PRIMARY KEY, name text NOT NULL,"
        " status text NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE shop_profile.orders (id int PRIMARY KEY, user_id int NOT NULL,"
        " total numeric(12,2) NOT NULL)"
    )
    conn.execute(
        "INSERT INTO shop_profile.users SELECT g, 'user ' || g,"
        " CASE WHEN g % 10 = 0 THEN 'vip' ELSE 'active' END FROM generate_series(1, 5000) g"
    )
    conn.execute(
        "INSERT INTO shop_profile.orders SELECT g, 1 + g % 5000, (g % 997) / 10.0"
        " FROM generate_series(1, 60000) g"
    )
    return "shop_profile"


def server_log(conn: psycopg.Connection, given: str | None) -> Path:
    """The file the server writes its log to (the collector's, else Debian's stderr file)."""
    if given:
        return Path(given)
    current = conn.execute("SELECT pg_current_logfile()").fetchone()[0]
    if current:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        return Path(data_dir) / current
    major = conn.execute("SHOW server_version_num").fetchone()[0][:2]
    return Path(f"/var/log/postgresql/postgresql-{major}-main.log")


def record(fmt: str, out: Path, env: dict[str, str]) -> str:
    """Run the app under py-spy; returns the app's stderr (it prints its backend pid)."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy not found on PATH (pip install py-spy)")
    with tempfile.TemporaryFile("w+") as app_err:
        proc = subprocess.run(
            [
                py_spy,
                "record",
                "--idle",
                "--rate",
                str(RATE),
                "--format",
                fmt,
                "-o",
                str(out),
                "--",
                sys.executable,
                str(APP),
            ],
            env=env,
            stderr=app_err,
            stdout=subprocess.DEVNULL,
            check=False,
        )
        app_err.seek(0)
        text = app_err.read()
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"py-spy record failed ({proc.returncode}): {text.strip()[-400:]}")
    return text


def session_lines(log: Path, offset: int, pid: int) -> list[str]:
    """The server log lines of backend ``pid`` written after ``offset`` (with continuations)."""
    with log.open("rb") as fh:
        fh.seek(offset)
        text = fh.read().decode("utf-8", "replace")
    mine = re.compile(rf"^\S+ \S+ \S+ \[{pid}\] ")
    out: list[str] = []
    keep = False
    for line in text.splitlines(keepends=True):
        if line.startswith("\t"):
            if keep:
                out.append(line)
            continue
        keep = bool(mine.match(line))
        if keep:
            out.append(line)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "sample_logs"))
    ap.add_argument("--pg-log", help="the server's log file (default: asked from the server)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with psycopg.connect(DSN, autocommit=True) as conn:
        schema = shop_schema(conn)
        log = server_log(conn, args.pg_log)
    env = dict(os.environ, SHOP_SCHEMA=schema, PYTHONDONTWRITEBYTECODE="1")

    offset = log.stat().st_size
    raw = out / "profile-shop.pyspy.txt"
    text = record("raw", raw, dict(env, SHOP_LOG_STATEMENTS="1"))
    m = re.search(r"backend_pid=(\d+)", text)
    if m is None:
        raise SystemExit(f"the app did not report its backend pid: {text.strip()[-400:]}")
    lines = session_lines(log, offset, int(m.group(1)))
    if not lines:
        raise SystemExit(f"no lines of backend {m.group(1)} in {log}")
    pg_out = out / "profile-shop.postgresql.log"
    pg_out.write_text("".join(lines), encoding="utf-8")

    speedscope = out / "profile-shop.speedscope.json"
    record("speedscope", speedscope, env)
    for path in (raw, speedscope, pg_out):
        print(
            f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
            f" ({path.stat().st_size:,} bytes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
