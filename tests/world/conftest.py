"""Fixtures for the world's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from worldfiles import Truth, load_truth


@pytest.fixture(scope="session")
def truth(world: Path) -> Truth:
    """The test world's truth."""
    return load_truth(world)
