"""The nightly Dagster job run in the tests, and what a run says of an asset."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg

from pipelines.definitions import NIGHTLY, build, nightly_job
from pipelines.defs.nights import add_nights


def run_nightly(
    instance: dg.DagsterInstance, night: dt.date, selection: Any = None
) -> dg.ExecuteInProcessResult:
    """The nightly job for a night (some assets of it, if given), in this process; a step
    that fails is in the result, not raised. The night is added to the partitions first,
    as its extracts' arrival adds it."""
    add_nights(instance, [night])
    job = build().resolve_job_def(NIGHTLY)
    return job.execute_in_process(
        partition_key=night.isoformat(),
        instance=instance,
        raise_on_error=False,
        asset_selection=selection,
    )


def launch_nightly(instance: dg.DagsterInstance, night: dt.date) -> dg.ExecutionResult:
    """The nightly job for a night through its own executor (Dagster's multiprocess executor:
    a process a step) on a persistent instance; a step that fails is in the result, not raised.

    The steps fork from a server process started at the first launch in this process, with
    the environment as it was then (JOINEDUP_DATA...): launch only from tests whose
    environment is the same, or from a process of their own.
    """
    add_nights(instance, [night])
    with dg.execute_job(
        dg.reconstructable(nightly_job),
        instance=instance,
        tags={"dagster/partition": night.isoformat()},
        raise_on_error=False,
    ) as result:
        return result


def materialized(run: dg.ExecuteInProcessResult, step: str, key: dg.AssetKey) -> dict[str, Any]:
    """The metadata of the asset's one materialisation in the run."""
    found = [m for m in run.asset_materializations_for_node(step) if m.asset_key == key]
    assert len(found) == 1, run.get_failed_step_keys()
    return {k: v.value for k, v in found[0].metadata.items()}


def checks_of(
    run: dg.ExecuteInProcessResult, key: dg.AssetKey
) -> dict[str, tuple[bool, str, dict[str, Any]]]:
    """Each check of the asset evaluated in the run: passed, severity and metadata."""
    return {
        e.check_name: (e.passed, e.severity.value, {k: v.value for k, v in e.metadata.items()})
        for e in run.get_asset_check_evaluations()
        if e.asset_key == key
    }
