"""The test world loaded night by night into a warehouse, once for the connectors' tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from worldfiles import SOURCES_FILE, TEST_WORLD, Loaded, partner_environment

from connectors.config import load_sources
from connectors.ingest import LoadReport, ingest_night
from connectors.warehouse import Warehouse
from world.police_api import BackgroundServer


@pytest.fixture(scope="session")
def loaded(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """Every night of the test world, loaded in order."""
    wh = Warehouse(tmp_path_factory.mktemp("wh") / "warehouse.duckdb")
    reports: dict[dt.date, list[LoadReport]] = {}
    with (
        BackgroundServer(world, "t0ken") as server,
        partner_environment(world, server.url, "t0ken"),
    ):
        sources = load_sources(SOURCES_FILE)
        for night in TEST_WORLD.night_dates():
            reports[night] = ingest_night(wh, sources, night)
    yield Loaded(wh, reports)
    wh.close()
