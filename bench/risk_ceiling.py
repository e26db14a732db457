"""Benchmark: how well could any model of a world's records do, given perfect linkage?

The ceiling fits a gradient-boosted model on every fact a partner records about each
person, joined by the world's truth (perfect linkage). It is scored by five-fold
cross-validation against the world's outcome. The facts are:
- every recorded event: counts by kind and of severe ones in the last 90 and 365 days and
  over the whole history, the days since the last one, and the household's counts;
- the registers that hold them on the last night (council tax, benefit claims, the
  housing register, the school roll, the GP list, and so on) and for how long each has
  held them, as its partner records the start;
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
import datetime as dt
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

# Windows in days before the last night for event counts; 100,000 stands for all history.
WINDOWS = (90, 365, 100_000)


def _facts(world: Path) -> pl.DataFrame:
    """One row a person with an outcome: every recorded fact, the outcome, the oracle."""
    truth = world / "truth"
    manifest = json.loads((world / "world.json").read_text())
    last_night = len(manifest["nights"]) - 1
    last_date = manifest["nights"][-1]["date"]
    events = pl.read_parquet(truth / "events.parquet").filter(pl.col("recorded"))
    people = pl.read_parquet(truth / "persons.parquet").filter(pl.col("outcome").is_not_null())
    kinds = sorted(events["kind"].unique().to_list())
    last = dt.date.fromisoformat(last_date)
    ago = (pl.lit(last) - pl.col("date")).dt.total_days()
    per = events.group_by("person_id").agg(
        *[
            ((pl.col("kind") == k) & (ago < w)).sum().alias(f"{k}_{w}")
            for k in kinds
            for w in WINDOWS
        ],
        pl.col("severity").mean().alias("severity_mean"),
        *[((pl.col("severity") >= 2) & (ago < w)).sum().alias(f"severe_{w}") for w in WINDOWS],
        *[(ago < w).sum().alias(f"events_{w}") for w in WINDOWS],
        ago.min().alias("days_since_last"),
    )
    records = pl.read_parquet(
        truth / "records.parquet",
        columns=["person_id", "register", "first_night", "end_night", "since"],
    ).filter((pl.col("first_night") <= last_night) & (pl.col("end_night") > last_night))
    registers = sorted(records["register"].unique().to_list())
    held = records.group_by("person_id").agg(
        *[(pl.col("register") == r).any().cast(pl.Int8).alias(f"on_{r}") for r in registers],
        # How long each register has held the person, as its partner records it.
        *[
            (pl.lit(last) - pl.col("since").filter(pl.col("register") == r).min())
            .dt.total_days()
            .alias(f"days_on_{r}")
            for r in registers
        ],
    )
    pupils = pl.read_csv(
        world / "extracts" / last_date / "education" / "pupils.csv",
        columns=["PupilID", "AttendancePct"],
        schema_overrides={"PupilID": pl.String},
    )
    ids = pl.read_parquet(
        truth / "records.parquet", columns=["person_id", "register", "source_record_id"]
    )
    attendance = (
        ids.filter(pl.col("register") == "pupils")
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
        .join(per.drop("days_since_last"), on="person_id", how="left")
        .join(held.select(pl.exclude("^days_on_.*$")), on="person_id", how="left")
        .fill_null(0)
        # Null where there is nothing to say (no event, not on a register or roll): kept null.
        .join(per.select("person_id", "days_since_last"), on="person_id", how="left")
        .join(held.select("person_id", pl.col("^days_on_.*$")), on="person_id", how="left")
        .join(attendance, on="person_id", how="left")
    )
    household = frame.group_by("household_id").agg(
        *[pl.col(f"events_{w}").sum().alias(f"household_events_{w}") for w in WINDOWS],
        *[pl.col(f"severe_{w}").sum().alias(f"household_severe_{w}") for w in WINDOWS],
        pl.len().alias("household_size"),
    )
    return frame.join(household, on="household_id").with_columns(
        *[
            (pl.col(f"household_events_{w}") - pl.col(f"events_{w}")).alias(f"others_events_{w}")
            for w in WINDOWS
        ],
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
        # Regularised and stopped early on a held-back share of each fold's training
        # persons, so that it neither overfits a small world nor underfits a large one.
        HistGradientBoostingClassifier(
            max_iter=1000,
            learning_rate=0.03,
            max_leaf_nodes=15,
            min_samples_leaf=50,
            l2_regularization=1.0,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=50,
            random_state=1,
        ),
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
