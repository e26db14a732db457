"""A person's risk of a serious safeguarding event: two models, calibrated, with exact reasons.

- `logistic`, the transparent baseline: each feature is put on a log scale
  (sign(x) * log(1 + |x|), so counts of 0, 1, 10 and 100 sit evenly), standardised, and
  weighted. A feature's contribution is its weight times its standardised value.
- `boosted`, the stronger model: gradient-boosted stumps (trees of one split). A sum of
  stumps is an additive model, one shape function a feature, so a feature's contribution
  is exactly the sum of its stumps' outputs less their average over the training persons.

Both give contributions on the raw model's log-odds scale, relative to the average
training person: with `base`, they add up to the raw score exactly. The probability a
professional sees comes from a monotone (isotonic) calibrator fitted on later, held-out
persons, so calibration changes neither the order of persons nor the order of reasons.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import polars as pl
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

Kind = Literal["logistic", "boosted"]
KINDS: tuple[Kind, ...] = ("logistic", "boosted")
MIN_OUTCOMES = 50  # fewer positive examples than this is not enough to learn from


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

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The uncalibrated score (log-odds) for each row of `matrix(...)`."""
        return np.asarray(self.estimator.decision_function(x), dtype=float)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """The calibrated probability of a serious event within the horizon."""
        return np.asarray(self.calibrator.predict(self.raw(x)), dtype=float)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each feature's additive part of each row's raw score, relative to the average.

        `base + contributions(x).sum(axis=1)` equals `raw(x)` to rounding.
        """
        if self.kind == "logistic":
            return np.asarray(self.estimator.scaled(x) * self.estimator.weights, dtype=float)
        assert self.stumps is not None
        s = self.stumps
        out = np.zeros_like(x, dtype=float)
        x32 = x.astype(np.float32)  # as the trees compare
        for j in np.unique(s.feature):
            mine = s.feature == j
            below = x32[:, [j]] <= s.threshold[mine]
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


def _stumps(model: GradientBoostingClassifier, x: np.ndarray) -> _Stumps:
    rate = model.learning_rate
    feature, threshold, left, right = [], [], [], []
    for (tree,) in model.estimators_:
        t = tree.tree_
        if t.node_count < 3:  # no split: a constant, part of the base
            continue
        feature.append(int(t.feature[0]))
        threshold.append(float(t.threshold[0]))
        left.append(rate * float(t.value[t.children_left[0]].ravel()[0]))
        right.append(rate * float(t.value[t.children_right[0]].ravel()[0]))
    f = np.array(feature, dtype=int)
    thr = np.array(threshold)
    lo, hi = np.array(left), np.array(right)
    x32 = x.astype(np.float32)  # the trees compare in float32
    mean = np.array(
        [np.where(x32[:, j] <= th, a, b).mean() for j, th, a, b in zip(f, thr, lo, hi, strict=True)]
    )
    return _Stumps(f, thr, lo, hi, mean)


def fit(
    train: pl.DataFrame,
    calibrate: pl.DataFrame,
    features: Sequence[str],
    feature_set: str,
    kind: Kind,
    label: str = "outcome",
    seed: int = 1,
) -> RiskModel:
    """Train a model on earlier persons and calibrate it on later, held-out ones.

    Args:
        train: features and the `label` column (bool) of the training examples.
        calibrate: the same for later examples, kept apart to fit the calibrator.
        features: the feature columns, in order.
        feature_set: the version of the feature set these columns come from.
        kind: `logistic` or `boosted`.
        label: the outcome column.
        seed: for the boosted model's row sampling.

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
    stumps = None
    if kind == "logistic":
        estimator: Any = _Standardised.fit(x, y)
        base = float(estimator.regression.intercept_[0])
    else:
        estimator = GradientBoostingClassifier(
            max_depth=1, n_estimators=300, learning_rate=0.1, subsample=0.5, random_state=seed
        ).fit(x, y)
        stumps = _stumps(estimator, x)
        # The average raw score: the constant every stump's centred output is added to.
        base = float(np.mean(estimator.decision_function(x)))
    calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    model = RiskModel(kind, feature_set, tuple(features), estimator, calibrator, base, stumps)
    calibrator.fit(model.raw(matrix(calibrate, features)), calibrate[label].cast(pl.Boolean))
    model.trained = {
        "kind": kind,
        "trained_at": dt.datetime.now().isoformat(timespec="seconds"),
        "training_examples": train.height,
        "training_outcomes": int(y.sum()),
        "calibration_examples": calibrate.height,
        "calibration_outcomes": int(calibrate[label].sum()),
    }
    return model


def top_reasons(
    model: RiskModel,
    frame: pl.DataFrame,
    describe: Callable[[str, float], str],
    count: int = 3,
) -> list[list[dict[str, Any]]]:
    """For each row, the features that raised its score most, in a professional's words.

    Only features that pushed the score up are reasons; each carries its exact
    contribution (log-odds) to the raw score. A person the model rates as average or
    below has no reasons.
    """
    x = matrix(frame, model.features)
    parts = model.contributions(x)
    order = np.argsort(-parts, axis=1, kind="stable")[:, :count]
    chosen = np.take_along_axis(parts, order, axis=1)
    values = frame.select(pl.col(f).cast(pl.Float64).fill_null(0.0) for f in model.features)
    raw_values = values.to_numpy()
    words: dict[tuple[int, float], str] = {}
    reasons: list[list[dict[str, Any]]] = []
    for i in range(len(order)):
        mine = []
        for j, weight in zip(order[i], chosen[i], strict=True):
            if weight <= 0:
                break
            key = (int(j), float(raw_values[i, j]))
            if key not in words:
                words[key] = describe(model.features[j], key[1])
            mine.append(
                {"feature": model.features[j], "text": words[key], "contribution": float(weight)}
            )
        reasons.append(mine)
    return reasons


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
