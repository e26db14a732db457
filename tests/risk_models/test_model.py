"""The risk models: exact reasons, calibration, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from risk_models.evaluate import calibration_curve
from risk_models.model import (
    KINDS,
    MIN_OUTCOMES,
    RiskModelError,
    bounded_isotonic,
    fit,
    load,
    matrix,
    monotone,
    rest,
    save,
    top_reasons,
)

FEATURES = ["n_domestic_abuse_90d", "n_referral_365d", "agencies_90d", "trend_90d"]


def _examples(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    abuse = rng.poisson(0.2, n)
    referrals = rng.poisson(0.3, n)
    agencies = rng.integers(0, 4, n)
    trend = rng.normal(0, 1.5, n)
    logit = -4.0 + 1.2 * np.log1p(abuse) + 0.8 * np.log1p(referrals) + 0.3 * agencies
    outcome = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame(
        {
            "n_domestic_abuse_90d": abuse.tolist(),
            "n_referral_365d": referrals.tolist(),
            "agencies_90d": agencies.tolist(),
            "trend_90d": trend.tolist(),
            "outcome": outcome.tolist(),
        }
    )


@pytest.fixture(scope="module")
def examples() -> tuple[pl.DataFrame, pl.DataFrame]:
    return _examples(30_000, 1), _examples(15_000, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_reasons_add_up_to_the_raw_score_and_to_the_score_shown(
    kind: str, examples: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    train, later = examples
    model = fit(train, later, FEATURES, "fs-test", kind)  # type: ignore[arg-type]
    x = matrix(later, FEATURES)
    parts = model.contributions(x)
    assert np.abs(model.base + parts.sum(axis=1) - model.raw(x)).max() < 1e-9
    # Relative to the average training person: they average to about nothing there.
    assert np.abs(model.contributions(matrix(train, FEATURES)).mean(axis=0)).max() < 1e-6
    # On the scale the professional sees: the average person's probability and every
    # feature's points add up to the probability shown, as do the reasons and the rest.
    shown = model.probability(x)
    base, points = model.points(x)
    assert np.abs(base + points.sum(axis=1) - shown).max() < 1e-9
    # Points keep the direction of the log-odds: what raised the score never lowers it.
    assert (points * parts >= -1e-15).all()
    reasons = top_reasons(model, later, lambda f, v: f"{v:g} of {f}")
    assert any(reasons)
    for i, (mine, score) in enumerate(zip(reasons, shown.tolist(), strict=True)):
        others = [j for j, f in enumerate(FEATURES) if f not in {r["feature"] for r in mine}]
        assert rest(score, mine) == pytest.approx(base + points[i, others].sum(), abs=1e-9)
        assert all(r["points"] > 0 for r in mine)


@pytest.mark.parametrize("kind", KINDS)
def test_the_strongest_real_driver_is_the_first_reason(
    kind: str, examples: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    train, later = examples
    model = fit(train, later, FEATURES, "fs-test", kind)  # type: ignore[arg-type]
    person = pl.DataFrame(
        {
            "n_domestic_abuse_90d": [4],
            "n_referral_365d": [0],
            "agencies_90d": [1],
            "trend_90d": [0.0],
        }
    )
    reasons = top_reasons(model, person, lambda f, v: f"{v:g} of {f}")[0]
    assert reasons[0]["feature"] == "n_domestic_abuse_90d"
    assert reasons[0]["text"] == "4 of n_domestic_abuse_90d"
    assert all(r["contribution"] > 0 and r["points"] > 0 for r in reasons)
    # Someone with nothing recorded has nothing that raised their score.
    nobody = person.with_columns(
        pl.lit(0).alias("n_domestic_abuse_90d"), pl.lit(0).alias("agencies_90d")
    )
    calm = top_reasons(model, nobody, lambda f, v: f)[0]
    assert all(r["feature"] != "n_domestic_abuse_90d" for r in calm)


def test_calibrated_probabilities_follow_the_raw_order_and_hold_on_new_persons(
    examples: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    train, later = examples
    model = fit(train, later, FEATURES, "fs-test", "boosted")
    x = matrix(later, FEATURES)
    order = np.argsort(model.raw(x), kind="stable")
    p = model.probability(x)[order]
    assert (np.diff(p) >= -1e-12).all()
    # Persons the calibrator never saw: predicted rates match observed ones.
    unseen = _examples(40_000, 3)
    _, ece = calibration_curve(
        model.probability(matrix(unseen, FEATURES)), unseen["outcome"].to_numpy()
    )
    assert ece < 0.01


def test_too_few_outcomes_is_refused(examples: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    train, later = examples
    few = train.filter(~pl.col("outcome")).vstack(
        train.filter(pl.col("outcome")).head(MIN_OUTCOMES - 1)
    )
    with pytest.raises(RiskModelError, match=f"only {MIN_OUTCOMES - 1} serious outcome"):
        fit(few, later, FEATURES, "fs-test", "logistic")


def test_a_missing_feature_is_named(examples: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    train, later = examples
    with pytest.raises(RiskModelError, match="trend_90d"):
        fit(train.drop("trend_90d"), later, FEATURES, "fs-test", "logistic")


def test_a_model_from_another_feature_set_is_refused(
    tmp_path: Path, examples: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    train, later = examples
    model = fit(train, later, FEATURES, "fs-old", "logistic")
    save(model, tmp_path / "risk-v1")
    again = load(tmp_path / "risk-v1", "fs-old")
    x = matrix(later, FEATURES)
    assert np.array_equal(again.probability(x), model.probability(x))
    with pytest.raises(RiskModelError, match=r"feature set 'fs-old'.*'fs-new'"):
        load(tmp_path / "risk-v1", "fs-new")


def _planted_certainty(later: pl.DataFrame) -> pl.DataFrame:
    """A dozen persons with far more abuse call-outs than anyone, every one with the
    outcome: a plain isotonic step of their own, at 1.0."""
    extreme = pl.DataFrame(
        {
            "n_domestic_abuse_90d": [40 + i for i in range(12)],
            "n_referral_365d": [6] * 12,
            "agencies_90d": [3] * 12,
            "trend_90d": [0.0] * 12,
            "outcome": [True] * 12,
        }
    )
    return later.vstack(extreme.cast(later.schema))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_the_calibrator_never_shows_certainty(
    kind: str, examples: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    train, later = examples
    calibrate = _planted_certainty(later)
    model = fit(train, calibrate, FEATURES, "fs-test", kind)  # type: ignore[arg-type]
    n = calibrate.height
    far = pl.DataFrame(
        {
            "n_domestic_abuse_90d": [0, 0, 45, 1_000_000],
            "n_referral_365d": [0, 0, 6, 1_000_000],
            "agencies_90d": [0, 0, 3, 50],
            "trend_90d": [0.0, -1e6, 0.0, 1e6],
        }
    )
    shown = model.probability(matrix(far, FEATURES))
    assert (shown >= 1 / (n + 2)).all() and (shown <= 1 - 1 / (n + 2)).all()
    # As a professional reads it, to four places: neither 0.0000 nor 1.0000.
    assert (np.round(shown, 4) > 0).all() and (np.round(shown, 4) < 1).all()
    # The planted dozen's step, all with the outcome, shows (m + 1) / (m + 2) for its m.
    everyone = model.probability(matrix(calibrate, FEATURES))
    step = np.isclose(everyone, everyone.max(), rtol=0, atol=1e-12)
    m, k = int(step.sum()), int(calibrate["outcome"].to_numpy()[step].sum())
    assert m >= 12 and k == m
    assert shown[2:].max() == pytest.approx((m + 1) / (m + 2))
    assert everyone.min() > 0


def test_bounded_isotonic_keeps_the_order_and_big_steps_as_they_were() -> None:
    rng = np.random.default_rng(4)
    raw = rng.normal(0, 1, 20_000)
    outcome = rng.random(20_000) < 1 / (1 + np.exp(-(raw * 2 - 3)))
    raw = np.append(raw, [9.0, 9.5, 10.0])  # three at the top, all with the outcome
    outcome = np.append(outcome, [True, True, True])
    cal = bounded_isotonic(raw, outcome)
    grid = np.linspace(-5, 12, 500)
    p = cal.predict(grid)
    assert (np.diff(p) >= -1e-12).all()
    assert p.max() < 1.0 and p.min() > 0.0
    # Where the steps hold many persons, the rates are what was observed.
    middle = (raw > -0.5) & (raw < 0.5)
    assert abs(cal.predict(raw[middle]).mean() - outcome[middle].mean()) < 0.01


def _falling_is_risky(n: int, seed: int) -> pl.DataFrame:
    """Examples where a fall in events goes with the outcome (the model learns it)."""
    frame = _examples(n, seed)
    rng = np.random.default_rng(seed + 100)
    trend = rng.normal(0, 2, n)
    logit = -3.0 - 0.6 * trend
    outcome = rng.random(n) < 1 / (1 + np.exp(-logit))
    return frame.with_columns(pl.Series("trend_90d", trend), pl.Series("outcome", outcome))


def test_fewer_events_is_never_a_reason_for_more_risk() -> None:
    train, later = _falling_is_risky(30_000, 6), _falling_is_risky(15_000, 7)
    person = pl.DataFrame(
        {"n_domestic_abuse_90d": [0], "n_referral_365d": [0], "agencies_90d": [0]}
    ).with_columns(pl.lit(-4.0).alias("trend_90d"))
    undeclared = fit(train, later, FEATURES, "fs-test", "logistic")
    # Undeclared, a fall of 4 raises this model's score, and reads as a reason; so may
    # "0 agencies", where a count's weight came out below 0 by chance.
    told = [r["feature"] for r in top_reasons(undeclared, person, lambda f, v: f)[0]]
    assert told[0] == "trend_90d"
    known = monotone(FEATURES, ["n_*", "agencies_*", "trend_*"])
    declared = fit(train, later, FEATURES, "fs-test", "logistic", increasing=known)
    assert (
        declared.probability(matrix(person, FEATURES))[0]
        > declared.calibrated(np.array([declared.base]))[0]
    )  # the model still rates the fall as risky: only the words changed
    assert top_reasons(declared, person, lambda f, v: f)[0] == []


def _peaked(n: int, seed: int) -> pl.DataFrame:
    """Examples where risk rises with plans to 4 and drops at 5 and above, by chance."""
    frame = _examples(n, seed)
    rng = np.random.default_rng(seed + 200)
    plans = rng.poisson(1.5, n)
    logit = -3.5 + np.where(plans >= 5, 0.2, 0.6 * plans)
    outcome = rng.random(n) < 1 / (1 + np.exp(-logit))
    return frame.with_columns(pl.Series("n_referral_365d", plans), pl.Series("outcome", outcome))


def test_another_adverse_event_never_lowers_the_score() -> None:
    train, later = _peaked(30_000, 8), _peaked(15_000, 9)
    counts = monotone(FEATURES, ["n_*", "agencies_*"])
    assert counts == ("n_domestic_abuse_90d", "n_referral_365d", "agencies_90d")
    free = fit(train, later, FEATURES, "fs-test", "boosted")
    model = fit(train, later, FEATURES, "fs-test", "boosted", increasing=counts)
    people = later.head(3_000)
    for feature in counts:
        one_more = people.with_columns(pl.col(feature) + 1)
        before, after = matrix(people, FEATURES), matrix(one_more, FEATURES)
        assert (model.raw(after) >= model.raw(before) - 1e-12).all()
        assert (model.probability(after) >= model.probability(before)).all()
    # Unconstrained, the same data teaches the model that a fifth plan lowers risk.
    four = pl.DataFrame(
        {"n_domestic_abuse_90d": [0, 0], "n_referral_365d": [4, 5], "agencies_90d": [1, 1]}
    ).with_columns(pl.lit(0.0).alias("trend_90d"))
    free_raw = free.raw(matrix(four, FEATURES))
    assert free_raw[1] < free_raw[0]
    held_raw = model.raw(matrix(four, FEATURES))
    assert held_raw[1] >= held_raw[0]
