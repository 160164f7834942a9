#!/usr/bin/env python3
"""Make the local PostgreSQL 15 and MariaDB 10.11 servers write real logs for ``sample_logs/``.

A small, deterministic "shop" workload exercises the anti-patterns perftui detects (N+1,
missing composite index, SELECT *, OR chains, functions on columns, leading wildcards,
row-by-row writes, deep OFFSET, cacheable repeats, connection churn, unbounded results)
while the servers log every statement.  The logs are then copied into ``sample_logs/``
exactly as the servers wrote them; only the setup/filling phase is kept out of them.

Rerunnable: the ``shop`` schema/database is dropped and recreated, the temporary conf.d
file is removed again and the cluster restarted, and MariaDB's slow-log globals are put
back.  Talks to 127.0.0.1 only.  Must run as root (writes to conf.d, restarts PostgreSQL).

Usage: ``python scripts/generate_sample_logs.py [--only postgres|mariadb] [--out DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql

HOST = "127.0.0.1"
PG_PORT = 5432
MY_PORT = 3306
APP_NAME = "shop-app"
SEED = 20260105

N_USERS = 20_000
N_PRODUCTS = 2_000
N_ORDERS = 60_000  # ~2.5 items each -> ~150k order_items

OUT_DIR = Path(__file__).resolve().parent.parent / "sample_logs"
PG_CONF_FILE = Path("/etc/postgresql/15/main/conf.d/95-perftui-sample-logs.conf")
PG_MAIN_PREFIX = "%m [%p] %q%u@%d "
PG_BADGER_PREFIX = "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h "
PG_MAIN_LOG = "shop.log"  # the collector writes shop.csv / shop.json next to it
PG_BADGER_LOG = "shop-pgbadger.log"
# Long enough for backends to finish writing disconnection lines through the collector.
SETTLE_SECONDS = 1.5

FIRST_NAMES = (
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hugo",
    "Ida",
    "Jonas",
    "Katja",
    "Lukas",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
)
LAST_NAMES = (
    "Schmidt",
    "Meyer",
    "Novak",
    "Rossi",
    "Garcia",
    "Smith",
    "Larsen",
    "Dubois",
    "Kowalski",
    "Silva",
    "Tanaka",
    "Okafor",
)
DOMAINS = ("example.com", "example.org", "example.net", "mail.test")
CATEGORIES = (
    "books",
    "games",
    "toys",
    "electronics",
    "kitchen",
    "garden",
    "sports",
    "music",
    "office",
    "beauty",
)
ADJECTIVES = ("Classic", "Compact", "Deluxe", "Eco", "Smart", "Mini", "Pro", "Vintage")
USER_STATUSES = (("active", 80), ("inactive", 15), ("vip", 5))
ORDER_STATUSES = (("pending", 15), ("paid", 30), ("shipped", 45), ("cancelled", 10))
SETTINGS = (
    ("currency", "EUR"),
    ("tax_rate", "0.19"),
    ("free_shipping_over", "50.00"),
    ("support_email", "help@example.com"),
    ("maintenance_mode", "off"),
)

# A report query as an application would write it: multi-line and indented.
REVENUE_BY_CATEGORY_SQL = """
    SELECT p.category,
           count(*) AS items,
           sum(oi.qty * oi.price) AS revenue
      FROM orders o
      JOIN order_items oi ON oi.order_id = o.id
      JOIN products p ON p.id = oi.product_id
     WHERE o.user_id = %s
     GROUP BY p.category
     ORDER BY revenue DESC
