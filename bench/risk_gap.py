"""Benchmark: where the product's gap to the records ceiling comes from, measured.

Given a world folder made, loaded, linked, trained and scored by `bench/risk_worlds.py`
(`world/` and `warehouse.duckdb`, opened read-only), this walks from the records ceiling
(`bench/risk_ceiling.py`) to the product's own scores one change at a time. Every figure
is an AUC against the world's outcome on the same persons (every world person with an
outcome; a person nobody scores counts as the lowest), with a 95% interval from bootstrap
resamples of the persons, and every step's difference comes from the same (paired)
resamples. The intervals are over the persons judged, not over fits.

The ceiling's model and facts. Each line's score is the mean of its model fitted with
random states 1 to `--states` (5): the model stops early on a random share of the persons
it learns from, and one fit in the past moves by up to 0.01 AUC from another. The range
of one fit's AUC, and of the step, over the states is printed below each line.
- `ceiling`: every recorded fact, perfect linkage, five-fold cross-validated (random
  state 1 alone is what `bench/risk_ceiling.py` prints);
- `ceiling, no record lowest`: the same, but the persons none of whose records the
  product's persons hold on its newest night get the lowest score, as they do from the
  product (the ceiling knows their age and sex; no partner's record does);
- `ceiling, product's linkage`: the facts summed over the records each of the product's
  persons holds on its newest night (events through the record that carries them, the
  product's households), each person's age, sex and outcome those of the world person
  most of their records belong to (`truth_ids`); cross-validated in folds that keep a
  world person's pieces together. Against the line above it, what linkage errors cost;
- `ceiling, dated facts`: without school attendance, which the warehouse holds only for
  its nights, so no model can learn it a year earlier;
- `ceiling, learned in the past`: fitted on the product's training design, the facts as
  at `learned_at` (events to then, the registers partners say held the person by then)
  of the world persons born by then, with the world's serious events in the horizon
  after it as the outcome; judged on the dated facts of the newest night;
- `..., recorded outcomes`: the same with the outcome the records show (a recorded child
  protection plan, safeguarding enquiry or serious incident), as the product learns;
- `..., no record lowest`, `..., product's linkage`: as above, in this design;
- `..., without sex`: the product never reads sex;
- `..., age as the records give it`: the birth date most of a person's records give on
  the night, unknown where none gives one (council-tax, claims and tenancies carry none);
- `..., without registers`: without the registers that hold the person, for how long,
  and the tenancy. What is left between this line and the product's features is how the
  events are counted (whole history, kinds, severity) and the household's.

The product's features (`training_examples` and `build_features`, as training builds
them), learned at `learned_at` and judged on the newest night's features:
- `logistic, shipped` and `stumps, shipped`: the product's own `fit`, raw scores; `stumps,
  shipped, calibrated` is the probability shown, whose ties cost a little AUC; `the
  product's scores in the warehouse` are those the world's own training scored its newest
  night with;
- `stumps, tuned` and `trees, depth 2` / `trees, 15 leaves`: each setting of a grid fitted
  on the persons at `learned_at`, and chosen by the AUC on the calibration half of the
  persons at `judged_at` (even person numbers) with their recorded outcomes; the other
  half's AUC is printed beside it. The world's truth never chooses;
- `stumps, given` (with `--stumps`): stumps grown with one setting given on the command
  line, to judge one setting chosen elsewhere on every world.

    .venv/bin/python bench/risk_gap.py --world-folder /tmp/jw60/seed21-errors1 \\
        [--resamples 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

# This folder's alerts.py would stand in for the alerts package: look from the top, and
# find the ceiling's module in this folder last.
sys.path[0] = str(Path(__file__).resolve().parents[1])
sys.path.append(str(Path(__file__).resolve().parent))

import risk_ceiling as ceiling  # noqa: E402

# The grids. Iterations are read off each fit at these counts (up to its most).
STUMPS = {
    "learning_rate": [0.05, 0.1, 0.2],
    "min_samples_leaf": [20, 200],
    "l2_regularization": [0.0, 10.0, 30.0],
}
TREES = {
    "shape": ["depth 2", "15 leaves"],
    "learning_rate": [0.05, 0.1],
    "min_samples_leaf": [20, 200],
    "l2_regularization": [1.0],
}
MOST = {"stumps": {0.05: 2000, 0.1: 1000, 0.2: 500}, "trees": {0.05: 1000, 0.1: 500}}
COUNTS = (50, 100, 200, 300, 400, 500, 600, 800, 1000, 1200, 1600, 2000)
# The world's kinds of event whose severity no partner's extract gives as a severity (the
# warehouse holds their events with none), and its self-harm, which the health extract
# sends as an A&E attendance with the presenting complaint beside it.
UNGRADED = (
    "ae_attendance",
    "self_harm",
    "mental_health_contact",
    "suspension",
    "asb_complaint",
    "homelessness_application",
    "council_tax_reminder",
)
# Each line of the walk, and the line it is a step from.
WALK = (
    ("ceiling", None),
    ("ceiling, no record lowest", "ceiling"),
    ("ceiling, product's linkage", "ceiling, no record lowest"),
    ("ceiling, dated facts", "ceiling"),
    ("ceiling, learned in the past", "ceiling, dated facts"),
    ("..., recorded outcomes", "ceiling, learned in the past"),
    ("..., no record lowest", "..., recorded outcomes"),
    ("..., product's linkage", "..., no record lowest"),
    ("..., without sex", "..., product's linkage"),
    ("..., age as the records give it", "..., without sex"),
    ("..., without registers", "..., age as the records give it"),
    ("..., self-harm counted as A&E", "..., without registers"),
    ("..., severity only where recorded", "..., self-harm counted as A&E"),
    ("..., the last 365 days only", "..., severity only where recorded"),
    ("..., learned from persons recorded by then", "..., the last 365 days only"),
    (
        "the ceiling's model on the product's features",
        "..., learned from persons recorded by then",
    ),
    ("trees, 15 leaves", "the ceiling's model on the product's features"),
    ("trees, depth 2", "trees, 15 leaves"),
    ("stumps, tuned", "trees, depth 2"),
    ("stumps, shipped", "stumps, tuned"),
    ("logistic, shipped", "stumps, shipped"),
    ("stumps, shipped, calibrated", "stumps, shipped"),
    ("stumps, tuned, calibrated", "stumps, tuned"),
    ("trees, 15 leaves, calibrated", "trees, 15 leaves"),
    ("stumps, given", "stumps, shipped"),
    ("stumps, given, calibrated", "stumps, given"),
    ("the product's scores in the warehouse", "stumps, shipped, calibrated"),
)
# Steps worth reading that skip lines of the walk.
SKIPS = (
    ("stumps, shipped", "trees, 15 leaves"),
    ("stumps, shipped", "trees, depth 2"),
    ("stumps, shipped, calibrated", "stumps, tuned, calibrated"),
    ("stumps, shipped", "stumps, tuned"),
    ("stumps, shipped", "stumps, given"),
    ("stumps, shipped, calibrated", "stumps, given, calibrated"),
    ("..., age as the records give it", "stumps, tuned"),
    ("..., severity only where recorded", "stumps, tuned"),
    ("the ceiling's model on the product's features", "stumps, shipped"),
    ("ceiling", "the product's scores in the warehouse"),
)


# A facts frame's leading columns: who a person is and what became of them.
PEOPLE = ("person_id", "household_id", "dob", "sex", "social_tenant", "outcome", "true_probability")


class Side(NamedTuple):
    """Persons and the recorded facts that are theirs, by one linkage: perfect or ours."""

    people: pl.DataFrame  # person_id, household_id, dob, sex, social_tenant, outcome, ...
    events: pl.DataFrame  # recorded events: person_id, kind, severity, date
    records: pl.DataFrame  # person_id, register, source_record_id, first/end night, since
    # (on the product's side, with `record_of`: the world person whose record it is)


class Clock:
    """Seconds each stage took, printed at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.t = time.perf_counter()

    def lap(self, what: str) -> None:
        """Note the seconds since the last lap."""
        now = time.perf_counter()
        self.lines.append(f"{what} {now - self.t:.0f} s")
        self.t = now


