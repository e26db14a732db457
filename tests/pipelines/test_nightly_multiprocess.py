"""The nightly job launched as Dagster launches it: through a persistent instance with
joinedup's dagster.yaml and the job's own executor (Dagster's multiprocess executor, a
process a step), for two nights; every step succeeds and none finds the warehouse locked."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from nightlyjob import launch_nightly
from servers import free_port

from connectors.warehouse import Warehouse
from pipelines.defs.nights import NIGHTS
from pipelines.nightly import dagster_instance
from world.config import WorldConfig
from world.generate import generate
from world.police_api import BackgroundServer

pytestmark = pytest.mark.slow

WORLD = WorldConfig(people=1_200, seed=11, nights=2)
STEPS = 10  # seven partners' loads, persons, scores, alerts


def test_two_nights_through_the_multiprocess_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = generate(WORLD, tmp_path / "world").out
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path))
    monkeypatch.setenv("JOINEDUP_WORLD", str(world))
    monkeypatch.setenv("JOINEDUP_POLICE_TOKEN", "tok")
    # The alerts step needs a mail relay named; nothing is scored, so none is sent.
    monkeypatch.setenv("JOINEDUP_SMTP_URL", f"mailto://127.0.0.1:{free_port()}")
    with (
        BackgroundServer(world, "tok") as api,
        dagster_instance(tmp_path / "dagster_home") as instance,
    ):
        monkeypatch.setenv("JOINEDUP_POLICE_URL", api.url)
        results = {night: launch_nightly(instance, night) for night in WORLD.night_dates()}
        runs = instance.get_runs()
        partitions = instance.get_dynamic_partitions(NIGHTS)
    for night, result in results.items():
        events = result.all_events
        failed = [e.step_key for e in events if e.is_step_failure]
        assert result.success and not failed, (night, failed)
        succeeded = {e.step_key for e in events if e.is_step_success}
        assert len(succeeded) == STEPS, (night, succeeded)
        messages = " ".join(e.message or "" for e in events)
        assert "Executing steps using multiprocess executor" in messages
        assert "Conflicting lock" not in messages
        # Each step in a process of its own: none is the run's own process.
        step_pids = {e.pid for e in events if e.is_step_start}
        assert len(step_pids) == STEPS and None not in step_pids
    # The runs are in the instance's history, one a night, as the UI lists them.
    assert sorted(r.tags["dagster/partition"] for r in runs) == [
        n.isoformat() for n in WORLD.night_dates()
    ]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    assert partitions == [n.isoformat() for n in WORLD.night_dates()]
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    try:
        loads = wh.run("SELECT night, status, count(*) FROM loads GROUP BY ALL ORDER BY ALL")
    finally:
        wh.close()
    assert {(night, status) for night, status, _ in loads} <= {
        (n, s) for n in WORLD.night_dates() for s in ("complete", "unchanged")
    }
    assert sum(count for _, _, count in loads) == 14  # seven partners, two nights
    assert {night for night, _, _ in loads} == set(WORLD.night_dates())
