"""joinedup's Dagster definitions: `dagster dev -m pipelines.definitions`."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.alerts import (
    SENT,
    AlertsConfigResource,
    StoreResource,
    followup_job,
    followup_schedule,
    sent_asset,
)
from pipelines.defs.ingest import (
    SourcesResource,
    WarehouseResource,
    arrival_sensor,
    ingest_assets,
    nightly_partitions,
    nightly_schedule,
)
from pipelines.defs.linkage import PERSONS, link_what_loaded, persons_asset
from pipelines.defs.risk import SCORES, scores_asset
from pipelines.environment import (
    alerts_file,
    set_world_defaults,
    sources_file,
    store_url,
    store_variable,
    warehouse_path,
    warehouse_wait,
)

NIGHTLY = "nightly"


def build() -> dg.Definitions:
    """Every asset, check, job, schedule and sensor, from the sources config."""
    set_world_defaults()
    partitions = nightly_partitions()
    sources = ingest_assets(partitions)
    persons = persons_asset(partitions, [a.key for a in sources])
    scores = scores_asset(partitions)
    sent = sent_asset(partitions)
    nightly = dg.define_asset_job(
        NIGHTLY,
        selection=dg.AssetSelection.assets(*sources, PERSONS, SCORES, SENT),
        description="Take in every partner's extract for a night, link the night's "
        "records into persons and households, score every person's risk, then select, "
        "store and send the night's alerts.",
        # One step at a time in one process, as `joinedup run` runs it: every step writes
        # the one DuckDB warehouse, which takes one writing process at a time.
        executor_def=dg.in_process_executor,
    )
    # A store URL from the environment may hold a password: read through dg.EnvVar, it
    # is never shown in Dagster's UI.
    variable = store_variable()
    return dg.Definitions(
        assets=[*sources, persons, scores, sent],
        jobs=[nightly, followup_job],
        schedules=[nightly_schedule(nightly), followup_schedule()],
        sensors=[arrival_sensor(nightly), link_what_loaded(nightly)],
        resources={
            "warehouse": WarehouseResource(
                path=str(warehouse_path()), wait_seconds=warehouse_wait()
            ),
            "sources": SourcesResource(file=str(sources_file())),
            "store": StoreResource(url=dg.EnvVar(variable) if variable else store_url()),
            "alerts_config": AlertsConfigResource(file=str(alerts_file())),
        },
    )


defs = build()
