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

`bench/risk_gap.py` builds the same facts at other dates and through the product's
linkage with `person_facts`, and fits the same model (`ceiling_model`).

    .venv/bin/python bench/risk_ceiling.py --world DIR [--warehouse W] [--resamples 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

# This folder's alerts.py would stand in for the alerts package: look from the top.
sys.path[0] = str(Path(__file__).resolve().parents[1])

# Windows in days before the last night for event counts; 100,000 stands for all history.
WINDOWS = (90, 365, 100_000)
# Columns of a facts frame that say who a row is and what happened, never model inputs.
IDENTITY = (
    "person_id",
    "household_id",
    "dob",
    "sex",
    "social_tenant",
    "outcome",
    "true_probability",
    "truth_id",
    "product",
)


class Truth(NamedTuple):
    """A world's truth as the ceiling reads it."""

    events: pl.DataFrame  # recorded events: event_id, person_id, source, kind, severity, date
    records: pl.DataFrame  # person_id, register, partner, source_record_id, nights, since
    people: pl.DataFrame  # persons with an outcome, and what the truth knows of them
    pupils: pl.DataFrame  # the last night's pupils.csv: PupilID, AttendancePct
    last_night: int
    last_date: dt.date
    kinds: list[str]  # every kind of recorded event, so that any date's facts have them all
    registers: list[str]


def read_truth(world: Path) -> Truth:
    """The world's recorded events, records, persons with an outcome and last attendance."""
    truth = world / "truth"
    manifest = json.loads((world / "world.json").read_text())
    last_date = manifest["nights"][-1]["date"]
    events = pl.read_parquet(truth / "events.parquet").filter(pl.col("recorded"))
    records = pl.read_parquet(
        truth / "records.parquet",
        columns=[
            "person_id",
            "register",
            "partner",
            "source_record_id",
            "first_night",
            "end_night",
            "since",
        ],
    )
    pupils = pl.read_csv(
        world / "extracts" / last_date / "education" / "pupils.csv",
        columns=["PupilID", "AttendancePct"],
        schema_overrides={"PupilID": pl.String},
    )
    return Truth(
        events=events,
        records=records,
        people=pl.read_parquet(truth / "persons.parquet").filter(pl.col("outcome").is_not_null()),
        pupils=pupils,
        last_night=len(manifest["nights"]) - 1,
        last_date=dt.date.fromisoformat(last_date),
        kinds=sorted(events["kind"].unique().to_list()),
        registers=sorted(records["register"].unique().to_list()),
    )


def held_on_last_night(truth: Truth, records: pl.DataFrame) -> pl.DataFrame:
    """The records (of `truth.records`' shape) their registers hold on the last night."""
    return records.filter(
        (pl.col("first_night") <= truth.last_night) & (pl.col("end_night") > truth.last_night)
    )


def attendance(records: pl.DataFrame, pupils: pl.DataFrame) -> pl.DataFrame:
    """Each person's mean attendance over their pupil records: person_id, attendance."""
    return (
        records.filter(pl.col("register") == "pupils")
        .join(pupils, left_on="source_record_id", right_on="PupilID")
        .group_by("person_id")
        .agg(pl.col("AttendancePct").mean().alias("attendance"))
    )


def person_facts(
    people: pl.DataFrame,
    events: pl.DataFrame,
    held: pl.DataFrame,
    attended: pl.DataFrame | None,
    kinds: Sequence[str],
    registers: Sequence[str],
    as_of: dt.date,
) -> pl.DataFrame:
    """One row a person of `people` (its columns first): every recorded fact as of a date.

    `events` (person_id, kind, severity, date) count only when dated on or before `as_of`;
    `held` are the records (person_id, register, since) held then; `attended` (person_id,
    attendance) is left out when None. `people` needs person_id, household_id, dob, sex
    and social_tenant; its other columns are carried through.
    """
    ago = (pl.lit(as_of) - pl.col("date")).dt.total_days()
    per = (
        events.filter(pl.col("date") <= as_of)
        .group_by("person_id")
        .agg(
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
    )
    on = held.group_by("person_id").agg(
        *[(pl.col("register") == r).any().cast(pl.Int8).alias(f"on_{r}") for r in registers],
        # How long each register has held the person, as its partner records it.
        *[
            (pl.lit(as_of) - pl.col("since").filter(pl.col("register") == r).min())
            .dt.total_days()
            .alias(f"days_on_{r}")
            for r in registers
        ],
    )
    frame = (
        people.join(per.drop("days_since_last"), on="person_id", how="left")
        .join(on.select(pl.exclude("^days_on_.*$")), on="person_id", how="left")
        .fill_null(0)
        # Null where there is nothing to say (no event, not on a register or roll): kept null.
        .join(per.select("person_id", "days_since_last"), on="person_id", how="left")
        .join(on.select("person_id", pl.col("^days_on_.*$")), on="person_id", how="left")
    )
    if attended is not None:
        frame = frame.join(attended, on="person_id", how="left")
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
        ((pl.lit(as_of) - pl.col("dob")).dt.total_days() / 365.25).alias("age"),
        (pl.col("sex") == "F").cast(pl.Int8).alias("female"),
        # The tenancy as the housing register records it: a tenant on its list.
        (pl.col("social_tenant") & (pl.col("on_housing_people") == 1))
        .cast(pl.Int8)
        .alias("tenant"),
    )


def _facts(world: Path) -> pl.DataFrame:
    """One row a person with an outcome: every recorded fact, the outcome, the oracle."""
    truth = read_truth(world)
    people = truth.people.select(
        "person_id", "household_id", "dob", "sex", "social_tenant", "outcome", "true_probability"
    )
    return person_facts(
        people,
        truth.events,
        held_on_last_night(truth, truth.records),
        attendance(truth.records, truth.pupils),
        truth.kinds,
        truth.registers,
        truth.last_date,
    )


def inputs(frame: pl.DataFrame) -> np.ndarray:
    """The model's inputs: every column of a facts frame but who the row is and the outcome."""
    return frame.drop([c for c in IDENTITY if c in frame.columns]).to_numpy().astype(float)


def ceiling_model(seed: int = 1) -> HistGradientBoostingClassifier:
    """The ceiling's model, unfitted."""
    # Regularised and stopped early on a held-back share of each fold's training persons,
    # so that it neither overfits a small world nor underfits a large one.
    return HistGradientBoostingClassifier(
        max_iter=1000,
        learning_rate=0.03,
        max_leaf_nodes=15,
        min_samples_leaf=50,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=50,
        random_state=seed,
    )


def on_world_persons(scores: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
    """Scores of our persons (person_id and score columns) on the world's person ids.

    A world person split over several of ours takes their highest score of each column.
    """
    names = [c for c in scores.columns if c != "person_id"]
    return (
        scores.join(ids, on="person_id")
        .group_by("truth_id")
        .agg(pl.col(c).max() for c in names)
        .rename({"truth_id": "person_id"})
    )


def _product(world: Path, warehouse: Path) -> pl.DataFrame:
    """The product's scores on its newest night, on the world's person ids."""
    import duckdb

    from risk_models.outcomes import truth_ids

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        ids = truth_ids(world, con)
        scores = con.sql(
            "SELECT person_id, score AS product FROM scores"
            " WHERE night = (SELECT max(night) FROM scores)"
        ).pl()
    finally:
        con.close()
    return on_world_persons(scores, ids)


def paired_draws(
    y: np.ndarray, columns: dict[str, np.ndarray], resamples: int
) -> dict[str, np.ndarray]:
    """Each column's AUC on the same bootstrap resamples of the persons."""
    rng = np.random.default_rng(0)
    draws: dict[str, list[float]] = {name: [] for name in columns}
    for _ in range(resamples):
        i = rng.integers(0, len(y), len(y))
        for name, score in columns.items():
            draws[name].append(roc_auc_score(y[i], score[i]))
    return {name: np.array(values) for name, values in draws.items()}


def interval(values: np.ndarray, percent: bool = False) -> str:
    """The 2.5th to 97.5th percentile of bootstrap figures, as printed."""
    low, high = np.percentile(values, [2.5, 97.5])
    return f"({low:.1%} to {high:.1%})" if percent else f"({low:.3f} to {high:.3f})"


def main(argv: list[str] | None = None) -> None:
    """Print the ceiling, the oracle and (given a warehouse) the product, with intervals."""
    p = argparse.ArgumentParser()
    p.add_argument("--world", type=Path, required=True)
    p.add_argument("--warehouse", type=Path, help="the product's scored warehouse of the world")
    p.add_argument("--resamples", type=int, default=200)
    args = p.parse_args(argv)
    t = time.perf_counter()
    frame = _facts(args.world)
    if args.warehouse is not None:
        frame = frame.join(_product(args.world, args.warehouse), on="person_id", how="left")
    x = inputs(frame)
    y = frame["outcome"].to_numpy()
    ceiling = cross_val_predict(ceiling_model(), x, y, cv=5, method="predict_proba")[:, 1]
    columns = {"ceiling": ceiling, "oracle": frame["true_probability"].to_numpy()}
    if "product" in frame.columns:
        # Persons the product never linked or scored are its misses: the lowest score.
        columns["product"] = frame["product"].fill_null(-1.0).to_numpy()
    draws = paired_draws(y, columns, args.resamples)
    print(
        f"{len(y):,} persons, {int(y.sum()):,} with the outcome, {x.shape[1]} facts each; "
        f"{args.resamples} bootstrap resamples; {time.perf_counter() - t:.0f} s"
    )
    for name, score in columns.items():
        print(f"  {name}: AUC {roc_auc_score(y, score):.3f} {interval(draws[name])}")
    ceiling_auc = roc_auc_score(y, ceiling)
    print(
        f"  ceiling / oracle: {ceiling_auc / roc_auc_score(y, columns['oracle']):.1%} "
        f"{interval(draws['ceiling'] / draws['oracle'], percent=True)}"
    )
    if "product" in columns:
        ratio = roc_auc_score(y, columns["product"]) / ceiling_auc
        paired = draws["product"] / draws["ceiling"]
        print(f"  product / ceiling: {ratio:.1%} {interval(paired, percent=True)}")


if __name__ == "__main__":
    main()
