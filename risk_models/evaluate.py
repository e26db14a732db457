"""How good a risk model is, measured as a professional and a commissioner would ask.

Discrimination (AUC, average precision), what the flags are worth at the operating
threshold and at a team's nightly capacity (precision: how often a flag is right; recall:
how many of those who went on to a serious event were flagged), calibration (a curve and
the expected calibration error), and disparities by sex, ethnicity and age band (selection
rate, false-positive rate, false-negative rate), with groups under `SMALL` suppressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, roc_auc_score

from common import ranking

SMALL = 10  # groups with fewer people, or fewer outcomes, are not reported apart
AUDIT_COLUMNS = ("sex", "ethnicity", "age_band")


class EvaluationError(ValueError):
    """Scores that cannot be judged (no outcomes, or nothing but outcomes)."""


@dataclass
class AtCut:
    """What flagging everyone above a cut would have meant."""

    cut: str
    flagged: int
    true_flags: int
    precision: float
    recall: float


@dataclass
class Evaluation:
    """Every figure of one evaluation, ready for the JSON and HTML reports."""

    persons: int
    outcomes: int
    outcome_rate: float
    auc: float
    average_precision: float
    threshold: AtCut
    capacity: AtCut
    calibration: list[dict[str, float]]
    ece: float
    disparities: list[dict[str, Any]]
    oracle_auc: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)


def _at(cut: str, flagged: np.ndarray, outcome: np.ndarray) -> AtCut:
    n, hits, total = int(flagged.sum()), int((flagged & outcome).sum()), int(outcome.sum())
    return AtCut(cut, n, hits, hits / n if n else 0.0, hits / total if total else 0.0)


def calibration_curve(
    probability: np.ndarray, outcome: np.ndarray, bins: int = 10
) -> tuple[list[dict[str, float]], float]:
    """Mean predicted against observed rate in equal-count bins, and the expected error.

    The expected calibration error is the persons-weighted mean of |predicted - observed|
    over the bins.
    """
    order = np.argsort(probability, kind="stable")
    rows = []
    ece = 0.0
    for part in np.array_split(order, bins):
        if len(part) == 0:
            continue
        predicted = float(probability[part].mean())
        observed = float(outcome[part].mean())
        rows.append({"persons": len(part), "predicted": predicted, "observed": observed})
        ece += len(part) / len(probability) * abs(predicted - observed)
    return rows, ece


def disparities(
    audit: pl.DataFrame,
    flagged: np.ndarray,
    outcome: np.ndarray,
    probability: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """For each group of each audit column: its base rate (the share with an outcome),
    selection rate, precision of its flags (PPV), false-positive and false-negative
    rates, and (given the probabilities) the AUC within the group.

    A group with fewer than `SMALL` persons is reported as suppressed; a rate whose
    denominator is under `SMALL` is left out, and so is an AUC with fewer than `SMALL`
    outcomes or non-outcomes. People whose records give no sex, ethnicity or date of
    birth are the group "unknown", reported like any other.
    """
    frame = audit.with_columns(
        pl.Series("flagged", flagged.tolist()),
        pl.Series("outcome", outcome.tolist()),
        pl.Series(
            "probability",
            (probability if probability is not None else np.full(len(outcome), np.nan)).tolist(),
        ),
    )
    rows: list[dict[str, Any]] = []
    for column in AUDIT_COLUMNS:
        if column not in frame.columns:
            continue
        groups = frame.group_by(pl.col(column).fill_null("unknown").alias("group")).agg(
            pl.len().alias("persons"),
            pl.col("flagged").sum().alias("flagged"),
            pl.col("outcome").sum().alias("outcomes"),
            (pl.col("flagged") & ~pl.col("outcome")).sum().alias("false_flags"),
            (~pl.col("flagged") & pl.col("outcome")).sum().alias("missed"),
            pl.col("outcome").alias("outcome_list"),
            pl.col("probability").alias("probability_list"),
        )
        for g in groups.sort("group").iter_rows(named=True):
            negatives = g["persons"] - g["outcomes"]
            row: dict[str, Any] = {"attribute": column, "group": g["group"]}
            if g["persons"] < SMALL:
                rows.append({**row, "persons": f"<{SMALL}", "suppressed": True})
                continue
            auc = None
            if probability is not None and min(g["outcomes"], negatives) >= SMALL:
                auc = float(roc_auc_score(g["outcome_list"], g["probability_list"]))
            rows.append(
                {
                    **row,
                    "persons": g["persons"],
                    "base_rate": g["outcomes"] / g["persons"],
                    "selection_rate": g["flagged"] / g["persons"],
                    "precision": (g["flagged"] - g["false_flags"]) / g["flagged"]
                    if g["flagged"] >= SMALL
                    else None,
                    "auc": auc,
                    "false_positive_rate": g["false_flags"] / negatives
                    if negatives >= SMALL
                    else None,
                    "false_negative_rate": g["missed"] / g["outcomes"]
                    if g["outcomes"] >= SMALL
                    else None,
                    "suppressed": False,
                }
            )
    return rows


def evaluate(
    probability: np.ndarray,
    outcome: np.ndarray,
    audit: pl.DataFrame,
    threshold: float,
    capacity: int,
    oracle_auc: float | None = None,
    raw: np.ndarray | None = None,
    person_id: Sequence[str] | None = None,
) -> Evaluation:
    """Judge calibrated probabilities against what happened.

    Args:
        probability: each person's calibrated probability.
        outcome: whether each person went on to a serious event in the horizon.
        audit: `sex`, `ethnicity`, `age_band` per person, in the same order (never model
            inputs; used here only to measure disparities).
        threshold: the operating threshold (a probability).
        capacity: how many persons the teams can review in one night: the top ones.
        oracle_auc: the ceiling on a synthetic world, where the true risk is known.
        raw: each person's raw score, to break ties at the capacity cut (`common.ranking`);
            the probability itself when None.
        person_id: each person's id, the last tie-break; positions when None.

    Raises:
        EvaluationError: when the outcomes are all the same.
    """
    outcome = outcome.astype(bool)
    positives = int(outcome.sum())
    if positives == 0 or positives == len(outcome):
        raise EvaluationError(
            f"{positives} of {len(outcome):,} persons had the outcome: nothing to judge by"
        )
    flagged = probability >= threshold
    ids = person_id if person_id is not None else [str(i) for i in range(len(probability))]
    top = ranking.top(capacity, probability, probability if raw is None else raw, ids)
    curve, ece = calibration_curve(probability, outcome)
    return Evaluation(
        persons=len(outcome),
        outcomes=positives,
        outcome_rate=positives / len(outcome),
        auc=float(roc_auc_score(outcome, probability)),
        average_precision=float(average_precision_score(outcome, probability)),
        threshold=_at(f"probability >= {threshold}", flagged, outcome),
        capacity=_at(f"the top {capacity:,}", top, outcome),
        calibration=curve,
        ece=ece,
        disparities=disparities(audit, flagged, outcome, probability),
        oracle_auc=oracle_auc,
    )
