"""Nights: the nightly job's partitions, one for each night whose extracts have arrived.

A night becomes a partition when its extracts arrive, never before: the
`extracts_arrived` sensor adds it and requests its run, and `joinedup run` adds the
nights it loads (`add_nights`), so Dagster's partitions are the nights there is
something to load, not every day from a start date to today. (No
`from __future__ import annotations` here: Dagster reads the sensor's annotations.)
"""

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from pipelines.environment import world_dir

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

NIGHTS = "nights"


def nightly_partitions() -> dg.DynamicPartitionsDefinition:
    """One partition a night that has extracts, keyed by its date (YYYY-MM-DD)."""
    return dg.DynamicPartitionsDefinition(name=NIGHTS)


def arrived(root: Path) -> list[str]:
    """The nights whose extracts folder is in the drop folder, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _is_night(p.name))


def _is_night(name: str) -> bool:
    try:
        return dt.date.fromisoformat(name).isoformat() == name
    except ValueError:
        return False


def add_nights(instance: dg.DagsterInstance, nights: Iterable[dt.date]) -> list[str]:
    """Add the nights to the instance's partitions, those it lacks; return those added."""
    have = set(instance.get_dynamic_partitions(NIGHTS))
    new = sorted({n.isoformat() for n in nights} - have)
    if new:
        instance.add_dynamic_partitions(NIGHTS, new)
    return new


def arrival_sensor(job: "UnresolvedAssetJobDefinition") -> dg.SensorDefinition:
    """Add each night whose extracts have arrived as a partition, and start its run."""

    @dg.sensor(
        job=job,
        minimum_interval_seconds=60,
        name="extracts_arrived",
        description="Watches the partners' drop folder for a new night's extracts: adds "
        "the night to the nightly partitions and starts its run.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        root = world_dir() / "extracts"
        nights = arrived(root)
        have = set(context.instance.get_dynamic_partitions(NIGHTS))
        missing = [n for n in nights if n not in have]
        new = [n for n in nights if n > (context.cursor or "")]
        if not new and not missing:
            return dg.SkipReason(f"no new night in {root}")
        return dg.SensorResult(
            # The runs are queued oldest first: a night is linked after the one before it.
            run_requests=[dg.RunRequest(run_key=n, partition_key=n) for n in new],
            dynamic_partitions_requests=[nightly_partitions().build_add_request(missing)]
            if missing
            else None,
            cursor=new[-1] if new else context.cursor,
        )

    return _sensor