"""


# --------------------------------------------------------------------------- data


@dataclass
class ShopData:
    """All rows of the shop, generated once so both servers get identical data."""

    users: list[tuple[int, str, str, str, datetime]] = field(default_factory=list)
    products: list[tuple[int, str, str, Decimal]] = field(default_factory=list)
    orders: list[tuple[int, int, str, Decimal, datetime]] = field(default_factory=list)
    order_items: list[tuple[int, int, int, int, Decimal]] = field(default_factory=list)

    def users_with_pending_orders(self) -> list[int]:
        """Users the composite-index query actually finds rows for (sorted: deterministic)."""
        return sorted({user_id for _, user_id, status, _, _ in self.orders if status == "pending"})

    def mixed_case_emails(self) -> list[str]:
        """Emails stored with capitals: the reason an app reaches for lower(email)."""
        return [email for _, email, _, _, _ in self.users if email != email.lower()]


def _weighted(rng: random.Random, choices: Sequence[tuple[str, int]]) -> str:
    """One value from (value, weight) pairs."""
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def make_shop_data(seed: int = SEED) -> ShopData:
    """Deterministic rows (fixed seed) so reruns produce the same statements."""
    rng = random.Random(seed)
    data = ShopData()
    user_epoch = datetime(2024, 1, 1)
    for uid in range(1, N_USERS + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = rng.choices(DOMAINS, weights=(6, 2, 1, 1))[0]
        email = f"{first}.{last}{uid}@{domain}"
        if rng.random() > 0.1:  # 10 % keep the capitals the user typed
            email = email.lower()
        created = user_epoch + timedelta(seconds=rng.randrange(600 * 86400))
        data.users.append((uid, email, f"{first} {last}", _weighted(rng, USER_STATUSES), created))
    for pid in range(1, N_PRODUCTS + 1):
        category = rng.choice(CATEGORIES)
        name = f"{rng.choice(ADJECTIVES)} {category.rstrip('s').title()} {pid}"
        price = Decimal(rng.randrange(199, 49999)) / 100
        data.products.append((pid, name, category, price))
    order_epoch = datetime(2025, 6, 1)
    item_id = 0
    for oid in range(1, N_ORDERS + 1):
        total = Decimal("0.00")
        for _ in range(rng.randint(1, 4)):
            product = data.products[rng.randrange(N_PRODUCTS)]
            qty = rng.randint(1, 3)
            item_id += 1
            data.order_items.append((item_id, oid, product[0], qty, product[3]))
            total += qty * product[3]
        created = order_epoch + timedelta(seconds=rng.randrange(270 * 86400))
        data.orders.append(
            (oid, rng.randint(1, N_USERS), _weighted(rng, ORDER_STATUSES), total, created)
        )
    return data


# --------------------------------------------------------------------------- servers


def pg_ctl(action: str) -> None:
    """Debian's wrapper; the redirect to systemctl does not work without systemd."""
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", action], check=True)


def pg_is_ready() -> bool:
    """pg_isready instead of a connection: nothing extra lands in the logs."""
    result = subprocess.run(["pg_isready", "-q", "-h", HOST, "-p", str(PG_PORT)], check=False)
    return result.returncode == 0


