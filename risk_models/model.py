"""A person's risk of a serious safeguarding event: two models, calibrated, with exact reasons.

- `logistic`, the transparent baseline: each feature is put on a log scale
  (sign(x) * log(1 + |x|), so counts of 0, 1, 10 and 100 sit evenly), standardised, and
  weighted. A feature's contribution is its weight times its standardised value.
- `boosted`, the stronger model: gradient-boosted stumps (histogram trees of one split,
  sklearn's `HistGradientBoostingClassifier`). A sum of stumps is an additive model, one
  shape function a feature, so a feature's contribution is exactly the sum of its
  stumps' outputs less their average over the training persons. Features whose direction
  is known (`increasing`: counts of adverse events) are constrained non-decreasing.

Both give contributions on the raw model's log-odds scale, relative to the average
training person: with `base`, they add up to the raw score exactly. The probability a
professional sees comes from a monotone calibrator fitted on later, held-out persons
(`bounded_isotonic`: it never shows 0 or 1), so calibration changes neither the order of
persons nor the order of reasons. `points` splits the probability shown into the
average person's and each feature's share, in probability points, so the reasons a
professional reads and the rest add up to the score they see.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

Kind = Literal["logistic", "boosted"]
KINDS: tuple[Kind, ...] = ("logistic", "boosted")
MIN_OUTCOMES = 50  # fewer positive examples than this is not enough to learn from
# How the boosted model grows its stumps: chosen on four 60,000-person worlds by recorded
# outcomes at the judging date (never the truth), out of 162 settings tried by
# `bench/risk_gap.py`; against 300 stumps at 0.1 without regularisation it added 0.001 to
# 0.003 AUC on every world (docs/benchmarks.md, "Issue 17").
STUMPS: dict[str, Any] = {"max_iter": 800, "learning_rate": 0.05, "l2_regularization": 10.0}


class RiskModelError(ValueError):
    """A model that cannot be trained or used on the data given; the message says why."""


def _log_scale(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.sign(x) * np.log1p(np.abs(x)), dtype=float)


def matrix(frame: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The model's inputs from a features frame, in the model's order.

    Raises:
        RiskModelError: naming every feature the frame lacks.
    """
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise RiskModelError(
            f"the features frame lacks {len(missing)} feature(s) the model needs: "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}"
        )
    values = frame.select(pl.col(f).cast(pl.Float64).fill_null(0.0) for f in features)
    return _log_scale(values.to_numpy())


@dataclass
class _Stumps:
    """A fitted boosted model's stumps, grouped by the feature each splits on."""

    feature: np.ndarray  # per stump: the feature index
    threshold: np.ndarray
    left: np.ndarray  # output (learning rate applied) where x <= threshold
    right: np.ndarray
    mean: np.ndarray  # each stump's mean output over the training persons
    # Models saved before the histogram stumps compared in float32, as sklearn's
    # GradientBoostingClassifier does; a pickle without the field reads this default.
    in_float32: bool = True


