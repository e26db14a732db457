"""The risk tests' world: a few thousand people with two years of history, loaded and linked
for two nights, and a risk model trained on it; built once a session and copied by tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from worldfiles import SOURCES_FILE, partner_environment

from connectors.config import load_sources
from connectors.ingest import ingest_night
from connectors.warehouse import Warehouse
from matching import link_night, train_model
from pipelines.environment import models_dir
from risk_models import train_risk
from world.config import WorldConfig
from world.generate import generate
from world.police_api import BackgroundServer

# Enough people that the held-out half has over the 50 outcomes training needs; the
# default 730 days of history, so the features' longest window fits before training's
# as-of date.
WORLD = WorldConfig(people=5_000, seed=3, nights=2)
N1, N2 = WORLD.night_dates()


@dataclass(frozen=True)
class RiskWorld:
    """The world, its warehouse linked for both nights (nothing scored), and the models."""

    world: Path
    warehouse: Path
    models: Path  # linkage-v1.json and risk-v1/
    train_lines: tuple[str, ...]

    def data(self, to: Path, risk_model: bool = True) -> Path:
        """A data folder of one's own (for JOINEDUP_DATA): the warehouse and the models."""
        to.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.warehouse, to / "warehouse.duckdb")
        (to / "models").mkdir(exist_ok=True)
        shutil.copy(self.models / "linkage-v1.json", to / "models")
        if risk_model:
            shutil.copytree(self.models / "risk-v1", to / "models" / "risk-v1")
        return to


def risk_world(factory: pytest.TempPathFactory) -> RiskWorld:
    """The session's risk world, built by the first test module that asks for it."""
    root = factory.getbasetemp() / "risk_world"
    done = root / "train_lines.txt"
    if not done.is_file():
        shutil.rmtree(root, ignore_errors=True)
        world = generate(WORLD, root / "world").out
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("JOINEDUP_DATA", str(root))  # where models are saved
            patch.delenv("JOINEDUP_WAREHOUSE", raising=False)
            warehouse = root / "warehouse.duckdb"
            with BackgroundServer(world, "tok") as api, partner_environment(world, api.url, "tok"):
                for night in (N1, N2):
                    wh = Warehouse(warehouse)
                    try:
                        ingest_night(wh, load_sources(SOURCES_FILE), night)
                    finally:
                        wh.close()
                    if night == N1:
                        model = train_model(warehouse, models_dir())
                    link_night(warehouse, night, model, 0.9)
            report = train_risk(warehouse, models_dir(), world)
        done.write_text("\n".join(report.lines))
    return RiskWorld(
        root / "world",
        root / "warehouse.duckdb",
        root / "models",
        tuple(done.read_text().splitlines()),
    )
