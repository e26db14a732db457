"""Benchmark: how well could any model of a world's records do, given perfect linkage?

Fits a gradient-boosted model on the world's own truth: every recorded event of each
person over the whole history (counts by kind, severity), their household's events, and
age, scored by five-fold cross-validation against the world's outcome. Prints its AUC
beside the oracle's (which knows each person's latent risk). This is the ceiling for
models that see only what partners record, before linkage errors and honest time splits.

    .venv/bin/python bench/risk_ceiling.py --world DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict


def main() -> None:
    """Print the ceiling AUC with the number of persons and events."""
    p = argparse.ArgumentParser()
    p.add_argument("--world", type=Path, required=True)
    args = p.parse_args()
    truth = args.world / "truth"
    events = pl.read_parquet(truth / "events.parquet").filter(pl.col("recorded"))
    people = pl.read_parquet(truth / "persons.parquet").filter(pl.col("outcome").is_not_null())
    kinds = sorted(events["kind"].unique().to_list())
    per = events.group_by("person_id").agg(
        *[(pl.col("kind") == k).sum().alias(k) for k in kinds],
        pl.col("severity").mean().alias("severity_mean"),
        (pl.col("severity") >= 2).sum().alias("severity_2_plus"),
        pl.len().alias("events"),
    )
    frame = (
        people.select("person_id", "household_id", "dob", "outcome", "true_probability")
        .join(per, on="person_id", how="left")
        .fill_null(0)
    )
    household = frame.group_by("household_id").agg(
        pl.col("events").sum().alias("household_events"),
        pl.col("severity_2_plus").sum().alias("household_severe"),
        pl.len().alias("household_size"),
    )
    last = events["date"].max()
    frame = frame.join(household, on="household_id").with_columns(
        (pl.col("household_events") - pl.col("events")).alias("others_events"),
        ((pl.lit(last) - pl.col("dob")).dt.total_days() / 365.25).alias("age"),
    )
    x = frame.drop("person_id", "household_id", "dob", "outcome", "true_probability")
    y = frame["outcome"].to_numpy()
    predicted = cross_val_predict(
        HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=1),
        x.to_numpy().astype(float),
        y,
        cv=5,
        method="predict_proba",
    )[:, 1]
    ceiling = roc_auc_score(y, predicted)
    oracle = roc_auc_score(y, frame["true_probability"].to_numpy())
    print(
        f"{len(y):,} persons, {events.height:,} recorded events: ceiling AUC {ceiling:.3f} "
        f"from every recorded event with perfect linkage; oracle {oracle:.3f}; "
        f"ceiling / oracle {ceiling / oracle:.1%}"
    )


if __name__ == "__main__":
    main()