@dataclass
class RiskModel:
    """A trained risk model: what it reads, how it scores, and how it explains a score."""

    kind: Kind
    feature_set: str
    features: tuple[str, ...]
    estimator: Any
    calibrator: IsotonicRegression
    base: float
    stumps: _Stumps | None = None
    trained: dict[str, Any] = field(default_factory=dict)
    increasing: tuple[str, ...] = ()  # features whose direction is known: more, more risk
    average: np.ndarray | None = None  # each input's mean over the training persons

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The uncalibrated score (log-odds) for each row of `matrix(...)`."""
        return np.asarray(self.estimator.decision_function(x), dtype=float)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """The calibrated probability of a serious event within the horizon."""
        return self.calibrated(self.raw(x))

    def calibrated(self, raw: np.ndarray) -> np.ndarray:
        """The probability shown for each raw score (log-odds)."""
        return np.asarray(self.calibrator.predict(np.asarray(raw, dtype=float)), dtype=float)

    def points(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The probability shown, split: the average person's, and each feature's points.

        The features that raised the raw score (positive contributions, summing to `up`)
        and those that lowered it (`down`) are two players of a game whose worth is the
        calibrated probability; each group gets its Shapley value (the mean of its effect
        added first and added second), shared within the group in proportion to the
        log-odds contributions. A feature that raised the raw score never gets negative
        points, nor one that lowered it positive points, and
        `base + points.sum(axis=1) == probability(x)` to rounding.

        Returns:
            The average training person's probability, and a points matrix like `x`.
        """
        parts = self.contributions(x)
        up = np.where(parts > 0, parts, 0.0).sum(axis=1)
        down = np.where(parts < 0, parts, 0.0).sum(axis=1)
        base = float(self.calibrated(np.array([self.base]))[0])
        shown = self.probability(x)
        after_up = self.calibrated(self.base + up)
        after_down = self.calibrated(self.base + down)
        gain = 0.5 * ((after_up - base) + (shown - after_down))
        loss = (shown - base) - gain
        with np.errstate(divide="ignore", invalid="ignore"):
            share_up = np.where(up > 0, gain / up, 0.0)
            share_down = np.where(down < 0, loss / down, 0.0)
        out = np.where(parts > 0, parts * share_up[:, None], parts * share_down[:, None])
        return base, np.asarray(out, dtype=float)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each feature's additive part of each row's raw score, relative to the average.

        `base + contributions(x).sum(axis=1)` equals `raw(x)` to rounding.
        """
        if self.kind == "logistic":
            return np.asarray(self.estimator.scaled(x) * self.estimator.weights, dtype=float)
        assert self.stumps is not None
        s = self.stumps
        out = np.zeros_like(x, dtype=float)
        xs = x.astype(np.float32) if s.in_float32 else x  # as the trees compare
        for j in np.unique(s.feature):
            mine = s.feature == j
            below = xs[:, [j]] <= s.threshold[mine]
            parts = np.where(below, s.left[mine], s.right[mine]) - s.mean[mine]
            out[:, j] = parts.sum(axis=1)
        return out


@dataclass
class _Standardised:
    """Logistic regression on standardised inputs, keeping the scaling for contributions."""

    regression: Any
    mean: np.ndarray
    sd: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> _Standardised:
        sd = x.std(axis=0)
        model = cls(
            LogisticRegression(C=1.0, max_iter=2000), x.mean(axis=0), np.where(sd > 0, sd, 1.0)
        )
        model.regression.fit(model.scaled(x), y)
        return model

    def scaled(self, x: np.ndarray) -> np.ndarray:
        return np.asarray((x - self.mean) / self.sd, dtype=float)

    @property
    def weights(self) -> np.ndarray:
        return np.asarray(self.regression.coef_[0], dtype=float)

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.regression.decision_function(self.scaled(x)), dtype=float)


def _stumps(model: HistGradientBoostingClassifier, x: np.ndarray) -> _Stumps:
    feature, threshold, left, right = [], [], [], []
    for (tree,) in model._predictors:
        nodes = tree.nodes
        if nodes["is_leaf"][0]:  # no split: a constant, part of the base
            continue
        # Leaf values carry the learning rate already; rows with x <= threshold go left.
        feature.append(int(nodes["feature_idx"][0]))
        threshold.append(float(nodes["num_threshold"][0]))
        left.append(float(nodes["value"][nodes["left"][0]]))
        right.append(float(nodes["value"][nodes["right"][0]]))
    f = np.array(feature, dtype=int)
    thr = np.array(threshold)
    lo, hi = np.array(left), np.array(right)
    mean = np.array(
        [np.where(x[:, j] <= th, a, b).mean() for j, th, a, b in zip(f, thr, lo, hi, strict=True)]
    )
    return _Stumps(f, thr, lo, hi, mean, in_float32=False)


def bounded_isotonic(raw: np.ndarray, outcome: np.ndarray) -> IsotonicRegression:
    """A monotone calibrator that never shows certainty: no probability of 0 or 1.

    Plain isotonic regression gives each step the share of its persons who had the
    outcome, so a step of a dozen persons who all did shows 1.0. Here each step of a
    first isotonic fit is given its rate by Laplace's rule of succession,
    (outcomes + 1) / (persons + 2), the steps are pooled again where that broke the
    order, and the result is clipped to [1/(n+2), 1 - 1/(n+2)] for the n persons of the
    calibration set. Large steps barely move; a step of 12 persons, all with the
    outcome, shows 13/14.

    Args:
        raw: the raw scores (log-odds) of the calibration persons.
        outcome: whether each had the outcome.
    """
    y = np.asarray(outcome, dtype=float)
    raw = np.asarray(raw, dtype=float)
    first = IsotonicRegression(out_of_bounds="clip").fit(raw, y)
    # A step is the persons with one fitted value (monotone, so they are contiguous).
    _, step, size = np.unique(first.predict(raw), return_inverse=True, return_counts=True)
    rate = (np.bincount(step, weights=y) + 1.0) / (size + 2.0)
    bound = 1.0 / (len(y) + 2.0)
    return IsotonicRegression(out_of_bounds="clip", y_min=bound, y_max=1.0 - bound).fit(
        raw, rate[step]
    )


def monotone(features: Sequence[str], patterns: Sequence[str]) -> tuple[str, ...]:
    """The features any of the glob patterns names (`n_*`), in the features' order."""
    return tuple(f for f in features if any(fnmatch.fnmatchcase(f, p) for p in patterns))


