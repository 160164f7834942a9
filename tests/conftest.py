"""Shared fixtures: paths to the real sample logs and connections to the local servers.

Server fixtures skip with the reason when nothing answers on 127.0.0.1, unless
PERFTUI_REQUIRE_SERVERS=1 (set by .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LOGS = ROOT / "sample_logs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "test"}


def _need_server(reason: str) -> None:
    if os.environ.get("PERFTUI_REQUIRE_SERVERS") == "1":
        pytest.fail(f"PERFTUI_REQUIRE_SERVERS=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """DSN of the local PostgreSQL (skips when unreachable)."""
    try:
        import psycopg

        with psycopg.connect(PG_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        _need_server(f"no PostgreSQL on 127.0.0.1:5432 ({type(exc).__name__}: {exc})")
    return PG_DSN


@pytest.fixture(scope="session")
def mysql_params() -> dict:
    """Connection parameters of the local MariaDB/MySQL (skips when unreachable)."""
    try:
        import pymysql

        conn = pymysql.connect(connect_timeout=3, **MYSQL)
        conn.close()
    except Exception as exc:
        _need_server(f"no MariaDB/MySQL on 127.0.0.1:3306 ({type(exc).__name__}: {exc})")
    return dict(MYSQL)


def sample(name: str) -> Path:
    """A committed real log from sample_logs/ (they are part of the repo: missing = a bug)."""
    path = SAMPLE_LOGS / name
    assert path.exists(), f"sample log {path} is missing; run scripts/generate_sample_logs.py"
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "perftui.duckdb"
