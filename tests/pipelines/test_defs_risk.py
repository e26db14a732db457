"""The scores asset in the nightly job: every linked person scored after persons, checked,
never twice, by the version the register chooses; no model and bad models said in words,
last night's scores kept."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest
from nightlyjob import checks_of, materialized, run_nightly
from riskworld import N1, N2, RiskWorld, risk_world
from servers import free_port

from pipelines.defs.linkage import PERSONS
from pipelines.defs.risk import NOT_LINKED, SCORES, STEP, VERY_HIGH_TOLERANCE
from pipelines.nightly import run_night
from risk_models import (
    ALL_RETIRED,
    NO_MODEL,
    REGISTER,
    promote,
    retire,
    rollback,
    train_risk,
)

pytestmark = pytest.mark.slow


@dataclass
class Nights:
    """The risk world's nights run through the nightly job, with what each run did."""

    root: Path
    instance: dg.DagsterInstance
    runs: dict[str, dg.ExecuteInProcessResult] = field(default_factory=dict)


@pytest.fixture(scope="module")
def rw(tmp_path_factory: pytest.TempPathFactory) -> RiskWorld:
    return risk_world(tmp_path_factory)


@pytest.fixture(scope="module")
def nights(rw: RiskWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nights]:
    """Night 1 before any risk model, then with one; night 2; both again."""
    root = rw.data(tmp_path_factory.mktemp("nightly_risk"), risk_model=False)
    patch = pytest.MonkeyPatch()
    patch.setenv("JOINEDUP_DATA", str(root))
    patch.setenv("JOINEDUP_WORLD", str(rw.world))
    patch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            done = Nights(root, instance)
            done.runs["no model"] = run_nightly(instance, N1, [PERSONS, SCORES])
            shutil.copytree(rw.models / "risk-v1", root / "models" / "risk-v1")
            done.runs["night 1"] = run_nightly(instance, N1, [SCORES])
            done.runs["night 2"] = run_nightly(instance, N2, [PERSONS, SCORES])
            done.runs["night 2 again"] = run_nightly(instance, N2, [SCORES])
            done.runs["night 1 again"] = run_nightly(instance, N1, [SCORES])
            done.runs["not linked"] = run_nightly(instance, N2 + dt.timedelta(days=1), [SCORES])
            yield done
    finally:
        patch.undo()


def _scores(run: Any) -> dict[str, Any]:
    return materialized(run, STEP, SCORES)


def _checks(run: Any) -> dict[str, tuple[bool, str, dict[str, Any]]]:
    return checks_of(run, SCORES)


def _table(warehouse: Path, query: str, params: list[object] | None = None) -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        found: pl.DataFrame = con.sql(query, params=params).pl()
    finally:
        con.close()
    return found


def test_without_a_model_the_night_says_it_is_not_scored(nights: Nights) -> None:
    run = nights.runs["no model"]
    assert run.success
    meta = _scores(run)
    assert meta["status"] == NO_MODEL and meta["summary"] == NO_MODEL
    assert "persons" not in meta and "model_version" not in meta
    checks = _checks(run)
    # Checks that need scores are not evaluated, rather than passed unlooked.
    assert checks == {"scored": (False, "WARN", {"status": NO_MODEL})}
    assert _scores(nights.runs["not linked"])["status"] == NOT_LINKED


def test_the_job_scores_every_linked_person(nights: Nights) -> None:
    warehouse = nights.root / "warehouse.duckdb"
    for night, name in ((N1, "night 1"), (N2, "night 2")):
        run = nights.runs[name]
        assert run.success
        meta = _scores(run)
        assert meta["status"] == "scored"
        assert meta["model_version"] == "risk-v1/boosted"
        assert meta["summary"].startswith(f"{meta['persons']:,} persons scored with risk-v1/")
        persons = _table(
            warehouse,
            "SELECT count(DISTINCT person_id) AS n FROM persons WHERE valid_from <= ?"
            " AND (valid_to IS NULL OR valid_to > ?)",
            [night, night],
        )["n"][0]
        bands = dict(
            _table(
                warehouse, "SELECT band, count(*) FROM scores WHERE night = ? GROUP BY 1", [night]
            ).iter_rows()
        )
        assert meta["persons"] == persons == sum(bands.values())
        assert all(meta[band] == bands.get(band, 0) for band in ("very_high", "high", "low"))
        checks = _checks(run)
        assert all(passed for passed, _, _ in checks.values()), checks
        one = checks["one_score_per_person"][2]
        assert one["persons"] == persons and one["without_score"] == 0
    share = _checks(nights.runs["night 2"])["very_high_share_stable"][2]
    assert share["previous_night"] == str(N1) and share["tolerance"] == VERY_HIGH_TOLERANCE
    assert _checks(nights.runs["night 1"])["very_high_share_stable"][2]["previous_night"] == (
        "none: first night scored"
    )


