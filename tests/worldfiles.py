"""Readers of a test world's truth and extracts, for checking one against the other."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from connectors.ingest import LoadReport
from connectors.warehouse import Warehouse
from world.config import NightlyRates, WorldConfig
from world.life import Timeline

# Busier nights than the default so that a few nights give enough changes to measure.
BUSY_NIGHTS = NightlyRates(
    move=0.01,
    birth=0.004,
    death=0.001,
    marriage=0.004,
    correction=0.05,
    deletion=0.02,
    event_correction=0.02,
    event_deletion=0.01,
)
TEST_WORLD = WorldConfig(people=8_000, seed=11, nights=4, nightly=BUSY_NIGHTS)


@dataclass(frozen=True)
class Truth:
    """The truth of a world, as frames."""

    records: pl.DataFrame
    persons: pl.DataFrame
    addresses: pl.DataFrame
    residence: pl.DataFrame
    surnames: pl.DataFrame
    life_events: pl.DataFrame
    events: pl.DataFrame
    event_records: pl.DataFrame
    manifest: dict[str, object]

    def state(self, night: int) -> pl.DataFrame:
        """person_id, household_id, address_id, last_name and postcode on a night."""
        timeline = Timeline(self.persons, self.residence, self.surnames, self.life_events)
        return (
            timeline.where_on(night)
            .drop("night")
            .join(self.addresses.select("address_id", "postcode"), on="address_id")
        )


def extract(world: Path, night: int, partner: str, name: str) -> Path:
    """Path of one partner file on a night (0 is the first)."""
    manifest = json.loads((world / "world.json").read_text())
    return world / "extracts" / manifest["nights"][night]["date"] / partner / name


def read_tsv(path: Path) -> pl.DataFrame:
    """Revenues and benefits' TSV: BOM, tabs, CRLF, everything as text."""
    return pl.read_csv(path, separator="\t", infer_schema=False, encoding="utf8")


def load_truth(world: Path) -> Truth:
    """Read every truth table of a world folder."""
    t = world / "truth"
    return Truth(
        records=pl.read_parquet(t / "records.parquet"),
        persons=pl.read_parquet(t / "persons.parquet"),
        addresses=pl.read_parquet(t / "addresses.parquet"),
        residence=pl.read_parquet(t / "residence.parquet"),
        surnames=pl.read_parquet(t / "surnames.parquet"),
        life_events=pl.read_parquet(t / "life_events.parquet"),
        events=pl.read_parquet(t / "events.parquet"),
        event_records=pl.read_parquet(t / "event_records.parquet"),
        manifest=json.loads((world / "world.json").read_text()),
    )


@dataclass
class Loaded:
    """A warehouse holding every night of the test world, and what each night's load said."""

    warehouse: Warehouse
    reports: dict[dt.date, list[LoadReport]]


SOURCES_FILE = Path(__file__).parent.parent / "pipelines" / "config" / "sources.yaml"


@contextmanager
def partner_environment(world: Path, police_url: str, token: str) -> Iterator[None]:
    """The environment the world's sources file reads: world folder, police URL and token."""
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    os.environ.update(
        {
            "JOINEDUP_WORLD": str(world),
            "JOINEDUP_POLICE_URL": police_url,
            "JOINEDUP_POLICE_TOKEN": token,
        }
    )
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


ENV_KEYS = ("JOINEDUP_WORLD", "JOINEDUP_POLICE_URL", "JOINEDUP_POLICE_TOKEN")
