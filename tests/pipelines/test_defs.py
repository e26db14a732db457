"""The Dagster graph, snapshotted: any change to assets, checks, jobs or triggers shows here."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from pipelines.definitions import NIGHTLY, NIGHTLY_RUN_TAG, build
from pipelines.defs.alerts import FOLLOWUP
from pipelines.defs.ingest import WAREHOUSE_POOL
from pipelines.defs.nights import NIGHTS, add_nights
from pipelines.environment import PACKAGE

SOURCES = [
    "adult_social_care",
    "childrens_social_care",
    "education",
    "health",
    "housing",
    "police",
    "revenues_benefits",
]


def test_asset_specs_snapshot() -> None:
    defs = build()
    graph = defs.resolve_asset_graph()
    keys = sorted(k.to_user_string() for k in graph.get_all_asset_keys())
    assert keys == ["alerts/sent"] + [f"ingest/{s}" for s in SOURCES] + [
        "linkage/persons",
        "risk/scores",
    ]
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        # Partitions only for nights whose extracts arrived, added as they arrive.
        assert node.partitions_def == dg.DynamicPartitionsDefinition(name=NIGHTS)
        # Every step opens the warehouse, so every step is in its one-slot pool.
        assert defs.resolve_assets_def(key).op.pool == WAREHOUSE_POOL
        checks = sorted(c.name for c in graph.get_check_keys_for_assets({key}))
        if key.path[0] == "ingest":
            assert node.group_name == "ingest"
            assert checks == [
                "contract_schema",
                "load_not_held",
                "reconciles",
                "row_count_within_tolerance",
            ]
    persons = graph.get(dg.AssetKey(["linkage", "persons"]))
    assert persons.group_name == "linkage"
    assert sorted(k.to_user_string() for k in persons.parent_keys) == [
        f"ingest/{s}" for s in SOURCES
    ]
    assert sorted(c.name for c in graph.get_check_keys_for_assets({persons.key})) == [
        "linked",
        "one_person_id_per_record",
        "person_ids_stable",
        "sources_loaded_tonight",
    ]
    scores = graph.get(dg.AssetKey(["risk", "scores"]))
    assert scores.group_name == "risk"
    assert [k.to_user_string() for k in scores.parent_keys] == ["linkage/persons"]
    assert sorted(c.name for c in graph.get_check_keys_for_assets({scores.key})) == [
        "drift_since_training",
        "one_score_per_person",
        "scored",
        "very_high_share_stable",
    ]
    sent = graph.get(dg.AssetKey(["alerts", "sent"]))
    assert sent.group_name == "alerts"
    assert [k.to_user_string() for k in sent.parent_keys] == ["risk/scores"]
    assert sorted(c.name for c in graph.get_check_keys_for_assets({sent.key})) == [
        "no_duplicate_keys",
        "sent",
        "sent_reconciles",
    ]
    nightly = defs.resolve_job_def(NIGHTLY)
    assert {k.to_user_string() for k in nightly.asset_layer.selected_asset_keys} == set(keys)


def test_job_and_sensors() -> None:
    defs = build()
    nightly = defs.resolve_job_def(NIGHTLY)
    # Dagster's multiprocess executor (a process a step), one step at a time on the warehouse.
    assert nightly.executor_def.name == "multiprocess_one_step_at_a_time"
    assert (
        nightly.executor_def.executor_creation_fn is dg.multiprocess_executor.executor_creation_fn
    )
    assert nightly.run_tags == {NIGHTLY_RUN_TAG: "night"}
    schedules = sorted(s.name for s in defs.get_repository_def().schedule_defs)
    assert schedules == ["alerts_followup_every_15_minutes"]  # nights start on arrival
    sensor = defs.resolve_sensor_def("extracts_arrived")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED  # started by the operator
    # Links a night on what loaded after a source failed: part of the job's work, so on.
    after = defs.resolve_sensor_def("link_what_loaded")
    assert after.default_status == dg.DefaultSensorStatus.RUNNING


def test_alerts_followup_job_and_schedule() -> None:
    defs = build()
    job = defs.resolve_job_def(FOLLOWUP)
    assert [n.name for n in job.nodes_in_topological_order] == [
        "retry_failed_deliveries",
        "escalate_unacknowledged",
    ]
    schedule = defs.resolve_schedule_def("alerts_followup_every_15_minutes")
    assert schedule.job_name == FOLLOWUP
    assert schedule.cron_schedule == "*/15 * * * *"
    assert schedule.execution_timezone == "Europe/London"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # turned on by the operator
    jobs = sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__"))
    assert jobs == [FOLLOWUP, NIGHTLY]  # Dagster's own implicit job left out


def test_arrival_sensor_adds_and_requests_each_new_night_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOINEDUP_WORLD", str(tmp_path))
    for night in ("2026-11-01", "2026-11-02", "not-a-night"):
        (tmp_path / "extracts" / night).mkdir(parents=True)
    defs = build()
    repo = defs.get_repository_def()
    sensor = defs.resolve_sensor_def("extracts_arrived")
    with dg.instance_for_test() as instance:

        def tick(cursor: str | None) -> Any:
            context = dg.build_sensor_context(
                cursor=cursor,
                repository_def=repo,
                instance=instance,
                instance_ref=instance.get_ref(),
            )
            result = sensor.evaluate_tick(context)
            for request in result.dynamic_partitions_requests or []:
                instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
            return result

        first = tick(None)
        assert [r.partition_key for r in first.run_requests or []] == ["2026-11-01", "2026-11-02"]
        assert instance.get_dynamic_partitions(NIGHTS) == ["2026-11-01", "2026-11-02"]
        again = tick(first.cursor)
        assert not again.run_requests and not again.dynamic_partitions_requests
        (tmp_path / "extracts" / "2026-11-03").mkdir()
        third = tick(first.cursor)
        assert [r.partition_key for r in third.run_requests or []] == ["2026-11-03"]
        assert instance.get_dynamic_partitions(NIGHTS)[-1] == "2026-11-03"


def test_add_nights_adds_each_night_once() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        assert add_nights(instance, [dt.date(2026, 11, 2), dt.date(2026, 11, 1)]) == [
            "2026-11-01",
            "2026-11-02",
        ]
        assert add_nights(instance, [dt.date(2026, 11, 2)]) == []
        assert instance.get_dynamic_partitions(NIGHTS) == ["2026-11-01", "2026-11-02"]


def test_instance_settings() -> None:
    settings = yaml.safe_load((PACKAGE / "dagster_home" / "dagster.yaml").read_text())
    assert settings["telemetry"]["enabled"] is False
    # One step at a time on the warehouse; nightly runs one at a time.
    assert settings["concurrency"]["pools"]["default_limit"] == 1
    assert settings["concurrency"]["runs"]["tag_concurrency_limits"] == [
        {"key": NIGHTLY_RUN_TAG, "limit": 1}
    ]


def test_dagster_loads_the_definitions() -> None:
    env = dict(os.environ)  # DAGSTER_HOME: the test session's (tests/conftest.py)
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-m",
            "pipelines.definitions",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "All code locations passed validation" in done.stdout + done.stderr
