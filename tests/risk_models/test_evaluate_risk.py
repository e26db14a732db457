"""Evaluation figures: calibration error, cuts, and disparities with small groups suppressed."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from risk_models.evaluate import SMALL, EvaluationError, calibration_curve, evaluate


def test_a_calibrated_model_has_a_small_calibration_error() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(0.5, 15, 200_000)
    outcome = rng.random(len(p)) < p
    _, ece = calibration_curve(p, outcome)
    assert ece < 0.003
    _, off = calibration_curve(np.minimum(p * 2, 1), outcome)
    assert off > 0.02


def test_cuts_and_disparities() -> None:
    probability = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05] * 5)
    outcome = np.array([True, False, True, False, False, True] * 5)
    audit = pl.DataFrame(
        {
            "sex": ["F", "M", "F", "M", "F", "M"] * 5,
            "ethnicity": ["a"] * 24 + ["b"] * 6,
            "age_band": ["18-64"] * 30,
        }
    )
    e = evaluate(probability, outcome, audit, threshold=0.5, capacity=6)
    assert (e.threshold.flagged, e.threshold.true_flags) == (15, 10)
    assert e.threshold.precision == pytest.approx(10 / 15)
    assert e.threshold.recall == pytest.approx(10 / 15)
    assert e.capacity.flagged == 6
    groups = {(d["attribute"], d["group"]): d for d in e.disparities}
    women = groups[("sex", "F")]
    assert women["persons"] == 15
    assert women["selection_rate"] == pytest.approx(10 / 15)
    # 15 women: 10 outcomes, 5 without; a rate over fewer than SMALL is left out.
    assert women["false_negative_rate"] == pytest.approx(0.0)
    assert women["false_positive_rate"] is None
    assert women["base_rate"] == pytest.approx(10 / 15)
    assert women["precision"] == pytest.approx(10 / 10)  # flagged women all had an outcome
    assert women["auc"] is None  # 5 without an outcome: too few to rank
    everyone = groups[("age_band", "18-64")]
    assert everyone["base_rate"] == pytest.approx(15 / 30)
    assert everyone["precision"] == pytest.approx(10 / 15)
    # Within the group: of 15 x 15 pairs, outcome above non-outcome (ties half).
    assert everyone["auc"] == pytest.approx(e.auc)
    assert groups[("ethnicity", "b")]["suppressed"] is True
    assert groups[("ethnicity", "b")]["persons"] == f"<{SMALL}"


def test_nothing_to_judge_by() -> None:
    with pytest.raises(EvaluationError, match="0 of 3"):
        evaluate(np.array([0.1, 0.2, 0.3]), np.array([False] * 3), pl.DataFrame(), 0.5, 1)
