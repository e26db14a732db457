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
    fit,
    load,
    matrix,
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
def test_reasons_add_up_to_the_score_exactly(
    kind: str, examples: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    train, later = examples
    model = fit(train, later, FEATURES, "fs-test", kind)  # type: ignore[arg-type]
    x = matrix(later, FEATURES)
    parts = model.contributions(x)
    assert np.abs(model.base + parts.sum(axis=1) - model.raw(x)).max() < 1e-9
    # Relative to the average training person: they average to about nothing there.
    assert np.abs(model.contributions(matrix(train, FEATURES)).mean(axis=0)).max() < 1e-6


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
    assert all(r["contribution"] > 0 for r in reasons)
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