def ours(truth: ceiling.Truth, world: Path, con: Any, night: dt.date) -> tuple[Side, pl.DataFrame]:
    """The world's recorded facts on the product's persons, through the records they hold.

    Each person's household is the product's; their birth date, sex, tenancy and outcome
    are those of the world person most of their records belong to (`truth_ids`, as a
    column). Beside it, the birth date most of their records give on the night (person_id,
    dob), for those whose records give one.
    """
    from risk_models.outcomes import truth_ids

    current = " WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
    links = (
        con.sql(
            "SELECT source, source_record_id, person_id FROM persons" + current,
            params=[night, night],
        )
        .pl()
        .rename({"source": "partner"})
    )
    homes = con.sql(
        "SELECT person_id, household_id FROM households" + current, params=[night, night]
    ).pl()
    ids = truth_ids(world, con, night)
    dobs = con.sql(
        """
        WITH given AS (
            SELECT p.person_id, r.dob FROM persons p
            JOIN person_records r USING (source, source_record_id)
            WHERE p.valid_from <= $night AND (p.valid_to IS NULL OR p.valid_to > $night)
              AND r.valid_from <= $night AND (r.valid_to IS NULL OR r.valid_to > $night)
              AND r.dob IS NOT NULL
        )
        SELECT person_id, first(dob ORDER BY n DESC, dob) AS dob
        FROM (SELECT person_id, dob, count(*) AS n FROM given GROUP BY ALL)
        GROUP BY person_id
        """,
        params={"night": night},
    ).pl()
    by_record = ["partner", "source_record_id"]
    event_records = pl.read_parquet(
        world / "truth" / "event_records.parquet",
        columns=["event_id", "register", "source_record_id"],
    )
    events = (
        truth.events.drop("person_id")
        .join(event_records, on="event_id")
        .join(truth.records.select("register", "partner").unique(), on="register")
        .join(links, on=by_record)
    )
    people = truth.people.select(
        "person_id", "dob", "sex", "social_tenant", "outcome", "true_probability"
    )
    persons = (
        ids.join(homes, on="person_id", how="left")
        .with_columns(pl.col("household_id").fill_null(pl.col("person_id")))
        .join(people.rename({"person_id": "truth_id"}), on="truth_id")
    )
    side = Side(
        persons.select(*PEOPLE, "truth_id"),
        events,
        truth.records.rename({"person_id": "record_of"}).join(links, on=by_record),
    )
    return side, dobs


