"""The hardening suite registers its ``slow`` marker here (the 50 MB line): slow, but always run."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes seconds (big inputs); still part of every run")
