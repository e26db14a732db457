"""joinedup's Dagster definitions: `dagster dev -m pipelines.definitions`."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.ingest import (
    GROUP,
    SourcesResource,
    WarehouseResource,
    arrival_sensor,
    ingest_assets,
    nightly_partitions,
    nightly_schedule,
)
from pipelines.environment import set_world_defaults, sources_file, warehouse_path

NIGHTLY = "nightly"


def build() -> dg.Definitions:
    """Every asset, check, job, schedule and sensor, from the sources config."""
    set_world_defaults()
    partitions = nightly_partitions()
    assets = ingest_assets(partitions)
    nightly = dg.define_asset_job(
        NIGHTLY,
        selection=dg.AssetSelection.groups(GROUP),
        description="Take in every partner's extract for a night.",
    )
    return dg.Definitions(
        assets=assets,
        jobs=[nightly],
        schedules=[nightly_schedule(nightly)],
        sensors=[arrival_sensor(nightly)],
        resources={
            "warehouse": WarehouseResource(path=str(warehouse_path())),
            "sources": SourcesResource(file=str(sources_file())),
        },
    )


defs = build()
