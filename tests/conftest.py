"""Fixtures shared by the whole suite: small worlds made once a session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import pg_bin, postgres
from worldfiles import TEST_WORLD

from world.generate import generate


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8,000-person world over four busy nights."""
    out = tmp_path_factory.mktemp("world") / "w"
    generate(TEST_WORLD, out)
    return out


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 for this test session."""
    if pg_bin() is None:
        pytest.fail("PostgreSQL is not installed: run scripts/install-test-servers")
    with postgres() as url:
        yield url
