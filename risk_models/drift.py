"""How far tonight's features and scores have moved from those the model was judged on.

Training keeps a reference with the model (`model.trained["drift_reference"]`): for each
feature, and for the calibrated score, the cut points of its deciles on the held-out
persons and the share of them between each pair of cuts. Each night the same cuts are
laid over tonight's persons and the shares compared by the population stability index,

    PSI = sum over bins of (tonight's share - reference share) * ln(tonight's / reference),

with a share of 0 taken as 0.0001 so an empty bin counts without dividing by zero. A PSI
under 0.1 is usually read as no real shift, 0.1 to 0.25 as some, and above 0.25 as a
shift worth looking into; the bounds that warn are risk.yaml's `drift:` settings.
Features that take few values (most are counts of events) have fewer cuts: the deciles'
distinct values. A feature with one value for every reference person is left out: the
model could learn nothing from it, so its moving cannot move a score (`agencies_involved`
is such a feature when the reference date comes before the first night, as involvements
count only from the night they were first loaded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

SCORE = "score"
FLOOR = 1e-4


def _cuts(values: np.ndarray) -> list[float]:
    """The distinct inner deciles of a reference's values: the bins' edges."""
    if len(values) == 0:
        return []
    inner = np.quantile(values, np.linspace(0.1, 0.9, 9))
    return sorted({float(v) for v in inner})


def _shares(values: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    """The share of the values in each bin; a bin runs from above one cut up to and
    including the next, so a count whose deciles are all 0 still parts 0 from the rest."""
    bins = np.searchsorted(np.asarray(cuts, dtype=float), values, side="left")
    counts = np.bincount(bins, minlength=len(cuts) + 1).astype(float)
    return counts / max(len(values), 1)


def psi(reference: np.ndarray, tonight: np.ndarray) -> float:
    """The population stability index between two sets of bin shares."""
    e = np.maximum(reference, FLOOR)
    a = np.maximum(tonight, FLOOR)
    return float(((a - e) * np.log(a / e)).sum())


def reference(features: pl.DataFrame, names: Sequence[str], score: np.ndarray) -> dict[str, Any]:
    """The cuts and shares of every feature and of the score on the persons given."""
    out: dict[str, Any] = {}
    for name, values in [
        *((n, features[n].cast(pl.Float64).to_numpy()) for n in names),
        (SCORE, np.asarray(score, dtype=float)),
    ]:
        if name != SCORE and len(values) and np.all(values == values[0]):
            continue  # one value for everyone: the model learned nothing from it
        cuts = _cuts(values)
        out[name] = {"cuts": cuts, "shares": _shares(values, cuts).round(6).tolist()}
    return {"persons": features.height, "bins": out}


def measure(
    ref: dict[str, Any], features: pl.DataFrame, names: Sequence[str], score: np.ndarray
) -> pl.DataFrame:
    """name and psi of the score and of each feature the reference holds, largest first."""
    bins = ref["bins"]
    rows = []
    for name in [SCORE, *names]:
        if name not in bins:
            continue
        values = (
            np.asarray(score, dtype=float)
            if name == SCORE
            else features[name].cast(pl.Float64).to_numpy()
        )
        b = bins[name]
        rows.append((name, psi(np.asarray(b["shares"]), _shares(values, b["cuts"]))))
    frame = pl.DataFrame(rows, schema=["name", "psi"], orient="row")
    return frame.sort("psi", descending=True, maintain_order=True)


@dataclass(frozen=True)
class Drift:
    """A night's drift from the model's reference, in brief."""

    score_psi: float
    feature: str
    feature_psi: float
    reference: str

    def line(self) -> str:
        """Words for the night's report."""
        return (
            f"drift since {self.reference}: score PSI {self.score_psi:.3f}, largest feature "
            f"PSI {self.feature_psi:.3f} ({self.feature})"
        )


def summary(measured: pl.DataFrame, reference_date: str) -> Drift:
    """The score's PSI and the feature that moved most."""
    score = measured.filter(pl.col("name") == SCORE)["psi"]
    features = measured.filter(pl.col("name") != SCORE)
    top = features.row(0) if features.height else ("none", 0.0)
    return Drift(
        float(score[0]) if score.len() else 0.0, str(top[0]), float(top[1]), reference_date
    )