def wait_until(ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll `ready` because servers come up (and collectors rotate) asynchronously."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def ensure_postgres_running() -> None:
    """Start the cluster if needed, and undo a conf.d file left by a killed earlier run."""
    if PG_CONF_FILE.exists():
        print(f"removing stale {PG_CONF_FILE} from an interrupted run")
        PG_CONF_FILE.unlink()
        pg_ctl("restart")
    if not pg_is_ready():
        pg_ctl("start")
    wait_until(pg_is_ready, "PostgreSQL")


def mariadb_is_up() -> bool:
    """A connect attempt is the most reliable liveness check for mariadbd."""
    try:
        pymysql.connect(host=HOST, port=MY_PORT, user="root", password="").close()
    except pymysql.MySQLError:
        return False
    return True


def ensure_mariadb_running() -> None:
    """Start mariadbd the way this environment does (no systemd)."""
    if not mariadb_is_up():
        subprocess.run(
            [
                "start-stop-daemon",
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/mariadbd",
            ],
            check=True,
        )
    wait_until(mariadb_is_up, "MariaDB")


def make_dir_owned_by(user: str, prefix: str) -> Path:
    """A scratch log directory the server process (not root) can write into."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o755)
    return path


def pg_connect(*, autocommit: bool = True, bound: bool = False) -> psycopg.Connection[Any]:
    """An app connection: literal SQL via ClientCursor unless `bound` (server-side binding)."""
    return psycopg.connect(
        host=HOST,
        port=PG_PORT,
        user="postgres",
        dbname="test",
        application_name=APP_NAME,
        options="-c search_path=shop",
        autocommit=autocommit,
        cursor_factory=psycopg.Cursor if bound else psycopg.ClientCursor,
    )


def mariadb_connect(
    *, autocommit: bool = True, bound: bool = False, database: str | None = "shop"
) -> pymysql.connections.Connection:
    """An app connection; pymysql always interpolates on the client (`bound` is ignored)."""
    del bound
    return pymysql.connect(
        host=HOST,
        port=MY_PORT,
        user="root",
        password="",
        database=database,
        autocommit=autocommit,
        program_name=APP_NAME,
    )


# --------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class Backend:
    """What differs between the servers; the workload's intent is shared."""

    name: str
    connect: Callable[..., Any]
    key_column: str  # `key` is a reserved word in MariaDB
    day_predicates: tuple[str, ...]
    errors: tuple[type[Exception], ...]

    @contextlib.contextmanager
    def session(self, *, autocommit: bool = True, bound: bool = False) -> Iterator[Any]:
        """One connection per scenario, so each pattern has its own session in the log."""
        conn = self.connect(autocommit=autocommit, bound=bound)
        try:
            yield conn.cursor()
        finally:
            conn.close()


POSTGRES = Backend(
    name="postgres",
    connect=pg_connect,
    key_column="key",
    day_predicates=(
        "created_at::date = '2026-01-05'",
        "date_trunc('day', created_at) = '2026-01-05'",
    ),
    errors=(psycopg.Error,),
)
MARIADB = Backend(
    name="mariadb",
    connect=mariadb_connect,
    key_column="`key`",
    day_predicates=("date(created_at) = '2026-01-05'",),
    errors=(pymysql.MySQLError,),
)


class ShopWorkload:
    """The shop application's statements; each method is one pattern on a given cursor."""

    def __init__(self, backend: Backend, data: ShopData, seed: int = SEED) -> None:
        self.backend = backend
        self.rng = random.Random(seed)  # same picks on both servers
        self.pending_users = data.users_with_pending_orders()
        self.mixed_case_emails = data.mixed_case_emails()

    def pk_lookups(self, cur: Any, n: int) -> None:
        """The well-behaved baseline: primary-key point lookups should NOT be flagged."""
        for _ in range(n):
            cur.execute(
                "SELECT id, name, email FROM users WHERE id = %s", (self.rng.randint(1, N_USERS),)
            )
            cur.fetchall()

    def missing_composite_index(self, cur: Any, n: int) -> None:
        """orders(user_id, status) has no index: a full scan plus sort every time."""
        for user_id in self.rng.sample(self.pending_users, n):
            cur.execute(
                "SELECT id, total, created_at FROM orders WHERE user_id = %s "
                "AND status = 'pending' ORDER BY created_at DESC",
                (user_id,),
            )
            cur.fetchall()

    def select_star(self, cur: Any) -> None:
        """SELECT * fetches every column when the page shows two."""
        for category in ("electronics", "kitchen", "garden", "music"):
            cur.execute("SELECT * FROM products WHERE category = %s", (category,))
            cur.fetchall()

    def or_chain(self, cur: Any, n: int = 3) -> None:
        """OR on one column, the textbook case for IN (...)."""
        for _ in range(n):
            cur.execute(
                "SELECT id, name FROM products WHERE category = 'books' "
                "OR category = 'games' OR category = 'toys'"
            )
            cur.fetchall()

    def function_on_column(self, cur: Any, n: int = 5) -> None:
        """lower(email) / date(created_at) make any index on the column unusable."""
        for email in self.rng.sample(self.mixed_case_emails, n):
            cur.execute("SELECT id, name FROM users WHERE lower(email) = %s", (email.lower(),))
            cur.fetchall()
        for predicate in self.backend.day_predicates:
            cur.execute(f"SELECT id, user_id, total FROM orders WHERE {predicate}")
            cur.fetchall()

    def leading_wildcard(self, cur: Any, n: int = 3) -> None:
        """LIKE '%…' cannot use a b-tree index."""
        for _ in range(n):
            cur.execute("SELECT id, email FROM users WHERE email LIKE '%@example.org'")
            cur.fetchall()

    def n_plus_one(self, cur: Any, n: int = 30) -> None:
        """One list query, then one query per row: the classic ORM lazy load."""
        cur.execute(f"SELECT id, name FROM users WHERE status = 'vip' ORDER BY id LIMIT {n}")
        for user_id, _name in cur.fetchall():
            cur.execute("SELECT id, total FROM orders WHERE user_id = %s", (user_id,))
            cur.fetchall()

    def row_by_row_writes(self, cur: Any, inserts: int = 200, updates: int = 50) -> None:
        """Single-row statements each committed on their own (autocommit) instead of a batch."""
        for _ in range(inserts):
            price = Decimal(self.rng.randrange(199, 49999)) / 100
            cur.execute(
                "INSERT INTO order_items (order_id, product_id, qty, price) "
                "VALUES (%s, %s, %s, %s)",
                (
                    self.rng.randint(1, N_ORDERS),
                    self.rng.randint(1, N_PRODUCTS),
                    self.rng.randint(1, 3),
                    price,
                ),
            )
        for _ in range(updates):
            cur.execute(
                "UPDATE users SET status = %s WHERE id = %s",
                (self.rng.choice(("active", "inactive")), self.rng.randint(1, N_USERS)),
            )

    def deep_offset(self, cur: Any) -> None:
        """OFFSET pagination reads and throws away every skipped row."""
        for offset in range(0, 1801, 100):
            cur.execute(f"SELECT id, name FROM products ORDER BY id LIMIT 20 OFFSET {offset}")
            cur.fetchall()
        for offset in (49_900, 49_950, 50_000):
            cur.execute(
                f"SELECT id, user_id, total FROM orders ORDER BY id LIMIT 50 OFFSET {offset}"
            )
            cur.fetchall()

    def cacheable_repeats(self, cur: Any, n: int = 60, pause: float = 0.05) -> None:
        """The same constant lookup over and over within seconds: belongs in a cache."""
        sql = f"SELECT value FROM settings WHERE {self.backend.key_column} = 'currency'"
        for _ in range(n):
            cur.execute(sql)
            cur.fetchall()
            time.sleep(pause)

    def connection_churn(self, n: int = 40) -> None:
        """A new connection per tiny query: no pool (log_connections shows it on PG)."""
        sql = f"SELECT value FROM settings WHERE {self.backend.key_column} = 'maintenance_mode'"
        for _ in range(n):
            with self.backend.session() as cur:
                cur.execute(sql)
                cur.fetchall()

    def unbounded_result(self, cur: Any, n: int = 3) -> None:
        """Every row of a big table to the client: no LIMIT, no pagination."""
        for _ in range(n):
            cur.execute("SELECT id, email FROM users")
            cur.fetchall()

    def statement_shapes(self, cur: Any) -> None:
        """Shapes a parser/normaliser must survive: newlines, comments, IN lists of any length."""
        for user_id in self.rng.sample(self.pending_users, 2):
            cur.execute(REVENUE_BY_CATEGORY_SQL, (user_id,))
            cur.fetchall()
        cur.execute(
            "/* dashboard: bestsellers */ SELECT product_id, sum(qty) AS sold "
            "FROM order_items GROUP BY product_id ORDER BY sold DESC LIMIT 10"
        )
        cur.fetchall()
        cur.execute("SELECT count(*) FROM orders WHERE status = 'pending' -- header badge")
        cur.fetchall()
        for size in (1, 2, 3, 5, 8, 13):
            ids = self.rng.sample(range(1, N_PRODUCTS + 1), size)
            placeholders = ", ".join(["%s"] * size)
            cur.execute(f"SELECT id, name, price FROM products WHERE id IN ({placeholders})", ids)
            cur.fetchall()

    def checkout(self, cur: Any) -> None:
        """One explicit transaction: an order plus a multi-row INSERT of its items."""
        lines = [
            (
                self.rng.randint(1, N_PRODUCTS),
                self.rng.randint(1, 3),
                Decimal(self.rng.randrange(199, 9999)) / 100,
            )
            for _ in range(3)
        ]
        total = sum((qty * price for _, qty, price in lines), Decimal("0.00"))
        cur.execute(
            "INSERT INTO orders (user_id, status, total, created_at) "
            "VALUES (%s, 'pending', %s, %s) RETURNING id",
            (self.rng.choice(self.pending_users), total, datetime(2026, 1, 5, 12, 30)),
        )
        order_id = cur.fetchone()[0]
        values = ", ".join(["(%s, %s, %s, %s)"] * len(lines))
        params = [v for product, qty, price in lines for v in (order_id, product, qty, price)]
        cur.execute(
            f"INSERT INTO order_items (order_id, product_id, qty, price) VALUES {values}", params
        )
        cur.connection.commit()

    def errors(self, cur: Any) -> None:
        """Failing statements: the servers log these differently from successful ones."""
        key = self.backend.key_column
        for sql in (
            "SELEC id, name FROM users WHERE id = 42",
            f"INSERT INTO settings ({key}, value) VALUES ('currency', 'USD')",
            "SELECT id, nickname FROM users WHERE id = 7",
        ):
            with contextlib.suppress(*self.backend.errors):
                cur.execute(sql)


def pause() -> None:
    """A short gap between scenarios so they are easy to tell apart by timestamp."""
    time.sleep(0.3)


def run_full_workload(wl: ShopWorkload) -> None:
    """Every scenario, each in its own session (items 1-14 of the brief)."""
    b = wl.backend
    steps: list[tuple[str, Callable[[Any], None], bool]] = [
        ("pk lookups", lambda cur: wl.pk_lookups(cur, 100), False),
        ("missing composite index", lambda cur: wl.missing_composite_index(cur, 40), False),
        ("select *", wl.select_star, False),
        ("or chain", wl.or_chain, False),
        ("function on column", wl.function_on_column, False),
        ("leading wildcard", wl.leading_wildcard, False),
        ("n+1", wl.n_plus_one, True),
        ("row-by-row writes", wl.row_by_row_writes, False),
        ("deep offset", wl.deep_offset, False),
        ("cacheable repeats", wl.cacheable_repeats, False),
        ("unbounded result", wl.unbounded_result, False),
        ("statement shapes", wl.statement_shapes, False),
        ("errors", wl.errors, False),
    ]
    for label, step, bound in steps:
        print(f"  {b.name}: {label}")
        with b.session(bound=bound) as cur:
            step(cur)
        pause()
    print(f"  {b.name}: checkout transaction")
    with b.session(autocommit=False) as cur:
        wl.checkout(cur)
    pause()
    print(f"  {b.name}: connection churn")
    wl.connection_churn()
    pause()


def run_auto_explain_session(wl: ShopWorkload) -> None:
    """PG only: auto_explain loaded per session logs a plan block per statement."""
    print("  postgres: auto_explain session")
    with wl.backend.session() as cur:
        cur.execute("LOAD 'auto_explain'")
        cur.execute("SET auto_explain.log_min_duration = 0")
        wl.missing_composite_index(cur, 2)
        wl.or_chain(cur, 1)
        wl.function_on_column(cur, 1)
        cur.execute("SELECT id, user_id, total FROM orders ORDER BY id LIMIT 50 OFFSET 50000")
        cur.fetchall()


def run_pgbadger_subset(wl: ShopWorkload) -> None:
    """A short run for the pgBadger-prefix log: lookups, composite index, N+1, errors."""
    b = wl.backend
    print("  postgres (pgbadger prefix): subset")
    with b.session() as cur:
        wl.pk_lookups(cur, 10)
    with b.session() as cur:
        wl.missing_composite_index(cur, 5)
    with b.session(bound=True) as cur:
        wl.n_plus_one(cur, 10)
    with b.session() as cur:
        wl.errors(cur)


# --------------------------------------------------------------------------- postgres

PG_TABLES_SQL = """
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;
CREATE TABLE shop.users (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    email text NOT NULL, name text NOT NULL, status text NOT NULL,
    created_at timestamp NOT NULL);
CREATE TABLE shop.products (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name text NOT NULL, category text NOT NULL, price numeric(10,2) NOT NULL);
CREATE TABLE shop.orders (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id integer NOT NULL, status text NOT NULL, total numeric(12,2) NOT NULL,
    created_at timestamp NOT NULL);
CREATE TABLE shop.order_items (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    order_id integer NOT NULL, product_id integer NOT NULL, qty integer NOT NULL,
    price numeric(10,2) NOT NULL);
CREATE TABLE shop.settings (key text PRIMARY KEY, value text NOT NULL);
"""

TABLE_COLUMNS = {
    "users": "id, email, name, status, created_at",
    "products": "id, name, category, price",
    "orders": "id, user_id, status, total, created_at",
    "order_items": "id, order_id, product_id, qty, price",
}


def table_rows(data: ShopData) -> dict[str, Sequence[tuple[Any, ...]]]:
    """Rows per table, in load order."""
    return {
        "users": data.users,
        "products": data.products,
        "orders": data.orders,
        "order_items": data.order_items,
    }


def setup_postgres(data: ShopData) -> None:
    """(Re)create and fill the shop schema with statement logging off in this session."""
    with pg_connect() as conn, conn.cursor() as cur:
        cur.execute("SET log_min_duration_statement = -1")
        cur.execute("SET log_statement = 'none'")
        cur.execute(PG_TABLES_SQL)
        for table, rows in table_rows(data).items():
            with cur.copy(f"COPY shop.{table} ({TABLE_COLUMNS[table]}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('shop.{table}', 'id'), "
                f"(SELECT max(id) FROM shop.{table}))"
            )
        cur.executemany("INSERT INTO shop.settings (key, value) VALUES (%s, %s)", SETTINGS)
        cur.execute(
            "ANALYZE shop.users, shop.products, shop.orders, shop.order_items, shop.settings"
        )


def write_pg_conf(log_dir: Path, *, destinations: str, filename: str, prefix: str) -> None:
    """Our own conf.d file (90-ci.conf stays untouched); removed again in the end."""
    PG_CONF_FILE.write_text(
        "# Written by perftui scripts/generate_sample_logs.py; removed when it finishes.\n"
        "logging_collector = on\n"
        f"log_destination = '{destinations}'\n"
        f"log_directory = '{log_dir}'\n"
        f"log_filename = '{filename}'\n"
        "log_file_mode = 0644\n"
        "log_rotation_age = 0\n"
        "log_rotation_size = 0\n"
        f"log_line_prefix = '{prefix}'\n"
        "log_connections = on\n"
        "log_disconnections = on\n"
        "log_min_duration_statement = 0\n"
        "lc_messages = 'C'\n"
    )
    PG_CONF_FILE.chmod(0o644)


def check_pg_logging() -> None:
    """Fail early if something (e.g. postgresql.auto.conf) overrides our settings."""
    expected = {
        "logging_collector": "on",
        "log_min_duration_statement": "0",
        "log_connections": "on",
        "lc_messages": "C",
    }
    with pg_connect() as conn, conn.cursor() as cur:
        for name, want in expected.items():
            cur.execute(f"SHOW {name}")
            got = cur.fetchone()[0]
            if got != want:
                raise RuntimeError(f"PostgreSQL {name} is {got!r}, expected {want!r}")


def start_clean(paths: Sequence[Path]) -> None:
    """Let startup/check messages drain, then empty the files; the collector appends on."""
    time.sleep(SETTLE_SECONDS)
    for path in paths:
        wait_until(path.exists, f"{path} to be created", timeout=10)
        os.truncate(path, 0)


def collect(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Copy the logs verbatim once the last disconnection lines have been written."""
    time.sleep(SETTLE_SECONDS)
    for src, dst in pairs:
        shutil.copyfile(src, dst)


def generate_postgres(data: ShopData, out: Path) -> list[Path]:
    """Main run (stderr + csvlog + jsonlog), then a short run with pgBadger's prefix."""
    ensure_postgres_running()
    print("postgres: creating and filling schema shop (not logged)")
    setup_postgres(data)
    log_dir = make_dir_owned_by("postgres", "perftui-pglogs-")
    main = log_dir / PG_MAIN_LOG
    main_files = [main, main.with_suffix(".csv"), main.with_suffix(".json")]
    badger = log_dir / PG_BADGER_LOG
    outputs = [out / "postgresql.log", out / "postgresql.csv", out / "postgresql.json"]
    badger_out = out / "postgresql-pgbadger-prefix.log"
    try:
        write_pg_conf(
            log_dir,
            destinations="stderr,csvlog,jsonlog",
            filename=PG_MAIN_LOG,
            prefix=PG_MAIN_PREFIX,
        )
        pg_ctl("restart")
        wait_until(pg_is_ready, "PostgreSQL")
        check_pg_logging()
        start_clean(main_files)
        wl = ShopWorkload(POSTGRES, data)
        run_full_workload(wl)
        run_auto_explain_session(wl)
        collect(list(zip(main_files, outputs, strict=True)))

        # log_line_prefix and log_filename are reloadable; the collector rotates to the
        # new file name on SIGHUP, so no restart is needed for the second log.
        write_pg_conf(
            log_dir, destinations="stderr", filename=PG_BADGER_LOG, prefix=PG_BADGER_PREFIX
        )
        pg_ctl("reload")
        start_clean([badger])
        run_pgbadger_subset(ShopWorkload(POSTGRES, data))
        collect([(badger, badger_out)])
    finally:
        PG_CONF_FILE.unlink(missing_ok=True)
        pg_ctl("restart")
        wait_until(pg_is_ready, "PostgreSQL")
        shutil.rmtree(log_dir, ignore_errors=True)
    return [*outputs, badger_out]


# --------------------------------------------------------------------------- mariadb

MY_TABLES_SQL = (
    "DROP DATABASE IF EXISTS shop",
    "CREATE DATABASE shop",
    "USE shop",
    """CREATE TABLE users (
        id int NOT NULL AUTO_INCREMENT PRIMARY KEY, email varchar(120) NOT NULL,
        name varchar(80) NOT NULL, status varchar(16) NOT NULL, created_at datetime NOT NULL
    ) ENGINE=InnoDB""",
    """CREATE TABLE products (
        id int NOT NULL AUTO_INCREMENT PRIMARY KEY, name varchar(120) NOT NULL,
        category varchar(40) NOT NULL, price decimal(10,2) NOT NULL
    ) ENGINE=InnoDB""",
    """CREATE TABLE orders (
        id int NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id int NOT NULL,
        status varchar(16) NOT NULL, total decimal(12,2) NOT NULL, created_at datetime NOT NULL
    ) ENGINE=InnoDB""",
    """CREATE TABLE order_items (
        id int NOT NULL AUTO_INCREMENT PRIMARY KEY, order_id int NOT NULL,
        product_id int NOT NULL, qty int NOT NULL, price decimal(10,2) NOT NULL
    ) ENGINE=InnoDB""",
    """CREATE TABLE settings (
        `key` varchar(64) NOT NULL PRIMARY KEY, value varchar(255) NOT NULL
    ) ENGINE=InnoDB""",
)

MY_SLOW_GLOBALS = ("slow_query_log", "slow_query_log_file", "long_query_time", "log_slow_verbosity")


def setup_mariadb(data: ShopData) -> None:
    """(Re)create and fill database shop; this session never writes to the slow log."""
    conn = mariadb_connect(autocommit=False, database=None)
    try:
        cur = conn.cursor()
        cur.execute("SET SESSION slow_query_log = 0")
        for sql in MY_TABLES_SQL:
            cur.execute(sql)
        for table, rows in table_rows(data).items():
            columns = TABLE_COLUMNS[table]
            marks = ", ".join(["%s"] * len(columns.split(",")))
            # pymysql turns executemany of INSERT ... VALUES into multi-row INSERTs.
            cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        cur.executemany("INSERT INTO settings (`key`, value) VALUES (%s, %s)", SETTINGS)
        conn.commit()
        cur.execute("ANALYZE TABLE users, products, orders, order_items, settings")
        cur.fetchall()
    finally:
        conn.close()


def read_mariadb_globals(cur: Any) -> dict[str, Any]:
    """The slow-log settings to put back afterwards."""
    cur.execute("SELECT " + ", ".join(f"@@GLOBAL.{name}" for name in MY_SLOW_GLOBALS))
    saved = dict(zip(MY_SLOW_GLOBALS, cur.fetchone(), strict=True))
    if "perftui-mylogs-" in str(saved["slow_query_log_file"]):
        # Left over from a killed run: fall back to the server defaults.
        cur.execute("SELECT @@hostname")
        saved.update(
            slow_query_log=0,
            slow_query_log_file=f"{cur.fetchone()[0]}-slow.log",
            long_query_time=10,
            log_slow_verbosity="",
        )
    return saved


def restore_mariadb_globals(cur: Any, saved: dict[str, Any]) -> None:
    """Slow log off first (as the brief asks), then the previous file/threshold/verbosity."""
    cur.execute("SET GLOBAL slow_query_log = 0")
    cur.execute("SET GLOBAL slow_query_log_file = %s", (saved["slow_query_log_file"],))
    cur.execute("SET GLOBAL long_query_time = %s", (float(saved["long_query_time"]),))
    cur.execute("SET GLOBAL log_slow_verbosity = %s", (saved["log_slow_verbosity"],))
    if int(saved["slow_query_log"]):
        cur.execute("SET GLOBAL slow_query_log = 1")


def generate_mariadb(data: ShopData, out: Path) -> list[Path]:
    """One run with the slow log at long_query_time=0 and log_slow_verbosity=query_plan."""
    ensure_mariadb_running()
    print("mariadb: creating and filling database shop (not logged)")
    setup_mariadb(data)
    log_dir = make_dir_owned_by("mysql", "perftui-mylogs-")
    slow_log = log_dir / "mariadb-slow.log"
    target = out / "mariadb-slow.log"
    admin = mariadb_connect(database=None)
    try:
        cur = admin.cursor()
        cur.execute("SET SESSION slow_query_log = 0")  # keep the admin session out of the log
        saved = read_mariadb_globals(cur)
        try:
            cur.execute("SET GLOBAL slow_query_log_file = %s", (str(slow_log),))
            cur.execute("SET GLOBAL long_query_time = 0")
            cur.execute("SET GLOBAL log_slow_verbosity = 'query_plan'")
            cur.execute("SET GLOBAL slow_query_log = 1")  # opens the file, writes the header
            run_full_workload(ShopWorkload(MARIADB, data))
        finally:
            restore_mariadb_globals(cur, saved)
        shutil.copyfile(slow_log, target)
    finally:
        admin.close()
        shutil.rmtree(log_dir, ignore_errors=True)
    return [target]


# --------------------------------------------------------------------------- main


def summarize(paths: Sequence[Path]) -> None:
    """Lines and size per file: the quick sanity check before committing the samples."""
    print("\nwritten:")
    for path in paths:
        raw = path.read_bytes()
        lines = raw.count(b"\n")
        print(f"  {path.name:34} {lines:6} lines {len(raw):9} bytes")


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the sample logs for the selected servers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", choices=("postgres", "mariadb"), help="regenerate the logs of one server only"
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(
            "must run as root: writes PostgreSQL conf.d and restarts the cluster", file=sys.stderr
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    data = make_shop_data()
    written: list[Path] = []
    if args.only in (None, "postgres"):
        written += generate_postgres(data, args.out)
    if args.only in (None, "mariadb"):
        written += generate_mariadb(data, args.out)
    summarize(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