def facts(truth: ceiling.Truth, side: Side, as_of: dt.date, attendance: bool) -> pl.DataFrame:
    """The ceiling's facts of a side's persons as of a date, sorted by person.

    On the last night, the records its registers hold then; before it, those their
    partners say they held by then. Attendance is known for the last night only.
    """
    if as_of == truth.last_date:
        held = ceiling.held_on_last_night(truth, side.records)
    else:
        held = side.records.filter(pl.col("since") <= as_of)
    attended = ceiling.attendance(side.records, truth.pupils) if attendance else None
    return ceiling.person_facts(
        side.people, side.events, held, attended, truth.kinds, truth.registers, as_of
    ).sort("person_id")


def had_in(events: pl.DataFrame, start: dt.date, horizon: int) -> pl.Series:
    """The persons with an event dated in the horizon after `start`."""
    end = start + dt.timedelta(days=horizon)
    return events.filter((pl.col("date") > start) & (pl.col("date") <= end))["person_id"].unique()


def learned_then(
    truth: ceiling.Truth,
    side: Side,
    had: pl.Series,
    learned_at: dt.date,
    judged: pl.DataFrame,
    states: Iterable[int],
    drop: Sequence[str] = (),
    recorded_by_then: bool = False,
) -> tuple[list[np.ndarray], int, int]:
    """The ceiling fitted on the persons born by `learned_at` (or of unknown birth), their
    facts then and `had` as the outcome, once a random state; its scores of `judged`, and
    how many persons and outcomes it learned from. `drop` names facts it does not see.
    With `recorded_by_then`, only persons with a record its partner dates by then, or an
    event by then, are learned from (the product's rule, "records as they existed").
    """
    born = side.people.filter(pl.col("dob").is_null() | (pl.col("dob") <= learned_at))
    if recorded_by_then:
        known = pl.concat(
            [
                side.records.filter(pl.col("since") <= learned_at)["person_id"],
                side.events.filter(pl.col("date") <= learned_at)["person_id"],
            ]
        )
        born = born.filter(pl.col("person_id").is_in(known.implode()))
    born = born.with_columns(pl.col("person_id").is_in(had.implode()).alias("outcome"))
    then = facts(truth, side._replace(people=born), learned_at, attendance=False)
    if then.columns != judged.columns:
        raise ValueError("the facts learned from and judged differ in their columns")
    x, x_judged = ceiling.inputs(then.drop(drop)), ceiling.inputs(judged.drop(drop))
    scores = [
        ceiling.ceiling_model(s).fit(x, then["outcome"].to_numpy()).predict_proba(x_judged)[:, 1]
        for s in states
    ]
    return scores, then.height, int(then["outcome"].sum())


