"""`joinedup run` runs the nightly job in this process, on Dagster's code path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
from nightlyjob import run_nightly
from servers import free_port

from connectors.warehouse import Warehouse
from pipelines.cli import main
from pipelines.defs.nights import NIGHTS
from pipelines.nightly import dagster_instance
from world.config import WorldConfig
from world.generate import generate
from world.police_api import BackgroundServer


def world_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: WorldConfig) -> Path:
    """A new world, with the environment a run reads pointing at it and at tmp_path."""
    world = generate(config, tmp_path / "world").out
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path))
    monkeypatch.setenv("JOINEDUP_WORLD", str(world))
    monkeypatch.setenv("JOINEDUP_POLICE_TOKEN", "tok")
    # The alerts step needs a mail relay named; nothing is scored, so none is sent.
    monkeypatch.setenv("JOINEDUP_SMTP_URL", f"mailto://127.0.0.1:{free_port()}")
    return world


def test_run_loads_each_night_and_says_what_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))  # a history of its own
    world = world_in(tmp_path, monkeypatch, WorldConfig(people=1_200, seed=8, nights=2))
    with BackgroundServer(world, "tok") as server:
        monkeypatch.setenv("JOINEDUP_POLICE_URL", server.url)
        assert main(["run", "--all"]) == 0
        out = capsys.readouterr().out
        assert "night 2026-11-01: complete" in out and "night 2026-11-02: complete" in out
        assert "FAILED" not in out
        # Again: nothing new, nothing failed, nothing written twice; each re-run is said.
        assert main(["run", "--night", "2026-11-01", "--night", "2026-11-02"]) == 0
        assert capsys.readouterr().out.count(" already loaded ") == 14
        # Again in a new shell that lacks the police API's address: one sentence says what
        # to set, and the police line is one line.
        monkeypatch.delenv("JOINEDUP_POLICE_URL")
        assert main(["run", "--night", "2026-11-01"]) == 1
        out, err = capsys.readouterr()
        (police,) = [line for line in out.splitlines() if line.strip().startswith("police")]
        assert "FAILED" in police and "JOINEDUP_POLICE_URL is not set" in police
        assert "night 2026-11-01: the nightly job: done in " in err  # progress, on stderr
        assert said(err) == [
            "joinedup run: the police source needs JOINEDUP_POLICE_URL (the police API's "
            "incidents URL, e.g. http://127.0.0.1:8765/api/v1/incidents from `joinedup "
            "police-api --world DIR`), which is not set: set it and run the night again, or "
            "leave police out with --source."
        ]
    # Its runs are in Dagster's history (DAGSTER_HOME), each night a partition.
    with dagster_instance() as instance:
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": "2026-11-02"}))
        assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert instance.get_dynamic_partitions(NIGHTS) == ["2026-11-01", "2026-11-02"]
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    try:
        statuses = dict(wh.run("SELECT status, count(*) FROM loads GROUP BY status ORDER BY 1"))
    finally:
        wh.close()
    # Two runs of two nights (28 loads), then one night again without the police API: six
    # sources already loaded, police failed.
    assert statuses["failed"] == 1
    assert statuses["already loaded"] == 14 + 6
    assert statuses["already loaded"] + statuses["complete"] + statuses.get("unchanged", 0) == 34


def test_a_held_load_fails_the_run_and_its_check_until_a_person_releases_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = world_in(tmp_path, monkeypatch, WorldConfig(people=800, seed=5, nights=2))
    pupils = world / "extracts" / "2026-11-02" / "education" / "pupils.csv"
    pupils.write_text(pupils.read_text().splitlines()[0] + "\n")  # the header alone
    with BackgroundServer(world, "tok") as server:
        monkeypatch.setenv("JOINEDUP_POLICE_URL", server.url)
        assert main(["run", "--night", "2026-11-01"]) == 0
        wh = Warehouse(tmp_path / "warehouse.duckdb")
        pupils_before = current(wh, "education")
        wh.close()
        capsys.readouterr()
        assert main(["run", "--night", "2026-11-02"]) == 1
        out = capsys.readouterr().out
        assert "night 2026-11-02: finished with failures" in out
        held = next(line for line in out.splitlines() if line.strip().startswith("education"))
        assert "HELD" in held and "would close" in held
        assert "joinedup load release --source education --night 2026-11-02" in held
        wh = Warehouse(tmp_path / "warehouse.duckdb")
        assert current(wh, "education") == pupils_before
        wh.close()
        # In Dagster, the held load fails its blocking checks, and so the step.
        with dg.DagsterInstance.ephemeral() as instance:
            result = run_nightly(
                instance, dt.date(2026, 11, 2), [dg.AssetKey(["ingest", "education"])]
            )
        assert not result.success
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert not checks["load_not_held"].passed
        assert checks["load_not_held"].severity == dg.AssetCheckSeverity.ERROR
        # A person accepts the drop: it is merged, and who and why are recorded.
        release = ["load", "release", "--source", "education", "--night", "2026-11-02"]
        reason = ["--reason", "school roll moved to the academy trust", "--by", "a.analyst"]
        assert main([*release, *reason]) == 0
        assert "released by a.analyst" in capsys.readouterr().out
        assert main([*release, "--reason", "again"]) == 2
        assert "not held: nothing to release" in capsys.readouterr().err
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    try:
        assert current(wh, "education") == 0
        released = wh.run("SELECT released_by, reason, overrode FROM load_releases")
    finally:
        wh.close()
    assert released[0][:2] == ("a.analyst", "school roll moved to the academy trust")
    assert "would close" in released[0][2]


def current(wh: Warehouse, source: str) -> int:
    """How many of a source's person records are current."""
    found: int = wh.run(
        "SELECT count(*) FROM person_records WHERE source = ? AND valid_to IS NULL", [source]
    )[0][0]
    return found


