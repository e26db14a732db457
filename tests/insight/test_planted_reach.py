"""A world that plants a seldom-heard group (partners record half of its events), loaded
and linked through the product: the insight report's reach table finds that group, and
only that group, under-served among the people whose group is known (those of unknown
group, known to one register, are reached least of all, plant or none); the same world
without the plant finds none."""

from __future__ import annotations

from pathlib import Path

import pytest
from worldfiles import SOURCES_FILE, partner_environment

from connectors.config import load_sources
from connectors.ingest import ingest_night
from connectors.warehouse import Warehouse
from insight.report import build_report
from matching import link_night, train_model
from world.config import UnderReach, WorldConfig
from world.generate import generate
from world.police_api import BackgroundServer

pytestmark = pytest.mark.slow

SELDOM = "white_other_european"


def _served_under_reached(tmp: Path, cfg: WorldConfig) -> list[str]:
    world = generate(cfg, tmp / "world").out
    warehouse = tmp / "warehouse.duckdb"
    (night,) = cfg.night_dates()
    with BackgroundServer(world, "tok") as api, partner_environment(world, api.url, "tok"):
        wh = Warehouse(warehouse)
        try:
            ingest_night(wh, load_sources(SOURCES_FILE), night)
        finally:
            wh.close()
    link_night(warehouse, night, train_model(warehouse, tmp / "models"), 0.9)
    start = cfg.first_night.replace(year=cfg.first_night.year - 1)
    report = build_report(warehouse, start, night)
    table = report["reach"]["served"]["ethnicity"]
    return [
        r["group"]
        for r in table["rows"]
        if r["group"] != "unknown" and isinstance(r["high"], float) and r["high"] < 1
    ]


def test_the_planted_seldom_heard_group_is_the_one_found(tmp_path: Path) -> None:
    base = WorldConfig(people=8_000, seed=31, nights=1)
    planted = base.model_copy(update={"under_reach": UnderReach(ethnicity=SELDOM)})
    found = _served_under_reached(tmp_path / "planted", planted)
    assert found == ["white_other"]  # risk.yaml's name for the group's codes
    assert _served_under_reached(tmp_path / "plain", base) == []
