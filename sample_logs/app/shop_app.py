"""A small shop report with two classic slowdowns, profiled by ``scripts/record_sample_profile.py``.

1. N+1: one query for the VIP users, then one ``orders`` query per user (``orders_for``).
2. An unmemoised recursive function: ``fib`` recomputes the same values exponentially often.

Talks to the local PostgreSQL (127.0.0.1:5432, user postgres, database test, schema ``shop`` or
``$SHOP_SCHEMA``).
With ``SHOP_LOG_STATEMENTS=1`` the session (only this connection) asks the server to log every
statement, so the run leaves a PostgreSQL log that matches the profile.
"""

from __future__ import annotations

import json
import os
import sys

import psycopg

DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test application_name=shop-app-profile"
VIP_LIMIT = 1000
FIB_N = 34


def connect() -> psycopg.Connection:
    options = f"-c search_path={os.environ.get('SHOP_SCHEMA', 'shop')}"
    if os.environ.get("SHOP_LOG_STATEMENTS") == "1":
        options += " -c log_min_duration_statement=0"
    return psycopg.connect(DSN, options=options, autocommit=True)


def vip_users(conn: psycopg.Connection) -> list[tuple[int, str]]:
    cur = conn.execute(
        "SELECT id, name FROM users WHERE status = 'vip' ORDER BY id LIMIT %s", (VIP_LIMIT,)
    )
    return cur.fetchall()


def orders_for(conn: psycopg.Connection, user_id: int) -> list[tuple[int, float]]:
    cur = conn.execute("SELECT id, total FROM orders WHERE user_id = %s", (user_id,))
    return cur.fetchall()


def build_report(conn: psycopg.Connection) -> list[dict]:
    report = []
    for user_id, name in vip_users(conn):
        orders = orders_for(conn, user_id)  # one query per user: the N+1
        report.append(
            {
                "user": name,
                "orders": len(orders),
                "spent": float(sum(total for _id, total in orders)),
            }
        )
    return report


def fib(n: int) -> int:
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def loyalty_points(report: list[dict]) -> int:
    return fib(FIB_N) % 1000 + len(report)


def main() -> None:
    with connect() as conn:
        print(f"backend_pid={conn.info.backend_pid}", file=sys.stderr, flush=True)
        report = build_report(conn)
    points = loyalty_points(report)
    print(json.dumps({"vip_users": len(report), "points": points}))


if __name__ == "__main__":
    main()