def test_run_without_the_police_api_fails_that_source_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = generate(WorldConfig(people=800, seed=2, nights=1), tmp_path / "world").out
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path))
    monkeypatch.setenv("JOINEDUP_WORLD", str(world))
    monkeypatch.delenv("JOINEDUP_POLICE_URL", raising=False)
    monkeypatch.delenv("JOINEDUP_POLICE_TOKEN", raising=False)
    monkeypatch.delenv("JOINEDUP_SMTP_URL", raising=False)
    assert main(["run", "--night", "2026-11-01"]) == 1
    out, err = capsys.readouterr()
    assert "night 2026-11-01: finished with failures" in out
    assert "environment variable JOINEDUP_POLICE_URL is not set" in out
    assert out.count(" complete ") == 6
    # Without the mail relay, the alerts step says so in words (no traceback).
    (alerts,) = [line for line in out.splitlines() if line.strip().startswith("alerts")]
    assert "FAILED" in alerts and "environment variable JOINEDUP_SMTP_URL is not set" in alerts
    assert "Traceback" not in out
    # Each part that lacks a setting says so in one sentence on stderr, with what to set.
    police, mail = said(err)
    assert police.startswith("joinedup run: the police source needs JOINEDUP_POLICE_URL (")
    assert "and JOINEDUP_POLICE_TOKEN (the bearer token that API was started with)" in police
    assert police.endswith("or leave police out with --source.")
    assert mail.startswith("joinedup run: the alerts step needs JOINEDUP_SMTP_URL (the mail")


def test_a_night_outside_the_partitions_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world_in(tmp_path, monkeypatch, WorldConfig(people=200, seed=3, nights=2))
    assert main(["run", "--night", "2026-11-02", "--night", "2026-10-01"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # refused before either night ran
    (sentence,) = err.splitlines()  # no progress either: no night ran
    # The nights are those whose extracts arrived: the world's.
    assert sentence.startswith("joinedup run: 2026-10-01 is not one of the nightly job's nights")
    assert sentence.endswith(f"{tmp_path / 'world'} has extracts for 2026-11-01 and 2026-11-02.")
    assert "Traceback" not in err and "DagsterUnknownPartitionError" not in err
    assert not (tmp_path / "warehouse.duckdb").exists()


def said(err: str) -> list[str]:
    """The lines of stderr that the command says to the person (not its progress lines)."""
    return [line for line in err.splitlines() if line.startswith("joinedup run: ")]
