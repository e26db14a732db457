"""The backtest's windows: only dates after everything the model saw, each outcome once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

import polars as pl
import pytest

from risk_models.backtest import BacktestError, as_of_dates, backtest, out_of_sample_from
from risk_models.features import build_features, feature_names, feature_set
from risk_models.model import RiskModel, fit, matrix
from risk_models.outcomes import OutcomeConfig, outcomes, training_examples

if TYPE_CHECKING:
    from risk.conftest import LinkedWorld

HORIZON = 60
DAY = dt.timedelta(days=1)
# More kinds of event than the shipped outcome, so this small world's short horizons hold
# the outcomes a model needs; the windows do not depend on which events count.
OUTCOME = OutcomeConfig(
    types=[
        "child_protection_plan",
        "safeguarding_enquiry",
        "serious_incident",
        "domestic_abuse",
        "missing_episode",
        "emergency_attendance",
    ],
    horizon_days=HORIZON,
)


@pytest.fixture(scope="module")
def model(linked_world: LinkedWorld) -> RiskModel:
    """A model learned and calibrated as `joinedup risk train` does, a horizon apart,
    but a year before the newest night, so later dates can be replayed out of sample."""
    night = linked_world.nights[-1]
    learned_at = night - 360 * DAY
    judged_at = learned_at + HORIZON * DAY
    con = linked_world.read()
    try:
        examples = training_examples(con, [learned_at, judged_at], HORIZON, OUTCOME)
    finally:
        con.close()
    found = fit(
        examples.filter(pl.col("as_of") == learned_at),
        examples.filter(pl.col("as_of") == judged_at),
        feature_names(),
        feature_set(),
        "logistic",
    )
    found.trained.update(
        version="risk-test",
        learned_at=str(learned_at),
        judged_at=str(judged_at),
        horizon_days=HORIZON,
    )
    return found


def test_only_dates_after_every_outcome_the_model_saw_are_replayed(
    linked_world: LinkedWorld, model: RiskModel
) -> None:
    first = out_of_sample_from(model)
    assert first == dt.date.fromisoformat(model.trained["judged_at"]) + HORIZON * DAY
    con = linked_world.read()
    try:
        # The day before the first allowed date: its outcome window holds the last
        # calibration outcome's day.
        with pytest.raises(BacktestError, match=f"first as-of date out of sample is {first}"):
            backtest(con, model, [first - DAY, first], 0.2, 50, HORIZON, OUTCOME)
        with pytest.raises(BacktestError, match="not out of sample"):
            backtest(
                con,
                model,
                [dt.date.fromisoformat(model.trained["learned_at"])],
                0.2,
                50,
                HORIZON,
                OUTCOME,
            )
        unsaid = dataclasses.replace(model, trained={"version": "risk-test"})
        with pytest.raises(BacktestError, match="does not say which dates it learned"):
            backtest(con, unsaid, [first], 0.2, 50, HORIZON, OUTCOME)
        assert backtest(con, model, [first], 0.2, 50, HORIZON, OUTCOME).dates[0].as_of == first
    finally:
        con.close()


def test_each_outcome_counts_once_in_the_totals(
    linked_world: LinkedWorld, model: RiskModel
) -> None:
    night = linked_world.nights[-1]
    first = out_of_sample_from(model)
    dates = as_of_dates(first, night - HORIZON * DAY, 14)
    assert len(dates) >= 4
    threshold = 0.05
    con = linked_world.read()
    try:
        result = backtest(con, model, dates, threshold, 50, HORIZON, OUTCOME)
        # Worked out again here: every person and date, then each person once.
        rows = []
        for as_of in dates:
            frame = build_features(con, as_of, night).join(
                outcomes(con, as_of, HORIZON, OUTCOME), on="person_id"
            )
            p = model.probability(matrix(frame, model.features))
            rows.append(
                frame.select("person_id", "outcome").with_columns(
                    as_of=pl.lit(as_of), flagged=pl.Series(p >= threshold)
                )
            )
    finally:
        con.close()
    every = pl.concat(rows)
    before: set[str] | None = None
    for got, frame in zip(result.dates, rows, strict=True):
        flagged = frame.filter(pl.col("flagged"))
        ids = set(flagged["person_id"])
        assert (got.at_threshold.flagged, got.at_threshold.true_flags) == (
            flagged.height,
            int(flagged["outcome"].sum()),
        )
        assert got.at_threshold.new == (None if before is None else len(ids - before))
        before = ids
    per_date = every.group_by("as_of").agg(pl.col("outcome").sum()).sort("as_of")
    assert [d.outcomes for d in result.dates] == per_date["outcome"].to_list()
    had = every.filter(pl.col("outcome"))["person_id"].n_unique()
    # Dates a fortnight apart with a 60-day horizon share outcomes: summing would count
    # them several times.
    assert result.outcomes == had < sum(d.outcomes for d in result.dates)
    first_flags = (
        every.filter(pl.col("flagged"))
        .sort("as_of")
        .group_by("person_id")
        .agg(pl.col("outcome").first())
    )
    t = result.total_threshold
    assert t.flagged == first_flags.height == result.persons_flagged > 0
    assert t.true_flags == int(first_flags["outcome"].sum())
    caught = every.filter(pl.col("flagged") & pl.col("outcome"))["person_id"].n_unique()
    assert t.recall == pytest.approx(caught / had)
    assert t.flagged < sum(d.at_threshold.flagged for d in result.dates)
    total = result.frame().row(-1, named=True)
    assert (total["as_of"], total["outcomes"], total["threshold_flagged"]) == (
        "total",
        had,
        first_flags.height,
    )
