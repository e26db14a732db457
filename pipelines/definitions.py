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
from pipelines.defs.ingest import SourcesResource, WarehouseResource, ingest_assets
from pipelines.defs.linkage import PERSONS, link_what_loaded, persons_asset
from pipelines.defs.nights import arrival_sensor, nightly_partitions
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
# A tag on every nightly run: the instance's run queue (dagster.yaml) starts one such run
# at a time, oldest first, since a night is linked and scored after the one before it.
NIGHTLY_RUN_TAG = "joinedup/nightly"
# Dagster's multiprocess executor, a process a step, one step at a time: every step opens
# the one DuckDB warehouse, which one process at a time may hold while another writes it.
# (The steps are also in the warehouse pool, which keeps other runs off it; this hands the
# warehouse from one step to the next at once, where the pool's waits back off to 15 s.)
# Steps fork from a server that has imported the job once, so each starts in about a
# second rather than importing Dagster, Splink and scikit-learn again.
NIGHTLY_EXECUTOR = dg.multiprocess_executor.configured(
    {
        "max_concurrent": 1,
        "start_method": {"forkserver": {"preload_modules": ["pipelines.definitions"]}},
    },
    name="multiprocess_one_step_at_a_time",
)


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
        run_tags={NIGHTLY_RUN_TAG: "night"},
        executor_def=NIGHTLY_EXECUTOR,
    )
    # A store URL from the environment may hold a password: read through dg.EnvVar, it
    # is never shown in Dagster's UI.
    variable = store_variable()
    return dg.Definitions(
        assets=[*sources, persons, scores, sent],
        jobs=[nightly, followup_job],
        schedules=[followup_schedule()],
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


def nightly_job() -> dg.JobDefinition:
    """The nightly job, for `dg.reconstructable`: Dagster's executor loads it again in each
    step's process (`dg.execute_job(dg.reconstructable(nightly_job), instance=...)`)."""
    return build().resolve_job_def(NIGHTLY)


defs = build()
