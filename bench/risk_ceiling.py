"""Benchmark: how well could any model of a world's records do, given perfect linkage?

The ceiling fits a gradient-boosted model on every fact a partner records about each
person, joined by the world's truth (perfect linkage). It is scored by five-fold
cross-validation against the world's outcome. The facts are:
- every recorded event over the whole history: counts by kind and severity, and the
  household's;
- the registers that hold them on the last night: council tax, benefit claims, the
  housing register, the school roll, the GP list, and so on;
- the tenancy, as the housing register records it;
- school attendance, as the last night's pupils.csv gives it;
- age and sex.

Its AUC comes with a 95% interval from bootstrap resamples of the persons. With
`--warehouse` (the product's warehouse of the same world, scored), the product's scores on
its newest night are put on the world's persons (`truth_ids`) and judged on the same
persons. The product's AUC and its ratio to the ceiling are then given with 95% intervals
from the same (paired) resamples.

    .venv/bin/python bench/risk_ceiling.py --world DIR [--warehouse W] [--resamples 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

# This folder's alerts.py would stand in for the alerts package: look from the top.
sys.path[0] = str(Path(__file__).resolve().parents[1])


def _facts(world: Path) -> pl.DataFrame:
    """One row a person with an outcome: every recorded fact, the outcome, the oracle."""
    truth = world / "truth"
    manifest = json.loads((world / "world.json").read_text())
    last_night = len(manifest["nights"]) - 1
    last_date = manifest["nights"][-1]["date"]
    events = pl.read_parquet(truth / "events.parquet").filter(pl.col("recorded"))
    people = pl.read_parquet(truth / "persons.parquet").filter(pl.col("outcome").is_not_null())
    kinds = sorted(events["kind"].unique().to_list())
    per = events.group_by("person_id").agg(
        *[(pl.col("kind") == k).sum().alias(k) for k in kinds],
        pl.col("severity").mean().alias("severity_mean"),
        (pl.col("severity") >= 2).sum().alias("severity_2_plus"),
        pl.len().alias("events"),
    )
    records = pl.read_parquet(
        truth / "records.parquet",
        columns=["person_id", "register", "first_night", "end_night", "source_record_id"],
    ).filter((pl.col("first_night") <= last_night) & (pl.col("end_night") > last_night))
    registers = sorted(records["register"].unique().to_list())
    held = records.group_by("person_id").agg(
        *[(pl.col("register") == r).any().cast(pl.Int8).alias(f"on_{r}") for r in registers]
    )
    pupils = pl.read_csv(
        world / "extracts" / last_date / "education" / "pupils.csv",
        columns=["PupilID", "AttendancePct"],
        schema_overrides={"PupilID": pl.String},
    )
    attendance = (
        records.filter(pl.col("register") == "pupils")
        .join(pupils, left_on="source_record_id", right_on="PupilID")
        .group_by("person_id")
        .agg(pl.col("AttendancePct").mean().alias("attendance"))
    )
    frame = (
        people.select(
            "person_id",
            "household_id",
            "dob",
            "sex",
            "social_tenant",
            "outcome",
            "true_probability",
        )
        .join(per, on="person_id", how="left")
        .join(held, on="person_id", how="left")
        .fill_null(0)
        .join(attendance, on="person_id", how="left")  # null where not on a roll: kept null
    )
    household = frame.group_by("household_id").agg(
        pl.col("events").sum().alias("household_events"),
        pl.col("severity_2_plus").sum().alias("household_severe"),
        pl.len().alias("household_size"),
    )
    last = events["date"].max()
    return frame.join(household, on="household_id").with_columns(
        (pl.col("household_events") - pl.col("events")).alias("others_events"),
        ((pl.lit(last) - pl.col("dob")).dt.total_days() / 365.25).alias("age"),
        (pl.col("sex") == "F").cast(pl.Int8).alias("female"),
        # The tenancy as the housing register records it: a tenant on its list.
        (pl.col("social_tenant") & (pl.col("on_housing_people") == 1))
        .cast(pl.Int8)
        .alias("tenant"),
    )


def _product(world: Path, warehouse: Path) -> pl.DataFrame:
    """The product's scores on its newest night, on the world's person ids."""
    import duckdb

    from risk_models.outcomes import truth_ids

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        ids = truth_ids(world, con)
        scores = con.sql(
            "SELECT person_id, score FROM scores WHERE night = (SELECT max(night) FROM scores)"
        ).pl()
    finally:
        con.close()
    # A world person split over several of ours takes their highest score.
    return (
        scores.join(ids, on="person_id")
        .group_by("truth_id")
        .agg(pl.col("score").max().alias("product"))
        .rename({"truth_id": "person_id"})
    )


def main() -> None:
    """Print the ceiling, the oracle and (given a warehouse) the product, with intervals."""
    p = argparse.ArgumentParser()
    p.add_argument("--world", type=Path, required=True)
    p.add_argument("--warehouse", type=Path, help="the product's scored warehouse of the world")
    p.add_argument("--resamples", type=int, default=200)
    args = p.parse_args()
    t = time.perf_counter()
    frame = _facts(args.world)
    if args.warehouse is not None:
        frame = frame.join(_product(args.world, args.warehouse), on="person_id", how="left")
    drop = ["person_id", "household_id", "dob", "sex", "social_tenant", "outcome"]
    drop += ["true_probability", "product"] if "product" in frame.columns else ["true_probability"]
    x = frame.drop(drop)
    y = frame["outcome"].to_numpy()
    ceiling = cross_val_predict(
        HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, random_state=1),
        x.to_numpy().astype(float),
        y,
        cv=5,
        method="predict_proba",
    )[:, 1]
    columns = {"ceiling": ceiling, "oracle": frame["true_probability"].to_numpy()}
    if "product" in frame.columns:
        # Persons the product never linked or scored are its misses: the lowest score.
        columns["product"] = frame["product"].fill_null(-1.0).to_numpy()
    rng = np.random.default_rng(0)
    draws: dict[str, list[float]] = {name: [] for name in columns}
    for _ in range(args.resamples):
        i = rng.integers(0, len(y), len(y))
        for name, score in columns.items():
            draws[name].append(roc_auc_score(y[i], score[i]))

    def interval(values: list[float] | np.ndarray, percent: bool = False) -> str:
        low, high = np.percentile(values, [2.5, 97.5])
        return f"({low:.1%} to {high:.1%})" if percent else f"({low:.3f} to {high:.3f})"

    print(
        f"{len(y):,} persons, {int(y.sum()):,} with the outcome, {x.width} facts each; "
        f"{args.resamples} bootstrap resamples; {time.perf_counter() - t:.0f} s"
    )
    for name, score in columns.items():
        print(f"  {name}: AUC {roc_auc_score(y, score):.3f} {interval(draws[name])}")
    ceiling_auc = roc_auc_score(y, ceiling)
    print(
        f"  ceiling / oracle: {ceiling_auc / roc_auc_score(y, columns['oracle']):.1%} "
        f"{interval(np.array(draws['ceiling']) / np.array(draws['oracle']), percent=True)}"
    )
    if "product" in columns:
        ratio = roc_auc_score(y, columns["product"]) / ceiling_auc
        paired = np.array(draws["product"]) / np.array(draws["ceiling"])
        print(f"  product / ceiling: {ratio:.1%} {interval(paired, percent=True)}")


if __name__ == "__main__":
    main()