def fit(
    train: pl.DataFrame,
    calibrate: pl.DataFrame,
    features: Sequence[str],
    feature_set: str,
    kind: Kind,
    label: str = "outcome",
    seed: int = 1,
    increasing: Sequence[str] = (),
) -> RiskModel:
    """Train a model on earlier persons and calibrate it on later, held-out ones.

    Args:
        train: features and the `label` column (bool) of the training examples.
        calibrate: the same for later examples, kept apart to fit the calibrator.
        features: the feature columns, in order.
        feature_set: the version of the feature set these columns come from.
        kind: `logistic` or `boosted`.
        label: the outcome column.
        seed: for the boosted model's binning of large samples.
        increasing: features whose direction is known (more of them cannot lower risk):
            the boosted model is constrained non-decreasing in each, and none is given
            as a reason raising risk where the person has less than the average.

    Raises:
        RiskModelError: too few outcomes in either frame, or missing features.
    """
    for name, frame in (("training", train), ("calibration", calibrate)):
        positives = int(frame[label].sum()) if frame.height else 0
        if positives < MIN_OUTCOMES:
            raise RiskModelError(
                f"only {positives} serious outcome(s) among the {frame.height:,} {name} "
                f"examples; at least {MIN_OUTCOMES} are needed to train on (load more "
                "history, or widen the outcome window)"
            )
    x = matrix(train, features)
    y = train[label].cast(pl.Boolean).to_numpy()
    unknown = sorted(set(increasing) - set(features))
    if unknown:
        raise RiskModelError(f"features said to be increasing are not model inputs: {unknown}")
    stumps = None
    if kind == "logistic":
        estimator: Any = _Standardised.fit(x, y)
        base = float(estimator.regression.intercept_[0])
    else:
        estimator = HistGradientBoostingClassifier(
            max_depth=1,
            **STUMPS,
            early_stopping=False,
            monotonic_cst=[1 if f in increasing else 0 for f in features],
            random_state=seed,
        ).fit(x, y)
        stumps = _stumps(estimator, x)
        # The average raw score: the constant every stump's centred output is added to.
        base = float(np.mean(estimator.decision_function(x)))
    model = RiskModel(
        kind,
        feature_set,
        tuple(features),
        estimator,
        IsotonicRegression(),  # replaced below, once the raw scores can be computed
        base,
        stumps,
        increasing=tuple(f for f in features if f in set(increasing)),
        average=x.mean(axis=0),
    )
    outcome = calibrate[label].cast(pl.Boolean).to_numpy()
    model.calibrator = bounded_isotonic(model.raw(matrix(calibrate, features)), outcome)
    model.trained = {
        "kind": kind,
        "trained_at": dt.datetime.now().isoformat(timespec="seconds"),
        "training_examples": train.height,
        "training_outcomes": int(y.sum()),
        "calibration_examples": calibrate.height,
        "calibration_outcomes": int(calibrate[label].sum()),
        "calibration": "isotonic, each step at (outcomes + 1) / (persons + 2), "
        "within [1/(n+2), 1 - 1/(n+2)]",
        "increasing": list(model.increasing),
    }
    return model


