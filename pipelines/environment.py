"""Where joinedup keeps things on this machine: read from the environment in one place."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).parent
STORE_VARIABLE = "JOINEDUP_STORE"  # as alerts.store.store_url reads it


def data_dir() -> Path:
    """The folder for the warehouse and the demo world: $JOINEDUP_DATA, else ./data."""
    return Path(os.environ.get("JOINEDUP_DATA", "data")).resolve()


def world_dir() -> Path:
    """The world whose extracts the partners' config reads: $JOINEDUP_WORLD, else data/world."""
    return Path(os.environ.get("JOINEDUP_WORLD", str(data_dir() / "world"))).resolve()


def warehouse_path() -> Path:
    """The DuckDB warehouse: $JOINEDUP_WAREHOUSE, else data/warehouse.duckdb."""
    return Path(os.environ.get("JOINEDUP_WAREHOUSE", str(data_dir() / "warehouse.duckdb")))


def warehouse_wait() -> float:
    """Seconds a load waits for another process to let go of the warehouse:
    $JOINEDUP_WAREHOUSE_WAIT, else 60."""
    return float(os.environ.get("JOINEDUP_WAREHOUSE_WAIT", "60"))


def sources_file() -> Path:
    """The partners' config: $JOINEDUP_SOURCES, else the one shipped in pipelines/config."""
    return Path(os.environ.get("JOINEDUP_SOURCES", str(PACKAGE / "config" / "sources.yaml")))


def dagster_home() -> Path:
    """Dagster's instance folder (its dagster.yaml: telemetry off, one step at a time on the
    warehouse), where `joinedup run` records its runs too: $DAGSTER_HOME, else
    pipelines/dagster_home."""
    return Path(os.environ.get("DAGSTER_HOME", str(PACKAGE / "dagster_home")))


def police_token() -> str | None:
    """The bearer token for the police partner's API, if one is set."""
    return os.environ.get("JOINEDUP_POLICE_TOKEN")


def set_world_defaults() -> None:
    """Point the partners' config at the local world if nothing else is set."""
    os.environ.setdefault("JOINEDUP_WORLD", str(world_dir()))


def store_url() -> str:
    """The operational store (alerts, case packs, the inbox): $JOINEDUP_STORE, else SQLite
    in the data folder."""
    from alerts.store import store_url as default_store

    return default_store(data_dir())


def store_variable() -> str | None:
    """The environment variable that holds the store's URL, if it is set (JOINEDUP_STORE):
    Dagster reads the URL through it, since it may hold a password."""
    return STORE_VARIABLE if os.environ.get(STORE_VARIABLE) else None


def alerts_file() -> Path:
    """The alerts config: $JOINEDUP_ALERTS, else pipelines/config/alerts.yaml."""
    return Path(os.environ.get("JOINEDUP_ALERTS", str(PACKAGE / "config" / "alerts.yaml")))


def insight_file() -> Path:
    """The insight config (the disclosure rule): $JOINEDUP_INSIGHT, else
    pipelines/config/insight.yaml."""
    return Path(os.environ.get("JOINEDUP_INSIGHT", str(PACKAGE / "config" / "insight.yaml")))


def inbox_secret() -> str | None:
    """The key for the inbox's session ids: $JOINEDUP_INBOX_SECRET (none: a new one a run)."""
    return os.environ.get("JOINEDUP_INBOX_SECRET")


def models_dir() -> Path:
    """Where trained linkage and risk models are kept: the data folder's models/."""
    return data_dir() / "models"


def matching_file() -> Path:
    """The analyst's linkage settings: $JOINEDUP_MATCHING, else pipelines/config/matching.yaml."""
    return Path(os.environ.get("JOINEDUP_MATCHING", str(PACKAGE / "config" / "matching.yaml")))
