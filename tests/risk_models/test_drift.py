"""The population stability index between a model's reference and a night."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from risk_models import drift


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift() -> None:
    shares = np.array([0.5, 0.3, 0.2])
    assert drift.psi(shares, shares) == 0.0
    # By hand: (0.4 - 0.5) ln(0.4/0.5) + (0.4 - 0.3) ln(0.4/0.3) + 0 = 0.0511
    assert drift.psi(shares, np.array([0.4, 0.4, 0.2])) == pytest.approx(0.05108, abs=1e-4)
    assert drift.psi(shares, np.array([0.2, 0.3, 0.5])) > 0.5
    # An empty bin counts (at 0.0001), without dividing by zero.
    assert np.isfinite(drift.psi(shares, np.array([0.0, 0.5, 0.5])))


def test_a_night_like_the_reference_has_no_drift_and_a_shifted_one_has() -> None:
    rng = np.random.default_rng(4)
    n = 20_000

    def persons(rate: float) -> tuple[pl.DataFrame, np.ndarray]:
        counts = rng.poisson(rate, n)
        frame = pl.DataFrame(
            {"n_events_90d": counts, "age": rng.normal(40, 15, n), "constant": np.zeros(n)}
        )
        return frame, 1 / (1 + np.exp(-(-3 + 0.5 * counts)))

    names = ["n_events_90d", "age", "constant"]
    frame, score = persons(0.3)
    ref = drift.reference(frame, names, score)
    assert "constant" not in ref["bins"]  # one value for all: nothing to learn or move
    # Most persons have no event: the cut at 0 parts them from those with one or more.
    assert ref["bins"]["n_events_90d"]["cuts"][0] == 0.0
    frame, score = persons(0.3)
    same = drift.measure(ref, frame, names, score)
    assert same["psi"].max() < 0.01
    assert same["psi"].to_list() == sorted(same["psi"].to_list(), reverse=True)
    frame, score = persons(0.9)
    moved = drift.measure(ref, frame.with_columns(pl.lit(1.0).alias("constant")), names, score)
    psi = dict(moved.iter_rows())
    assert psi["n_events_90d"] > 0.25 and psi["score"] > 0.1 and psi["age"] < 0.01
    assert "constant" not in psi
    brief = drift.summary(moved, "2026-05-04")
    assert brief.feature == "n_events_90d" and brief.feature_psi == psi["n_events_90d"]
    assert brief.line().startswith("drift since 2026-05-04: score PSI ")
