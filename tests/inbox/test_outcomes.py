"""Closed alerts' outcomes flow back to the warehouse as labels, and training is judged on
them: on the risk world, scored for its newest night, with alerts closed through the
inbox's own actions in a real SQLite store."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest
import sqlalchemy as sa
from riskworld import N2, RiskWorld, risk_world
from scoredalerts import add_alerts

from alerts.store import ALERTS, open_store
from inbox.actions import close
from inbox.outcomes import OutcomesCopyError, bring_back, check_labels, copy_outcomes
from inbox.tables import OUTCOME_ROWS, OUTCOMES, PROFESSIONAL
from inbox.users import add_user, find_user
from pipelines.cli import main
from pipelines.environment import models_dir
from risk_models import latest_risk_model, score_night, scoring_model
from risk_models.features import FeaturesError
from risk_models.labels import (
    ALERT_OUTCOMES_DDL,
    LabelsConfig,
    judge_on_labels,
    labelled_features,
    labels_config,
)
from risk_models.outcomes import truth_outcomes

pytestmark = pytest.mark.slow

NOW = dt.datetime.combine(N2 + dt.timedelta(days=3), dt.time(9, 0), tzinfo=dt.UTC)
CLOSER = "sam.okafor@csc.council.example"
NOTE = "Spoke to Ms Example at home; school aware"  # a closing note: never in the warehouse
PREVENTED = ("prevent", "held_steady")  # the goal and how it went, for alerts of a concern
COLUMNS = [
    "reference",
    "person_id",
    "alerted_night",
    "kind",
    "band",
    "score",
    "model_version",
    "routed_team",
    "outcome",
    "concern",
    "unlabelled_reason",
    "closed_at",
    "copied_at",
    "goal",
    "progress",
]


@pytest.fixture(scope="module")
def rw(tmp_path_factory: pytest.TempPathFactory) -> RiskWorld:
    return risk_world(tmp_path_factory)


@dataclass(frozen=True)
class Closed:
    """A data folder whose store holds alerts closed by a professional, by reference."""

    data: Path
    warehouse: Path
    store: str
    concern: dict[str, bool]  # reference: whether its outcome confirms a concern


@pytest.fixture
def closed(rw: RiskWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Closed:
    """Night N2 scored; 24 of its highest-scored persons alerted and 16 of the rest too,
    each closed with the outcome the world's truth gives them (a concern if they go on to
    have a serious event), as a professional who looked closely might have found."""
    data = rw.data(tmp_path / "data")
    monkeypatch.setenv("JOINEDUP_DATA", str(data))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    store = f"sqlite:///{data / 'store.sqlite'}"
    monkeypatch.setenv("JOINEDUP_STORE", store)
    warehouse = data / "warehouse.duckdb"
    score_night(warehouse, N2, latest_risk_model(models_dir()))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        scores = con.sql(
            "SELECT * FROM scores WHERE night = ? ORDER BY score DESC, person_id", params=[N2]
        ).pl()
        truth = truth_outcomes(rw.world, con, N2)
    finally:
        con.close()
    scores = scores.join(truth, on="person_id", how="inner")
    picked = pl.concat(
        [scores.head(24), scores.tail(scores.height - 24).gather_every(200).head(16)]
    )
    engine = open_store(store)
    add_user(engine, CLOSER, "a long enough password", PROFESSIONAL, NOW, team="csc")
    user = find_user(engine, CLOSER)
    assert user is not None
    references = add_alerts(engine, picked, N2, NOW)
    concern = dict(zip(references, (bool(x) for x in picked["outcome"]), strict=True))
    for reference, held in concern.items():
        if held:  # a concern found: the professional set out to prevent a serious event
            close(engine, user, reference, 1, "safeguarding_enquiry", NOTE, NOW, *PREVENTED)
        else:
            close(engine, user, reference, 1, "not_a_concern", NOTE, NOW)
    engine.dispose()
    assert 0 < sum(concern.values()) < len(concern)
    return Closed(data, warehouse, store, concern)


def _outcomes(warehouse: Path) -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        found: pl.DataFrame = con.sql("SELECT * FROM alert_outcomes ORDER BY reference").pl()
    finally:
        con.close()
    return found


def test_closed_alerts_reach_the_warehouse_labelled_without_names_or_notes(
    closed: Closed,
) -> None:
    report = copy_outcomes(closed.store, closed.warehouse, NOW)
    held = sum(closed.concern.values())
    assert (report.copied, report.concern, report.no_concern) == (40, held, 40 - held)
    assert report.lines() == [
        f"outcomes: 40 closed alerts in the warehouse's alert_outcomes ({held} confirmed a "
        f"concern, {40 - held} did not, 0 without a label)"
    ]
    rows = _outcomes(closed.warehouse)
    assert rows.columns == COLUMNS
    assert dict(zip(rows["reference"], rows["concern"], strict=True)) == closed.concern
    assert set(rows["alerted_night"]) == {N2}
    assert set(rows["outcome"]) == {"safeguarding_enquiry", "not_a_concern"}
    # The goal and how it went come with the outcome; an alert closed as mistaken has none.
    aims = {r["reference"]: (r["goal"], r["progress"]) for r in rows.iter_rows(named=True)}
    assert aims == {
        ref: PREVENTED if held else (None, None) for ref, held in closed.concern.items()
    }
    # Who closed it and what they wrote stay in the operational store.
    text = " ".join(str(v) for row in rows.iter_rows() for v in row)
    assert CLOSER not in text and "Example" not in text
    # Copying again replaces each alert's row: nothing twice.
    copy_outcomes(closed.store, closed.warehouse, NOW + dt.timedelta(days=1))
    again = _outcomes(closed.warehouse)
    assert again.height == 40
    assert again.drop("copied_at").equals(rows.drop("copied_at"))


def test_a_warehouse_made_before_goals_gains_them_on_the_next_copy(closed: Closed) -> None:
    con = duckdb.connect(str(closed.warehouse))
    try:  # alert_outcomes as an older version made it, with a row copied then
        con.execute(ALERT_OUTCOMES_DDL)
        con.execute("ALTER TABLE alert_outcomes DROP COLUMN goal")
        con.execute("ALTER TABLE alert_outcomes DROP COLUMN progress")
        con.execute(
            "INSERT INTO alert_outcomes VALUES ('OLD0000001', 'P0', DATE '2025-01-01', "
            "'new_high', 'high', 0.5, NULL, 'csc', 'support_offered', true, NULL, "
            "TIMESTAMP '2025-01-02 09:00', TIMESTAMP '2025-01-03 09:00')"
        )
    finally:
        con.close()
    copy_outcomes(closed.store, closed.warehouse, NOW)
    rows = _outcomes(closed.warehouse)
    assert rows.columns == COLUMNS
    assert rows.height == 41
    old = rows.filter(pl.col("reference") == "OLD0000001").row(0, named=True)
    assert (old["goal"], old["progress"]) == (None, None)
    assert rows.filter(pl.col("goal") == "prevent").height == sum(closed.concern.values())


def test_an_outcome_the_labels_do_not_list_is_kept_with_its_reason(closed: Closed) -> None:
    # A store written by an older inbox, whose list had an outcome since retired.
    engine = open_store(closed.store)
    with engine.begin() as conn:
        alert_id = conn.execute(
            sa.select(ALERTS.c.id).where(ALERTS.c.reference == "OUT00000")
        ).scalar_one()
        conn.execute(
            sa.update(OUTCOME_ROWS)
            .where(OUTCOME_ROWS.c.alert_id == alert_id)
            .values(outcome="escalated_to_panel")
        )
    engine.dispose()
    report = copy_outcomes(closed.store, closed.warehouse, NOW)
    assert report.copied == 40 and report.concern + report.no_concern == 39
    assert report.lines()[1:] == [
        "  alert OUT00000: outcome 'escalated_to_panel' is in neither labels.concern nor "
        "labels.no_concern"
    ]
    row = _outcomes(closed.warehouse).row(0, named=True)
    assert row["reference"] == "OUT00000" and row["concern"] is None
    assert "escalated_to_panel" in row["unlabelled_reason"]


def test_training_judges_a_model_on_the_professionals_labels(closed: Closed) -> None:
    copy_outcomes(closed.store, closed.warehouse, NOW)
    # The model that scored the night, judged on the labels, scores each alert as the
    # night did, so its AUC on them equals that of the scores the alerts carry.
    model = scoring_model(latest_risk_model(models_dir()))
    con = duckdb.connect(str(closed.warehouse), read_only=True)
    try:
        judged = judge_on_labels(model, labelled_features(con, labels_config()))
        fewer = LabelsConfig(**{**_shipped(), "min_labels": 41})
        too_few = judge_on_labels(model, labelled_features(con, fewer))
    finally:
        con.close()
    assert judged.labels == 40 and judged.concern == sum(closed.concern.values())
    assert judged.nights == (N2,)
    assert judged.auc is not None and 0.5 < judged.auc <= 1
    assert judged.auc == pytest.approx(judged.alerting_auc, abs=1e-12)
    assert judged.line().startswith("professionals' outcomes: 40 closed alerts over 1 nights")
    assert too_few.auc is None
    assert too_few.line() == (
        "professionals' outcomes: 40 labelled closed alerts, fewer than the 41 needed to judge on"
    )


def test_the_commands_bring_outcomes_back_before_training(
    closed: Closed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "outcomes"]) == 0
    assert capsys.readouterr().out.startswith("outcomes: 40 closed alerts in the warehouse's")
    assert main(["risk", "train"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("outcomes: 40 closed alerts")
    assert out[1].startswith("risk-v2: learned at ")
    judged = [x for x in out if x.startswith("    professionals' outcomes: 40 closed alerts")]
    assert len(judged) == 2, out  # one for each kind of model
    report = (closed.data / "models" / "risk-v2" / "boosted" / "evaluation.json").read_text()
    assert "professionals' outcomes: 40 closed alerts" in report


def test_no_store_yet_brings_nothing_back_and_makes_none(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    assert bring_back(store, tmp_path / "warehouse.duckdb", NOW) == [
        f"outcomes: no operational store at {store} yet: nothing to bring back"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_store_brings_back_what_copy_outcomes_copies(closed: Closed) -> None:
    lines = bring_back(closed.store, closed.warehouse, NOW)
    assert lines == copy_outcomes(closed.store, closed.warehouse, NOW).lines()
    assert lines[0].startswith("outcomes: 40 closed alerts in the warehouse's alert_outcomes")


def _shipped() -> dict[str, object]:
    return labels_config().model_dump()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"no_concern": ["not_a_concern"]},
            "the inbox's outcome no_further_action is in neither concern nor no_concern",
        ),
        (
            {"no_concern": ["no_further_action", "not_a_concern", "case_lost"]},
            "labels: case_lost not an outcome the inbox offers",
        ),
    ],
)
def test_labels_that_do_not_fit_the_inbox_are_refused_before_anything_is_written(
    closed: Closed, change: dict[str, object], message: str
) -> None:
    config = LabelsConfig(**{**_shipped(), **change})
    with pytest.raises(OutcomesCopyError, match=message):
        copy_outcomes(closed.store, closed.warehouse, NOW, config)
    con = duckdb.connect(str(closed.warehouse), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    finally:
        con.close()
    assert "alert_outcomes" not in tables


def test_the_shipped_labels_place_every_outcome_once(tmp_path: Path) -> None:
    check_labels(labels_config())
    shipped = labels_config()
    assert sorted(shipped.concern + shipped.no_concern) == sorted(OUTCOMES)
    bad = tmp_path / "risk.yaml"
    bad.write_text("labels:\n  concern: [not_a_concern]\n  no_concern: [not_a_concern]\n")
    with pytest.raises(FeaturesError, match=r"risk.yaml:1: labels: not_a_concern in both"):
        labels_config(bad)
