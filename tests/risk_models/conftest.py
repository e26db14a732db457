"""A small world ingested and linked on each of its nights, made once a session for risk."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from worldfiles import SOURCES_FILE, partner_environment

from connectors.config import load_sources
from connectors.ingest import ingest_night
from connectors.warehouse import Warehouse
from matching import link_night
from matching.link import train
from world.config import WorldConfig
from world.generate import generate
from world.police_api import BackgroundServer

RISK_WORLD = WorldConfig(people=2_500, seed=23, nights=2)


@dataclass(frozen=True)
class LinkedWorld:
    """A world folder, and a warehouse holding its nights ingested and linked."""

    world: Path
    warehouse: Path
    nights: list[dt.date]

    def copy(self, folder: Path) -> duckdb.DuckDBPyConnection:
        """A writable connection to a copy of the warehouse, for planting rows."""
        target = folder / "warehouse.duckdb"
        shutil.copyfile(self.warehouse, target)
        return duckdb.connect(str(target))

    def read(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the warehouse itself."""
        return duckdb.connect(str(self.warehouse), read_only=True)


@pytest.fixture(scope="session")
def linked_world(tmp_path_factory: pytest.TempPathFactory) -> LinkedWorld:
    """RISK_WORLD's nights loaded and linked night by night (about 15 s)."""
    root = tmp_path_factory.mktemp("risk")
    world = generate(RISK_WORLD, root / "world").out
    nights = RISK_WORLD.night_dates()
    wh = Warehouse(root / "warehouse.duckdb")
    try:
        with (
            BackgroundServer(world, "t0ken") as server,
            partner_environment(world, server.url, "t0ken"),
        ):
            for night in nights:
                reports = ingest_night(wh, load_sources(SOURCES_FILE), night)
                assert all(r.status in ("complete", "unchanged") for r in reports), [
                    r.line() for r in reports
                ]
        records = wh.frame("SELECT * FROM person_records WHERE valid_from = ?", [nights[0]])
    finally:
        wh.close()
    model = root / "linkage-v1.json"
    model.write_text(json.dumps({"splink_model": train(records, max_pairs=1e6).model}, default=str))
    for night in nights:
        assert link_night(root / "warehouse.duckdb", night, model, 0.9).status == "linked"
    return LinkedWorld(world, root / "warehouse.duckdb", nights)


@pytest.fixture
def planted(linked_world: LinkedWorld, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable copy of the linked warehouse, for one test to plant rows in."""
    con = linked_world.copy(tmp_path)
    try:
        yield con
    finally:
        con.close()
