"""Fixtures shared by the whole suite: small worlds made once a session."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings
from servers import pg_bin, postgres
from worldfiles import TEST_WORLD

from pipelines.environment import PACKAGE
from world.generate import generate

# The properties are about results, not speed: on a loaded two-core machine running the
# suite in parallel, one example can take longer than Hypothesis's default 200 ms.
settings.register_profile("joinedup", deadline=None)
settings.load_profile("joinedup")


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


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty operational store: a SQLite file, or a database on a real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"store_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Dagster's instance (where `joinedup run` records its runs) in a folder of the test
    session's, with joinedup's dagster.yaml, never the repository's: set for the whole
    session, so that session and module fixtures that run nights use it too."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(PACKAGE / "dagster_home" / "dagster.yaml", home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        yield home
