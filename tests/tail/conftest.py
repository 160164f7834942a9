"""Fixtures for the tail tests."""

from __future__ import annotations

import pytest

from tests.tail.helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
