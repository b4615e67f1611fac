"""Fixtures of the simulator tests."""

from __future__ import annotations

import pytest

from tests.firmware_sim.common import small_grid
from twin.grid.cells import Grid


@pytest.fixture
def grid() -> Grid:
    return small_grid()
