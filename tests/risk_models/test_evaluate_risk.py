"""Evaluation figures: calibration error, cuts, and disparities with small groups suppressed."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from risk_models.evaluate import (
    SMALL,
    EvaluationError,
    GroupBounds,
    auc_interval,
    calibration_curve,
    capacity_cost,
    evaluate,
    group_lines,
    wilson,
)


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


def _planted(n: int = 60_000) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    """Calibrated scores for everyone, except group "b" (scores twice its true risk) and
    group "c" (outcomes its scores never reach the threshold for), and a group "d" of 400,
    miscalibrated too but under the size that warns."""
    rng = np.random.default_rng(11)
    groups = rng.choice(["a", "b", "c"], n, p=[0.8, 0.1, 0.1])
    groups[:400] = "d"
    risk = rng.beta(1.0, 12.0, n)
    outcome = rng.random(n) < risk
    shown = risk.copy()
    shown[(groups == "b") | (groups == "d")] = np.minimum(risk * 2, 0.99)[
        (groups == "b") | (groups == "d")
    ]
    shown[groups == "c"] = np.minimum(risk, 0.149)[groups == "c"]
    audit = pl.DataFrame({"ethnicity": groups.tolist()})
    return shown, outcome, audit


def test_each_group_has_its_figures_with_intervals() -> None:
    shown, outcome, audit = _planted()
    e = evaluate(shown, outcome, audit, threshold=0.15, capacity=500)
    groups = {d["group"]: d for d in e.disparities}
    for g in ("a", "b", "c"):
        row = groups[g]
        for name in (
            "base_rate",
            "selection_rate",
            "precision",
            "recall",
            "false_negative_rate",
            "auc",
            "ece",
        ):
            value, low, high = row[name], row[f"{name}_low"], row[f"{name}_high"]
            if g == "c" and name == "precision":  # nobody in c is flagged: no precision
                assert value is None and low is None and high is None
                continue
            assert low <= value <= high, (g, name, low, value, high)
            assert high - low < 0.2, (g, name)
        assert row["recall"] == pytest.approx(1 - row["false_negative_rate"])
    # A calibrated group's error is small, with a narrow interval; the doubled group's is not.
    assert groups["a"]["ece_high"] < 0.01
    assert groups["b"]["ece_low"] > 0.03
    # The larger group has the narrower intervals.
    a, b = groups["a"], groups["b"]
    assert a["auc_high"] - a["auc_low"] < b["auc_high"] - b["auc_low"]


def test_a_group_beyond_its_bounds_is_warned_of_and_a_small_one_is_not() -> None:
    shown, outcome, audit = _planted()
    e = evaluate(shown, outcome, audit, threshold=0.15, capacity=500)
    warned: dict[str, list[str]] = {}
    for w in e.group_warnings:
        warned.setdefault(w.split(" (")[0], []).append(w)
    assert set(warned) == {"ethnicity b", "ethnicity c"}, e.group_warnings
    # b's doubled scores are miscalibrated, and flag so many that it misses few.
    (calibration,) = [w for w in warned["ethnicity b"] if "calibration error" in w]
    assert "above the bound of 0.03" in calibration
    (missed,) = warned["ethnicity c"]
    assert "false-negative rate 1.000" in missed and "from everyone's" in missed
    # Group d (400 persons) is as miscalibrated as b, but under min_persons.
    groups = {d["group"]: d for d in e.disparities}
    assert groups["d"]["ece"] > 0.03
    # Looser bounds, or a higher size floor, and nothing is warned of.
    quiet = evaluate(
        shown,
        outcome,
        audit,
        threshold=0.15,
        capacity=500,
        bounds=GroupBounds(ece_bound=0.5, fnr_gap=0.99),
    )
    assert quiet.group_warnings == []
    assert group_lines(quiet, GroupBounds())[0].startswith("each group of 500 or more")
    lines = group_lines(e, GroupBounds())
    n = len(e.group_warnings)
    assert lines[0] == f"{n} group warning(s):" and len(lines) == n + 1


def test_the_auc_interval_follows_hanley_and_mcneil() -> None:
    # By hand for an area of 0.80 with 50 cases each way: Q1 = 0.8 / 1.2, Q2 = 1.28 / 1.8,
    # SE^2 = (0.16 + 49 (Q1 - 0.64) + 49 (Q2 - 0.64)) / 2500 = 0.001980, SE = 0.0445.
    auc, n1, n0 = 0.8, 50, 50
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = np.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / 2500)
    assert se == pytest.approx(0.0445, abs=0.0001)
    low, high = auc_interval(auc, n1, n0)
    assert (low, high) == pytest.approx((auc - 1.959964 * se, auc + 1.959964 * se))
    assert wilson(0, 20)[0] == 0.0 and wilson(20, 20)[1] == 1.0
    assert wilson(10, 20) == pytest.approx((0.2993, 0.7007), abs=0.0001)


def test_what_the_teams_capacity_costs_in_recall() -> None:
    probability = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05] * 5)
    outcome = np.array([True, False, True, False, False, True] * 5)
    audit = pl.DataFrame({"sex": ["F", "M"] * 15})
    e = evaluate(probability, outcome, audit, threshold=0.5, capacity=5)
    # The top 5 are the five at 0.9, all with an outcome; the threshold flags 15, 10 rightly.
    assert (e.capacity.flagged, e.capacity.true_flags, e.capacity.lowest_probability) == (
        5,
        5,
        0.9,
    )
    assert e.threshold.lowest_probability == 0.7
    line = capacity_cost(e, "alerts.yaml: 9 teams' nightly capacity")
    assert line == (
        "teams can review 5 (alerts.yaml: 9 teams' nightly capacity): the top 5 are cut at "
        "probability 0.900; against flagging everyone at the threshold (15 persons) that "
        "costs recall 0.333 (5 persons with a serious event not flagged)"
    )
    roomy = evaluate(probability, outcome, audit, threshold=0.5, capacity=20)
    assert capacity_cost(roomy).endswith("flags every one of the 10 the threshold finds, and more")
