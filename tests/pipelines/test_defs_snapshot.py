"""Every asset, check, job, schedule and sensor, as one snapshot: a change to the graph
shows in review as a change to `__snapshots__/test_defs_snapshot.ambr`.

After a deliberate change: `.venv/bin/pytest tests/pipelines/test_defs_snapshot.py
--snapshot-update`, and read the diff before committing it.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from syrupy.assertion import SnapshotAssertion

from pipelines.definitions import build


def _partitions(definition: dg.PartitionsDefinition | None) -> dict[str, Any] | None:
    if definition is None:
        return None
    spec: dict[str, Any] = {"kind": type(definition).__name__}
    if isinstance(definition, dg.TimeWindowPartitionsDefinition):
        spec |= {
            "start": definition.start.date().isoformat(),
            "timezone": definition.timezone,
            "cron": definition.cron_schedule,
        }
    if isinstance(definition, dg.DynamicPartitionsDefinition):
        spec["name"] = definition.name
    return spec


def graph_spec(defs: dg.Definitions) -> dict[str, Any]:
    """What the definitions declare, in plain values, sorted so that order never shows."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        checks = {}
        for check in sorted(graph.get_check_keys_for_assets({key}), key=lambda c: c.name):
            spec = graph.get_check_spec(check)
            checks[check.name] = {"description": spec.description, "blocking": spec.blocking}
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "kinds": sorted(node.kinds),
            "partitions": _partitions(node.partitions_def),
            "pool": defs.resolve_assets_def(key).op.pool,
            "description": node.description,
            "checks": checks,
        }
    repository = defs.get_repository_def()
    jobs = {}
    for job in sorted(repository.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue  # Dagster's own implicit job
        selected = job.asset_layer.selected_asset_keys if job.asset_layer else set()
        jobs[job.name] = {
            "assets": sorted(k.to_user_string() for k in selected),
            "ops": sorted(job.graph.node_dict) if not selected else [],
            "executor": job.executor_def.name,
            "run_tags": dict(job.run_tags),
            "description": job.description,
        }
    schedules = {
        s.name: {
            "cron": s.cron_schedule,
            "timezone": s.execution_timezone,
            "job": s.job_name,
            "default_status": s.default_status.value,
        }
        for s in sorted(repository.schedule_defs, key=lambda s: s.name)
    }
    sensors = {
        s.name: {
            "jobs": sorted(t.job_name for t in s.targets),
            "default_status": s.default_status.value,
            "minimum_interval_seconds": s.minimum_interval_seconds,
            "description": s.description,
        }
        for s in sorted(repository.sensor_defs, key=lambda s: s.name)
    }
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def test_the_graph_is_as_reviewed(snapshot: SnapshotAssertion) -> None:
    assert graph_spec(build()) == snapshot