def test_a_night_scored_already_is_not_scored_twice(nights: Nights) -> None:
    for name in ("night 2 again", "night 1 again"):
        meta = _scores(nights.runs[name])
        assert meta["status"] == "already scored"
        assert meta["summary"].startswith("already scored: ")
        assert all(passed for passed, _, _ in _checks(nights.runs[name]).values())
    runs = _table(
        nights.root / "warehouse.duckdb", "SELECT night, count(*) AS n FROM risk_runs GROUP BY 1"
    )
    assert dict(runs.iter_rows()) == {N1: 1, N2: 1}


def _copy(nights: Nights, to: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(nights.root, to)
    monkeypatch.setenv("JOINEDUP_DATA", str(to))
    # The alerts step after the scores needs a mail relay; nobody listens on this port.
    monkeypatch.setenv("JOINEDUP_SMTP_URL", f"mailto://127.0.0.1:{free_port()}")
    return to / "warehouse.duckdb"


def test_a_person_scored_twice_fails_the_check(
    nights: Nights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = _copy(nights, tmp_path / "data", monkeypatch)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "INSERT INTO scores SELECT * FROM scores WHERE night = ? ORDER BY person_id LIMIT 1",
            [N2],
        ).fetchall()
    finally:
        con.close()
    run = run_nightly(nights.instance, N2, [SCORES])
    assert _scores(run)["status"] == "already scored"
    passed, severity, found = _checks(run)["one_score_per_person"]
    assert (passed, severity) == (False, "ERROR")
    assert found["with_several_scores"] == 1 and found["without_score"] == 0


def test_a_jump_in_very_high_persons_warns(
    nights: Nights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = _copy(nights, tmp_path / "data", monkeypatch)
    con = duckdb.connect(str(warehouse))
    try:
        # Last night had far fewer very_high persons than tonight.
        con.execute(
            "UPDATE scores SET band = 'high' WHERE night = ? AND band = 'very_high'", [N1]
        ).fetchall()
    finally:
        con.close()
    run = run_nightly(nights.instance, N2, [SCORES])
    passed, severity, found = _checks(run)["very_high_share_stable"]
    assert (passed, severity) == (False, "WARN")
    assert found["previous_very_high"] == 0 and found["very_high"] > 10


def test_a_shift_in_tonights_events_warns_of_drift(
    nights: Nights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = _copy(nights, tmp_path / "data", monkeypatch)
    calm = _checks(nights.runs["night 2"])["drift_since_training"]
    assert calm[0] is True and calm[2]["reference_date"] < str(N1)
    con = duckdb.connect(str(warehouse))
    try:
        for table in ("scores", "risk_runs", "risk_drift"):
            con.execute(f"DELETE FROM {table} WHERE night = ?", [N2]).fetchall()
        # A partner's feed sends every current event again, dated tonight.
        con.execute(
            "INSERT INTO events SELECT * REPLACE (event_id || '-again' AS event_id, ? AS date)"
            " FROM events WHERE valid_to IS NULL",
            [N2],
        ).fetchall()
    finally:
        con.close()
    run = run_nightly(nights.instance, N2, [SCORES])
    assert _scores(run)["status"] == "scored"
    passed, severity, found = _checks(run)["drift_since_training"]
    assert (passed, severity) == (False, "WARN")
    assert found["features_over_bound"] > 0 and found["score_psi"] > calm[2]["score_psi"]
    moved = dict(
        _table(warehouse, "SELECT name, psi FROM risk_drift WHERE night = ?", [N2]).iter_rows()
    )
    # The counts the doubled events feed have moved, and the score with them.
    assert moved["n_events_30d"] > 0.25 and moved["score"] > 0.1
    assert found["largest"].split(" ")[0] == max(moved, key=moved.__getitem__)
    assert "drift since " in _scores(run)["summary"]


def test_a_model_from_another_feature_set_fails_the_step_and_keeps_the_scores(
    nights: Nights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = _copy(nights, tmp_path / "data", monkeypatch)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("DELETE FROM scores WHERE night = ?", [N2]).fetchall()
        con.execute("DELETE FROM risk_runs WHERE night = ?", [N2]).fetchall()
    finally:
        con.close()
    before = _table(warehouse, "SELECT * FROM scores ORDER BY person_id")
    about = tmp_path / "data" / "models" / "risk-v1" / "boosted" / "model.json"
    about.write_text(json.dumps({**json.loads(about.read_text()), "feature_set": "features-x"}))
    ok, lines = run_night(N2, ingest=False)
    assert not ok
    assert lines[0].startswith(f"{'persons':<24} already linked: ")
    assert lines[1].startswith(f"{'scores':<24} FAILED  ")
    assert "trained on feature set 'features-x'" in lines[1]
    assert lines[1].endswith("retrain with `joinedup risk train`")
    assert lines[2] == f"{'alerts':<24} did not run"  # Dagster skips it after a failure
    assert _table(warehouse, "SELECT * FROM scores ORDER BY person_id").equals(before)


def test_run_night_reports_the_scores(
    nights: Nights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = _copy(nights, tmp_path / "data", monkeypatch)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("DELETE FROM scores WHERE night = ?", [N2]).fetchall()
        con.execute("DELETE FROM risk_runs WHERE night = ?", [N2]).fetchall()
    finally:
        con.close()
    ok, lines = run_night(N2, ingest=False)
    assert ok, lines
    assert [x.split()[0] for x in lines] == ["persons", "scores", "alerts"]
    assert "persons scored with risk-v1/boosted" in lines[1]
    assert "rises" in lines[1] and "step-downs" in lines[1]


def test_the_job_scores_with_the_version_the_register_chooses(
    nights: Nights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = _copy(nights, tmp_path / "data", monkeypatch)
    models = tmp_path / "data" / "models"
    assert train_risk(warehouse, models).folder.name == "risk-v2"
    promote(models, "risk-v1", "reviewed at the model panel", "alice")

    def night_2() -> dict[str, Any]:
        return _scores(run_nightly(nights.instance, N2, [SCORES]))

    # Night 2 was scored by risk-v1, which the register keeps: the newer risk-v2 waits.
    meta = night_2()
    assert meta["status"] == "already scored" and meta["model_version"] == "risk-v1/boosted"
    assert meta["model_chosen"].startswith("risk-v1 scores: promoted ")
    promote(models, "risk-v2", "judged better on the same persons", "alice")
    meta = night_2()
    assert (meta["status"], meta["model_version"]) == ("scored", "risk-v2/boosted")
    rollback(models, "risk-v2 flags more than the teams can review", "bob")
    meta = night_2()
    assert (meta["status"], meta["model_version"]) == ("scored", "risk-v1/boosted")
    assert meta["model_chosen"].endswith(", rolling back from risk-v2")
    versions = _table(warehouse, "SELECT model_version FROM risk_runs WHERE night = ?", [N2])
    assert versions["model_version"].to_list() == [
        "risk-v1/boosted",
        "risk-v2/boosted",
        "risk-v1/boosted",
    ]
    before = _table(warehouse, "SELECT * FROM scores ORDER BY night, person_id")
    retire(models, "risk-v1", "withdrawn by the panel", "bob")
    run = run_nightly(nights.instance, N2, [SCORES])
    assert run.success
    # Every promoted version is retired: not scored, and not the unvetted newest either.
    assert _scores(run)["status"] == ALL_RETIRED and "model_version" not in _scores(run)
    assert _checks(run) == {"scored": (False, "WARN", {"status": ALL_RETIRED})}
    assert _table(warehouse, "SELECT * FROM scores ORDER BY night, person_id").equals(before)


def test_a_register_line_that_is_not_a_decision_fails_the_step(
    nights: Nights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = _copy(nights, tmp_path / "data", monkeypatch)
    models = tmp_path / "data" / "models"
    promote(models, "risk-v1", "reviewed", "alice")
    with (models / REGISTER).open("a") as register:
        register.write('{"version": "risk-v1", "action": "promote"\n')
    before = _table(warehouse, "SELECT * FROM scores ORDER BY night, person_id")
    ok, lines = run_night(N2, ingest=False)
    assert not ok
    assert lines[1].startswith(f"{'scores':<24} FAILED  {models / REGISTER}:2: ")
    assert "not a decision written as one JSON object" in lines[1]
    assert _table(warehouse, "SELECT * FROM scores ORDER BY night, person_id").equals(before)
