"""The persons asset in the nightly job: linked after the loads, checked, never twice."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from nightlyjob import checks_of, materialized, run_nightly
from servers import free_port

from matching import train_model
from pipelines.definitions import build
from pipelines.defs.linkage import ID_CHANGE_TOLERANCE, NO_MODEL, PERSONS, STEP
from pipelines.environment import models_dir
from pipelines.nightly import run_night
from world.config import WorldConfig
from world.generate import generate
from world.police_api import BackgroundServer

# Small enough to train on in seconds; still over the 1,000 records training asks for.
WORLD = WorldConfig(people=700, seed=5, nights=3)
N1, N2, N3 = WORLD.night_dates()


@dataclass
class Nights:
    """A world run through the nightly job night by night, with what each run did."""

    root: Path
    instance: dg.DagsterInstance
    runs: dict[str, dg.ExecuteInProcessResult] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)
    request: dg.RunRequest | dg.SkipReason | None = None


def _link_after_failure(defs: dg.Definitions, instance: dg.DagsterInstance, run: Any) -> Any:
    sensor = defs.resolve_sensor_def("link_what_loaded")
    with warnings.catch_warnings():  # repository_def is a beta parameter, and needed here
        warnings.simplefilter("ignore", dg.BetaWarning)
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=run.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=run.dagster_run,
            repository_def=defs.get_repository_def(),
        ).for_run_failure()
    return sensor(context)


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nights]:
    """Night 1 before any model, then trained; night 2; night 3 with the police API down."""
    root = tmp_path_factory.mktemp("nightly_linkage")
    world = generate(WORLD, root / "world").out
    patch = pytest.MonkeyPatch()
    patch.setenv("JOINEDUP_DATA", str(root))
    patch.setenv("JOINEDUP_WORLD", str(world))
    patch.setenv("JOINEDUP_POLICE_TOKEN", "tok")
    # The job's alerts step needs a mail relay named; nothing is scored, so none is sent.
    patch.setenv("JOINEDUP_SMTP_URL", f"mailto://127.0.0.1:{free_port()}")
    patch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    try:
        with dg.DagsterInstance.ephemeral() as instance, BackgroundServer(world, "tok") as api:
            patch.setenv("JOINEDUP_POLICE_URL", api.url)
            done = Nights(root, instance)
            done.runs["no model"] = run_nightly(instance, N1)
            train_model(root / "warehouse.duckdb", models_dir())
            done.lines["link night 1"] = run_night(N1, ingest=False)[1]
            done.runs["night 1 again"] = run_nightly(instance, N1, [PERSONS])
            done.runs["night 2"] = run_nightly(instance, N2)
            patch.delenv("JOINEDUP_POLICE_URL")
            failed = run_nightly(instance, N3)
            done.runs["night 3, police down"] = failed
            done.request = _link_after_failure(build(), instance, failed)
            if isinstance(done.request, dg.RunRequest):
                done.runs["night 3, what loaded"] = run_nightly(
                    instance, N3, done.request.asset_selection
                )
            patch.setenv("JOINEDUP_POLICE_URL", api.url)
            ok, done.lines["police again"] = run_night(N3, ["police"])
            assert ok, done.lines["police again"]
            yield done
    finally:
        patch.undo()


def _persons(run: Any) -> dict[str, Any]:
    return materialized(run, STEP, PERSONS)


def _checks(run: Any) -> dict[str, tuple[bool, str, dict[str, Any]]]:
    return checks_of(run, PERSONS)


def test_without_a_model_the_night_loads_and_says_persons_are_not_linked(
    nights: Nights,
) -> None:
    run = nights.runs["no model"]
    assert run.success
    meta = _persons(run)
    assert meta["status"] == NO_MODEL and meta["summary"] == NO_MODEL
    assert "records" not in meta and "model" not in meta
    checks = _checks(run)
    assert checks["linked"][:2] == (False, "WARN")
    assert checks["sources_loaded_tonight"][0] is True
    # Checks that need linked persons are not evaluated, rather than passed unlooked.
    assert set(checks) == {"linked", "sources_loaded_tonight"}


def test_the_job_links_the_night_after_training(nights: Nights) -> None:
    (line,) = [x for x in nights.lines["link night 1"] if x.startswith("persons")]
    assert "linked full with linkage-v1.json" in line
    assert "records ->" in line and "households" in line
    meta = _persons(nights.runs["night 2"])
    assert meta["status"] == "linked" and meta["mode"] == "incremental"
    assert meta["model"] == "linkage-v1.json" and meta["model_version"] == 1
    assert meta["threshold"] == 0.9
    assert meta["records"] > 1_000 and 0 < meta["persons"] < meta["records"]
    assert meta["pairs"] > 0 and meta["households"] > 0
    assert {"new", "merges", "splits", "seconds"} <= set(meta)
    assert meta["stale_sources"] == "none"
    checks = _checks(nights.runs["night 2"])
    assert all(passed for passed, _, _ in checks.values()), checks
    one = checks["one_person_id_per_record"][2]
    assert one["records"] == meta["records"] and one["without_id"] == 0
    stable = checks["person_ids_stable"][2]
    assert stable["previous_night"] == str(N1)
    assert stable["records_in_both"] > 1_000
    assert stable["share_changed"] <= ID_CHANGE_TOLERANCE
    # The figures agree with the warehouse.
    con = duckdb.connect(str(nights.root / "warehouse.duckdb"), read_only=True)
    try:
        persons = con.execute(
            "SELECT count(DISTINCT person_id) FROM persons WHERE valid_from <= ?"
            " AND (valid_to IS NULL OR valid_to > ?)",
            [N2, N2],
        ).fetchall()[0][0]
    finally:
        con.close()
    assert persons == meta["persons"]


def test_a_second_run_of_a_night_is_already_linked(nights: Nights) -> None:
    run = nights.runs["night 1 again"]
    assert run.success
    meta = _persons(run)
    assert meta["status"] == "already linked"
    assert meta["summary"].startswith("already linked: ")
    assert meta["model"] == "linkage-v1.json"
    assert meta["new"] == meta["persons"]  # night 1 made every person, and said so then
    con = duckdb.connect(str(nights.root / "warehouse.duckdb"), read_only=True)
    try:
        runs = con.execute("SELECT count(*) FROM linkage_runs WHERE night = ?", [N1]).fetchall()
    finally:
        con.close()
    assert runs == [(1,)]
    assert all(passed for passed, _, _ in _checks(run).values())


def test_a_failed_source_is_linked_around_and_named_stale(nights: Nights) -> None:
    failed = nights.runs["night 3, police down"]
    assert not failed.success
    assert failed.get_failed_step_keys() == {"ingest__police"}
    assert not failed.asset_materializations_for_node(STEP)  # Dagster skipped the step
    assert isinstance(nights.request, dg.RunRequest)
    assert nights.request.partition_key == N3.isoformat()
    assert nights.request.asset_selection == [
        PERSONS,
        dg.AssetKey(["risk", "scores"]),
        dg.AssetKey(["alerts", "sent"]),
    ]
    run = nights.runs["night 3, what loaded"]
    assert run.success
    meta = _persons(run)
    assert meta["status"] == "linked"
    assert meta["stale_sources"] == f"police (last good load {N2})"
    assert meta["summary"].endswith(f"; stale: police (last good load {N2})")
    checks = _checks(run)
    assert checks["sources_loaded_tonight"][:2] == (False, "WARN")
    assert checks["one_person_id_per_record"][0] is True


def test_a_late_load_links_the_night_again(nights: Nights) -> None:
    lines = nights.lines["police again"]
    assert any(x.startswith("police") and " complete " in x for x in lines), lines
    (persons,) = [x for x in lines if x.startswith("persons")]
    assert persons.split(None, 1)[1].startswith("linked full with linkage-v1.json")
    assert "stale" not in persons


def test_a_record_without_a_person_fails_the_check(nights: Nights, tmp_path: Path) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(nights.root / "warehouse.duckdb", copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute(
            "DELETE FROM persons WHERE unique_id = (SELECT min(unique_id) FROM persons"
            " WHERE valid_to IS NULL)"
        ).fetchall()
    finally:
        con.close()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JOINEDUP_WAREHOUSE", str(copy))
        run = run_nightly(nights.instance, N3, [PERSONS])
    assert _persons(run)["status"] == "already linked"
    passed, severity, found = _checks(run)["one_person_id_per_record"]
    assert (passed, severity) == (False, "ERROR")
    assert found["without_id"] == 1 and found["with_several_ids"] == 0


def test_run_night_links_after_a_failed_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nights: Nights
) -> None:
    # A copy of the warehouse and model; the police API unset, so police fails at once.
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path))
    monkeypatch.delenv("JOINEDUP_POLICE_URL")
    shutil.copy(nights.root / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    shutil.copytree(nights.root / "models", tmp_path / "models")
    ok, lines = run_night(N3, ["police"])
    assert not ok
    assert [x.split()[:2] for x in lines if "FAILED" in x] == [["police", "FAILED"]]
    # The persons step ran after, in a run of its own (scores and alerts after it); a
    # failed load changed nothing.
    assert lines[-3].startswith(f"{'persons':<24} already linked: ")
    assert (
        lines[-2] == f"{'scores':<24} not scored: no trained risk model; run `joinedup risk train`"
    )
    assert lines[-1] == f"{'alerts':<24} not sent: the night is not scored"