def on_world(people: pl.DataFrame, scores: pl.DataFrame, ids: pl.DataFrame) -> np.ndarray:
    """Our persons' scores (person_id, score) in the order of the world's `people`.

    A world person none of ours stands for gets the lowest score.
    """
    placed = people.select("person_id").join(
        ceiling.on_world_persons(scores, ids), on="person_id", how="left"
    )
    values = placed["score"].to_numpy().astype(float)
    return np.where(np.isnan(values), np.nanmin(values) - 1.0, values)


def lowest_where(score: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The scores, with those of the persons in `mask` set below everyone's."""
    return np.where(mask, score.min() - 1.0, score)


def _settings(grid: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


def estimator(setting: dict[str, Any], iterations: int, cst: list[int], seed: int) -> Any:
    """A boosted model of one setting of a grid, constrained as the product's is."""
    shape = setting.get("shape", "stumps")
    size: dict[str, Any] = {"stumps": {"max_depth": 1}, "depth 2": {"max_depth": 2}}.get(
        shape, {"max_depth": None, "max_leaf_nodes": 15}
    )
    return HistGradientBoostingClassifier(
        **size,
        learning_rate=setting["learning_rate"],
        max_iter=iterations,
        min_samples_leaf=setting["min_samples_leaf"],
        l2_regularization=setting["l2_regularization"],
        early_stopping=False,
        monotonic_cst=cst,
        random_state=seed,
    )


def search(
    grid: dict[str, list[Any]],
    most: dict[float, int],
    learn: tuple[np.ndarray, np.ndarray],
    validate: tuple[np.ndarray, np.ndarray],
    beside: tuple[np.ndarray, np.ndarray],
    cst: list[int],
    seed: int,
) -> list[dict[str, Any]]:
    """Every setting of a grid at every count of iterations, with its validation AUC.

    Each setting is fitted once to its most iterations (`most`, by learning rate) and read
    at every count of COUNTS up to them (a fit with fewer iterations is the same trees, cut
    short). The AUC on `beside` (the held-out half) is kept for the record, never to choose.
    """
    rows = []
    for setting in _settings(grid):
        top = most[setting["learning_rate"]]
        fitted = estimator(setting, top, cst, seed).fit(*learn)
        staged = zip(
            fitted.staged_decision_function(validate[0]),
            fitted.staged_decision_function(beside[0]),
            strict=True,
        )
        for k, (raw, other) in enumerate(staged, start=1):
            if k in COUNTS or k == top:
                rows.append(
                    {
                        **setting,
                        "iterations": k,
                        "validation": float(roc_auc_score(validate[1], raw)),
                        "held_out": float(roc_auc_score(beside[1], other)),
                    }
                )
    return rows


def main() -> None:
    """Measure each step from the ceiling to the product on one world; print the walk."""
    import duckdb

    from risk_models.features import build_features, feature_names, feature_set, newest_night
    from risk_models.model import bounded_isotonic, fit, matrix, monotone
    from risk_models.outcomes import outcome_config, training_examples
    from risk_models.scoring import risk_settings
    from risk_models.training import held_out_split

    p = argparse.ArgumentParser()
    p.add_argument("--world-folder", type=Path, required=True, help="a risk_worlds.py folder")
    p.add_argument("--resamples", type=int, default=200)
    p.add_argument(
        "--states", type=int, default=5, help="random states of each ceiling line's model"
    )
    p.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["steps", "grids"],
        help="leave out the ceiling's steps (all but the ceiling) or the grids",
    )
    p.add_argument("--grid-out", type=Path, help="a CSV of every setting the grids tried")
    p.add_argument(
        "--stumps",
        nargs=4,
        type=float,
        metavar=("RATE", "LEAF", "L2", "ITERATIONS"),
        help="also judge stumps grown so (learning rate, min_samples_leaf, l2, iterations)",
    )
    args = p.parse_args()
    world = args.world_folder / "world"
    clock = Clock()
    truth = ceiling.read_truth(world)
    outcome = outcome_config()
    horizon = outcome.horizon_days
    settings = risk_settings()
    seed = settings.model.seed
    con = duckdb.connect(str(args.world_folder / "warehouse.duckdb"), read_only=True)
    try:
        newest = newest_night(con)
        judged_at = newest - dt.timedelta(days=horizon)
        learned_at = judged_at - dt.timedelta(days=horizon)
        linked, dobs = ours(truth, world, con, newest)
        shown = con.sql("SELECT person_id, score FROM scores WHERE night = ?", params=[newest]).pl()
        examples = training_examples(con, [learned_at, judged_at], horizon)
        tonight = build_features(con, newest, newest)
    finally:
        con.close()
    clock.lap("warehouse read, the product's features built:")

    # ---- The ceiling's model and facts, one change at a time.
    perfect = Side(truth.people.select(PEOPLE).sort("person_id"), truth.events, truth.records)
    people = perfect.people
    y = people["outcome"].to_numpy()
    ids = linked.people.select("person_id", "truth_id")
    reached = linked.records["record_of"].unique()
    unreached = ~people["person_id"].is_in(reached.implode()).to_numpy()
    serious = pl.read_parquet(world / "truth" / "serious_events.parquet")
    recorded = pl.col("kind").is_in(outcome.types)
    # A ceiling line's scores, one a random state of the model: it stops early on a random
    # share of the persons it learns from, which moves a fit in the past by up to 0.01 AUC.
    # Each line's figure is the mean of its random states' scores.
    runs: dict[str, list[np.ndarray]] = {}
    states = range(1, args.states + 1)

    def cross_fitted(frame: pl.DataFrame, cv: Any) -> list[np.ndarray]:
        x, labels = ceiling.inputs(frame), frame["outcome"].to_numpy()
        return [
            cross_val_predict(ceiling.ceiling_model(s), x, labels, cv=cv, method="predict_proba")[
                :, 1
            ]
            for s in states
        ]

    def placed_ours(frame: pl.DataFrame, scores: list[np.ndarray]) -> list[np.ndarray]:
        return [
            on_world(people, frame.select("person_id", pl.Series("score", s)), ids) for s in scores
        ]

    full = facts(truth, perfect, truth.last_date, attendance=True)
    if not full["person_id"].equals(people["person_id"]):
        raise ValueError("the facts lost or added a person")
    runs["ceiling"] = cross_fitted(full, 5)
    runs["ceiling, no record lowest"] = [lowest_where(s, unreached) for s in runs["ceiling"]]
    clock.lap(f"ceiling (5-fold, {len(states)} random states):")

    past: dict[str, tuple[int, int]] = {}
    if "steps" not in args.skip:
        theirs = facts(truth, linked, truth.last_date, attendance=True)
        folds = StratifiedGroupKFold(n_splits=5).split(
            theirs, theirs["outcome"].to_numpy(), theirs["truth_id"].to_numpy()
        )
        runs["ceiling, product's linkage"] = placed_ours(theirs, cross_fitted(theirs, list(folds)))
        clock.lap("ceiling with the product's linkage:")

        dated = facts(truth, perfect, truth.last_date, attendance=False)
        runs["ceiling, dated facts"] = cross_fitted(dated, 5)
        clock.lap("ceiling on dated facts:")

        scores, *past["serious events"] = learned_then(
            truth, perfect, had_in(serious, learned_at, horizon), learned_at, dated, states
        )
        runs["ceiling, learned in the past"] = scores
        outcomes = had_in(truth.events.filter(recorded), learned_at, horizon)
        scores, *past["recorded outcomes"] = learned_then(
            truth, perfect, outcomes, learned_at, dated, states
        )
        runs["..., recorded outcomes"] = scores
        runs["..., no record lowest"] = [lowest_where(s, unreached) for s in scores]
        theirs_dated = facts(truth, linked, truth.last_date, attendance=False)
        outcomes = had_in(linked.events.filter(recorded), learned_at, horizon)
        scores, *past["the product's linkage"] = learned_then(
            truth, linked, outcomes, learned_at, theirs_dated, states
        )
        runs["..., product's linkage"] = placed_ours(theirs_dated, scores)
        scores, *_ = learned_then(
            truth, linked, outcomes, learned_at, theirs_dated, states, drop=("female",)
        )
        runs["..., without sex"] = placed_ours(theirs_dated, scores)
        # Age as the product's records give it on the night: unknown where none gives a birth date.
        as_recorded = linked._replace(
            people=linked.people.drop("dob")
            .join(dobs, on="person_id", how="left")
            .select(linked.people.columns)
        )
        recorded_dated = facts(truth, as_recorded, truth.last_date, attendance=False)
        scores, *_ = learned_then(
            truth, as_recorded, outcomes, learned_at, recorded_dated, states, drop=("female",)
        )
        runs["..., age as the records give it"] = placed_ours(recorded_dated, scores)
        registers = ["tenant", *(f"{on}_{r}" for r in truth.registers for on in ("on", "days_on"))]
        scores, *_ = learned_then(
            truth,
            as_recorded,
            outcomes,
            learned_at,
            recorded_dated,
            states,
            drop=("female", *registers),
        )
        runs["..., without registers"] = placed_ours(recorded_dated, scores)
        events = as_recorded.events.with_columns(
            pl.col("kind").replace("self_harm", "ae_attendance")
        )
        graded = events.with_columns(
            pl.when(~pl.col("kind").is_in(UNGRADED)).then(pl.col("severity")).alias("severity")
        )
        history = [c for c in recorded_dated.columns if c.endswith(f"_{max(ceiling.WINDOWS)}")]
        for label, changed, more, rule in [
            ("..., self-harm counted as A&E", events, [], False),
            ("..., severity only where recorded", graded, [], False),
            ("..., the last 365 days only", graded, history, False),
            ("..., learned from persons recorded by then", graded, history, True),
        ]:
            side = as_recorded._replace(events=changed)
            judged = facts(truth, side, truth.last_date, attendance=False)
            scores, *past[label[5:]] = learned_then(
                truth,
                side,
                outcomes,
                learned_at,
                judged,
                states,
                drop=("female", *registers, *more),
                recorded_by_then=rule,
            )
            runs[label] = placed_ours(judged, scores)
        clock.lap(f"ceiling learned in the past (11 x {len(states)} fits):")
    columns = {name: np.mean(np.vstack(scores), axis=0) for name, scores in runs.items()}

    # ---- The product's features, its models, and others chosen by recorded outcomes.
    names = feature_names()
    increasing = monotone(names, settings.model.increasing)
    cst = [1 if f in increasing else 0 for f in names]
    learn = examples.filter(pl.col("as_of") == learned_at)
    calibrate, held_out = held_out_split(examples.filter(pl.col("as_of") == judged_at))
    x_learn, y_learn = matrix(learn, names), learn["outcome"].to_numpy()
    x_cal, y_cal = matrix(calibrate, names), calibrate["outcome"].to_numpy()
    x_held, y_held = matrix(held_out, names), held_out["outcome"].to_numpy()
    x_now = matrix(tonight, names)

    def placed(score: np.ndarray) -> np.ndarray:
        return on_world(people, tonight.select("person_id", pl.Series("score", score)), ids)

    runs["the ceiling's model on the product's features"] = [
        placed(ceiling.ceiling_model(s).fit(x_learn, y_learn).predict_proba(x_now)[:, 1])
        for s in states
    ]
    columns["the ceiling's model on the product's features"] = np.mean(
        np.vstack(runs["the ceiling's model on the product's features"]), axis=0
    )
    chosen: dict[str, str] = {}
    for kind in ("logistic", "boosted"):
        model = fit(learn, calibrate, names, feature_set(), kind, seed=seed, increasing=increasing)
        label = "logistic, shipped" if kind == "logistic" else "stumps, shipped"
        columns[label] = placed(model.raw(x_now))
        chosen[label] = (
            f"calibration half {roc_auc_score(y_cal, model.raw(x_cal)):.3f}, "
            f"held-out half {roc_auc_score(y_held, model.raw(x_held)):.3f}"
        )
        if kind == "boosted":
            columns["stumps, shipped, calibrated"] = placed(model.probability(x_now))
    clock.lap("the product's models:")

    grids = [("stumps, tuned", STUMPS, MOST["stumps"])]
    grids += [
        (f"trees, {shape}", {**TREES, "shape": [shape]}, MOST["trees"]) for shape in TREES["shape"]
    ]
    searched = []
    for label, grid, most in grids if "grids" not in args.skip else []:
        rows = search(grid, most, (x_learn, y_learn), (x_cal, y_cal), (x_held, y_held), cst, seed)
        searched += [{"world": args.world_folder.name, "grid": label, **r} for r in rows]
        best = max(rows, key=lambda r: r["validation"])
        setting = {k: best[k] for k in grid}
        model = estimator(setting, best["iterations"], cst, seed).fit(x_learn, y_learn)
        columns[label] = placed(model.decision_function(x_now))
        calibrator = bounded_isotonic(model.decision_function(x_cal), y_cal)
        columns[f"{label}, calibrated"] = placed(calibrator.predict(model.decision_function(x_now)))
        chosen[label] = (
            f"chosen {', '.join(f'{key} {value}' for key, value in setting.items())}, "
            f"{best['iterations']} iterations (the best of {len(rows)}); calibration half "
            f"{best['validation']:.3f}, held-out half {best['held_out']:.3f}"
        )
        clock.lap(f"{label} ({len(rows)} settings and counts):")
    if args.stumps is not None:
        rate, leaf, l2, iterations = args.stumps
        setting = {"learning_rate": rate, "min_samples_leaf": int(leaf), "l2_regularization": l2}
        model = estimator(setting, int(iterations), cst, seed).fit(x_learn, y_learn)
        columns["stumps, given"] = placed(model.decision_function(x_now))
        calibrator = bounded_isotonic(model.decision_function(x_cal), y_cal)
        columns["stumps, given, calibrated"] = placed(
            calibrator.predict(model.decision_function(x_now))
        )
        chosen["stumps, given"] = (
            f"{', '.join(f'{k} {v:g}' for k, v in setting.items())}, {int(iterations)} "
            f"iterations; calibration half "
            f"{roc_auc_score(y_cal, model.decision_function(x_cal)):.3f}, held-out half "
            f"{roc_auc_score(y_held, model.decision_function(x_held)):.3f}"
        )
    if args.grid_out is not None and searched:
        pl.DataFrame(searched).write_csv(args.grid_out)
    columns["the product's scores in the warehouse"] = on_world(people, shown, ids)

    # ---- The walk.
    draws = ceiling.paired_draws(y, columns, args.resamples)
    clock.lap(f"{args.resamples} paired resamples:")
    auc_of = {name: float(roc_auc_score(y, score)) for name, score in columns.items()}

    def step(a: str, b: str, places: int = 3) -> str:
        low, high = np.percentile(draws[b] - draws[a], [2.5, 97.5])
        return f"{auc_of[b] - auc_of[a]:+.{places}f} ({low:+.{places}f} to {high:+.{places}f})"

    print(
        f"{args.world_folder.name}: {len(y):,} world persons with an outcome, {int(y.sum()):,} "
        f"had it; {int(unreached.sum()):,} of them ({int(y[unreached].sum())} had it) have no "
        f"record the product's persons hold; {args.resamples} paired bootstrap resamples"
    )
    print(
        f"  the product's persons on {newest}: {linked.people.height:,}; learned at "
        f"{learned_at} ({learn.height:,} persons, {int(y_learn.sum()):,} outcomes), chosen and "
        f"calibrated at {judged_at} ({calibrate.height:,} + {held_out.height:,} persons, "
        f"{int(y_cal.sum())} + {int(y_held.sum())} outcomes); scored {tonight.height:,}"
    )
    print(
        f"  facts: ceiling {ceiling.inputs(full).shape[1]}; the product's features {len(names)}"
        + "".join(
            f"; in the past the ceiling learned from {n:,} persons, {k:,} outcomes ({w})"
            for w, (n, k) in past.items()
        )
    )
    print(f"  oracle: AUC {roc_auc_score(y, people['true_probability'].to_numpy()):.3f}")
    for name, against in WALK:
        if name not in columns:
            continue
        ratio = draws[name] / draws["ceiling"]
        line = (
            f"  {name}: AUC {auc_of[name]:.3f} {ceiling.interval(draws[name])}, "
            f"{auc_of[name] / auc_of['ceiling']:.1%} {ceiling.interval(ratio, percent=True)} "
            "of the ceiling"
        )
        if against in columns:
            line += f"; against {against}: {step(against, name)}"
        print(line)
        if name in runs:
            aucs = [roc_auc_score(y, s) for s in runs[name]]
            line = f"      one random state: AUC {min(aucs):.3f} to {max(aucs):.3f}"
            if against in runs:
                steps = [a - roc_auc_score(y, b) for a, b in zip(aucs, runs[against], strict=True)]
                line += f"; the step {min(steps):+.3f} to {max(steps):+.3f}"
            print(line)
        if name in chosen:
            print(f"      on recorded outcomes at {judged_at}: {chosen[name]}")
    print("  and, to four places:")
    for a, b in SKIPS:
        if a in columns and b in columns:
            print(f"    {b} against {a}: {step(a, b, 4)}")
    print("  time: " + "; ".join(clock.lines))


if __name__ == "__main__":
    main()
