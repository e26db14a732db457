"""The impact estimators on people simulated here, where the effect is known: the
discontinuity and the difference-in-differences find a planted effect within their
intervals, hold zero when there is none, and the placebos hold zero."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from insight.impact import (
    difference_in_differences,
    impact,
    matched_pairs,
    placebo_thresholds,
    regression_discontinuity,
)

CUT = -2.0  # the threshold on the raw score (log-odds)


def people(effect: float, seed: int, n: int = 40_000, comply: float = 0.9) -> pl.DataFrame:
    """People scored on a night: the alert mostly follows the threshold; a recent serious
    event both raises the score and makes the next period's look worse (regression to
    the mean), and the alert changes the chance of the next by `effect`."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(-3.0, 1.0, n)  # the person's lasting risk, in log-odds
    chance = 1 / (1 + np.exp(-risk))
    earlier = rng.random(n) < chance
    pre = rng.random(n) < chance
    raw = risk + 0.8 * pre + rng.normal(0, 0.3, n)  # a recent event lifts the score
    above = raw >= CUT
    alerted = np.where(above, rng.random(n) < comply, rng.random(n) < 0.02)
    post = rng.random(n) < np.clip(chance + effect * alerted, 0, 1)
    return pl.DataFrame(
        {
            "person_id": [f"p{i}" for i in range(n)],
            "score": 1 / (1 + np.exp(-raw)),
            "raw_score": raw,
            "alerted": alerted,
            "earlier": earlier,
            "pre": pre,
            "post": post,
        }
    )


@pytest.mark.parametrize("effect", [-0.08, 0.0, 0.08])
def test_the_discontinuity_finds_the_planted_effect(effect: float) -> None:
    frame = people(effect, seed=1).with_columns(pl.lit(CUT).alias("cut"))
    est, stage = regression_discontinuity(frame)
    assert est is not None, stage
    assert est.contains(effect), est
    assert stage["jump"] == pytest.approx(0.88, abs=0.08)


def test_a_big_effect_is_told_apart_from_none() -> None:
    frame = people(-0.15, seed=2).with_columns(pl.lit(CUT).alias("cut"))
    est, _ = regression_discontinuity(frame)
    assert est is not None
    assert est.high < 0


def test_no_estimate_when_the_alert_does_not_follow_the_threshold() -> None:
    frame = people(-0.1, seed=3, comply=0.03).with_columns(pl.lit(CUT).alias("cut"))
    est, stage = regression_discontinuity(frame)
    assert est is None
    assert stage["f"] < 10


def test_placebo_thresholds_hold_zero_with_a_real_effect() -> None:
    frame = people(-0.15, seed=4).with_columns(pl.lit(CUT).alias("cut"))
    _, stage = regression_discontinuity(frame)
    placebos = placebo_thresholds(frame, stage["bandwidth"])
    assert len(placebos) == 2
    assert all(p.contains(0.0) for p in placebos), placebos


def test_matched_pairs_are_alike_in_the_past_and_the_score() -> None:
    frame = people(0.0, seed=5)
    pairs = matched_pairs(frame)
    alerted, compared = pairs.filter(pl.col("alerted")), pairs.filter(~pl.col("alerted"))
    assert alerted.height == compared.height > 500
    assert (alerted["pre"] == compared["pre"]).all()
    gap = (alerted["raw_score"] - compared["raw_score"]).abs()
    assert gap.max() <= 0.05  # type: ignore[operator]
    assert compared["person_id"].n_unique() == compared.height  # without replacement


@pytest.mark.parametrize("effect", [-0.08, 0.0, 0.08])
def test_the_difference_in_differences_finds_the_planted_effect(effect: float) -> None:
    pairs = matched_pairs(people(effect, seed=6))
    est = difference_in_differences(pairs)
    assert est is not None
    assert est.contains(effect), est


def test_a_before_and_after_alone_is_fooled_by_the_regression_to_the_mean() -> None:
    """With no effect at all, the alerted's events fall after the night (they were picked
    for a recent one); the study says so and its comparison does not count it."""
    frame = people(0.0, seed=7)
    found = impact(frame, dt.date(2026, 11, 1), float(1 / (1 + np.exp(-CUT))), 182)
    alerted = found.before_after["alerted"]
    assert alerted.high < 0  # a fall, that a before-and-after would call the alert's doing
    assert found.did is not None and found.did.contains(0.0)
    assert any("regression to the mean" in n for n in found.notes)