def top_reasons(
    model: RiskModel,
    frame: pl.DataFrame,
    describe: Callable[[str, float], str],
    count: int = 3,
) -> list[list[dict[str, Any]]]:
    """For each row, the features that raised its score most, in a professional's words.

    A reason is a feature that raised the probability shown: its `points` (its share of
    the probability, from `RiskModel.points`) are above 0. Each carries its points and
    its log-odds `contribution` to the raw score. A feature whose direction is known
    (`model.increasing`) is never a reason where the person has less of it than the
    average training person: "4 fewer events" does not read as raising risk. What the
    reasons leave, `rest`, is the probability shown less their points.
    """
    x = matrix(frame, model.features)
    parts = model.contributions(x)
    _, points = model.points(x)
    raising = (parts > 0) & (points > 0)
    if model.increasing and model.average is not None:
        known = np.isin(np.array(model.features), np.array(model.increasing))
        raising &= ~known | (x > model.average)
    ranked = np.where(raising, parts, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :count]
    values = frame.select(pl.col(f).cast(pl.Float64).fill_null(0.0) for f in model.features)
    raw_values = values.to_numpy()
    words: dict[tuple[int, float], str] = {}
    reasons: list[list[dict[str, Any]]] = []
    for i in range(len(order)):
        mine = []
        for j in order[i]:
            if not raising[i, j]:
                break
            key = (int(j), float(raw_values[i, j]))
            if key not in words:
                words[key] = describe(model.features[j], key[1])
            mine.append(
                {
                    "feature": model.features[j],
                    "text": words[key],
                    "points": float(points[i, j]),
                    "contribution": float(parts[i, j]),
                }
            )
        reasons.append(mine)
    return reasons


def rest(score: float, reasons: Sequence[dict[str, Any]]) -> float:
    """The part of a probability shown that its reasons do not explain: the average
    person's probability and every other feature's points (either sign)."""
    return score - sum(float(r.get("points", 0.0)) for r in reasons)


def save(model: RiskModel, folder: Path) -> None:
    """Keep the model (`model.joblib`) and what it is (`model.json`) in its folder."""
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    about = {"feature_set": model.feature_set, "features": list(model.features), **model.trained}
    (folder / "model.json").write_text(json.dumps(about, indent=1, default=str))


def load(folder: Path, feature_set: str | None = None) -> RiskModel:
    """A saved model; refused, before it is unpickled, if it reads another feature set.

    Raises:
        RiskModelError: the folder holds no model, or one trained on other features.
    """
    try:
        about = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise RiskModelError(f"{folder}: not a saved risk model ({exc})") from exc
    if feature_set is not None and about.get("feature_set") != feature_set:
        raise RiskModelError(
            f"{folder.parent.name}/{folder.name} was trained on feature set "
            f"{about.get('feature_set')!r}, but tonight's features are {feature_set!r}; "
            "retrain with `joinedup risk train`"
        )
    model = joblib.load(folder / "model.joblib")
    if not isinstance(model, RiskModel):
        raise RiskModelError(f"{folder}: model.joblib does not hold a risk model")
    return model
