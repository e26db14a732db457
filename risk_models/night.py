"""A night's scores: every person linked on the night, scored by the model that scores.

Scoring writes `scores`: one row per person per night, with the score, band, model
version, reasons, indicators, and the change against the person's last score. Anything
wrong (no model, another feature set, a missing feature, a bad setting) stops the night
before a row is written, so last night's scores stay as they were.

One rule decides whether a night is scored (`already_scored`), for the nightly job and
the command line alike: a night scored by the same model whose persons have not been
linked again since is not scored again; nor is a night older than the newest night
scored (the nights after it compare with it).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from connectors import Warehouse
from risk_models import drift
from risk_models.drift import Drift
from risk_models.features import build_features, describe, feature_set, linked_nights
from risk_models.model import RiskModel, load, matrix, top_reasons
from risk_models.scoring import (
    RiskSettings,
    band,
    change,
    check_indicators,
    fired,
    risk_settings,
)

SCORES_DDL = """
CREATE TABLE IF NOT EXISTS scores (
    night DATE NOT NULL, person_id VARCHAR NOT NULL, score DOUBLE NOT NULL,
    band VARCHAR NOT NULL, model_version VARCHAR NOT NULL, reasons VARCHAR NOT NULL,
    indicators VARCHAR NOT NULL, previous_score DOUBLE, change VARCHAR NOT NULL
);
-- The model's score before calibration (log-odds): the calibrated score is a step
-- function of it, so a study of what happens either side of a band's threshold needs it.
ALTER TABLE scores ADD COLUMN IF NOT EXISTS raw_score DOUBLE;
CREATE TABLE IF NOT EXISTS risk_runs (
    night DATE NOT NULL, model_version VARCHAR NOT NULL, persons BIGINT, flagged BIGINT,
    seconds DOUBLE, finished_at TIMESTAMP
);
-- How far each night's features and scores moved from the model's reference (the persons
-- it was judged on, as at reference_date): one row per feature and one for the score.
CREATE TABLE IF NOT EXISTS risk_drift (
    night DATE NOT NULL, model_version VARCHAR NOT NULL, reference_date DATE,
    name VARCHAR NOT NULL, psi DOUBLE NOT NULL
);
"""
ALREADY = "already scored"


class RiskError(ValueError):
    """A request the risk stage cannot carry out; nothing was written."""


def scoring_model(folder: Path | None, kind: str | None = None) -> RiskModel:
    """The model that scores: a version's chosen kind (risk.yaml's `model.kind` when it
    was trained), checked against tonight's feature set before it is unpickled."""
    if folder is None:
        raise RiskError("no trained risk model: run `joinedup risk train` first")
    if kind is None:
        try:
            kind = json.loads((folder / "model.json").read_text())["scores_with"]
        except (OSError, ValueError, KeyError) as exc:
            raise RiskError(f"{folder}: not a trained risk model ({exc})") from exc
    try:
        return load(folder / str(kind), feature_set())
    except ValueError as exc:
        raise RiskError(str(exc)) from exc


@dataclass
class ScoreReport:
    """What a night's scoring did."""

    night: dt.date
    model_version: str
    persons: int
    bands: dict[str, int]
    changes: dict[str, int]
    indicators: int
    seconds: float

    status: str = "scored"
    drift: Drift | None = None

    def line(self) -> str:
        """One line for the run's report."""
        bands = ", ".join(f"{self.bands.get(b, 0):,} {b}" for b in ("very_high", "high"))
        drifted = f"; {self.drift.line()}" if self.drift is not None else ""
        return (
            f"{self.persons:,} persons scored with {self.model_version}: {bands}; "
            f"{self.changes.get('rise', 0):,} rises, {self.changes.get('step_down', 0):,} "
            f"step-downs; {self.indicators:,} with an indicator{drifted}; {self.seconds:.1f} s"
        )


def score_frame(features: pl.DataFrame, model: RiskModel, settings: RiskSettings) -> pl.DataFrame:
    """Score, band, reasons and indicators for every person in a features frame."""
    check_indicators(settings.indicators, list(model.features))
    x = matrix(features, model.features)
    raw = model.raw(x)
    probability = model.calibrated(raw)
    reasons = top_reasons(model, features, describe)
    indicators = fired(features, settings.indicators).to_list()
    return pl.DataFrame(
        {
            "person_id": features["person_id"],
            "score": probability.tolist(),
            "raw_score": raw.tolist(),
            "reasons": [json.dumps(r) for r in reasons],
            "indicators": [json.dumps(i) for i in indicators],
        }
    ).with_columns(
        band(pl.col("score"), settings.bands).alias("band"),
        pl.lit(model_version(model)).alias("model_version"),
    )


def model_version(model: RiskModel) -> str:
    """The version a model's scores carry: `risk-v2/boosted`."""
    return f"{model.trained.get('version', 'unversioned')}/{model.kind}"


def already_scored(
    con: duckdb.DuckDBPyConnection, night: dt.date, version: str, again: bool = False
) -> dict[str, Any] | None:
    """The run that scored this night, if scoring it again would change nothing or is refused.

    With `again`, the newest night scored is scored again even if nothing changed.
    """
    con.execute(SCORES_DDL).fetchall()
    runs = con.sql(
        "SELECT * FROM risk_runs WHERE night = ? ORDER BY finished_at DESC LIMIT 1",
        params=[night],
    ).pl()
    if not runs.height:
        return None
    run: dict[str, Any] = runs.row(0, named=True)
    newest = con.execute("SELECT max(night) FROM risk_runs").fetchall()[0][0]
    if newest > night:
        return run  # older nights are not scored again over newer ones
    if again:
        return None
    relinked = con.execute(
        "SELECT count(*) FROM linkage_runs WHERE night = ? AND finished_at > ?",
        [night, run["finished_at"]],
    ).fetchall()[0][0]
    return run if run["model_version"] == version and not relinked else None


def report_of_run(
    con: duckdb.DuckDBPyConnection, night: dt.date, run: dict[str, Any]
) -> ScoreReport:
    """What an earlier run did for the night, from the warehouse, marked already scored."""
    rows = con.sql(
        "SELECT band, change, indicators FROM scores WHERE night = ?", params=[night]
    ).pl()
    moved = con.sql(
        "SELECT name, psi, reference_date FROM risk_drift WHERE night = ? ORDER BY psi DESC",
        params=[night],
    ).pl()
    return ScoreReport(
        night,
        str(run["model_version"]),
        rows.height,
        dict(rows["band"].value_counts().iter_rows()),
        dict(rows["change"].value_counts().iter_rows()),
        int((rows["indicators"] != "[]").sum()),
        float(run["seconds"] or 0.0),  # what scoring the night took then
        status=ALREADY,
        drift=drift.summary(moved.drop("reference_date"), str(moved["reference_date"][0]))
        if moved.height
        else None,
    )


def score_night(
    warehouse: Path,
    night: dt.date,
    folder: Path | None,
    settings: RiskSettings | None = None,
    model: RiskModel | None = None,
    again: bool = False,
) -> ScoreReport:
    """Score every person linked on a night into `scores`, replacing that night's rows.

    A night `already_scored` is not scored again (its report says so), unless `again`
    and it is the newest night scored. `model`, when the caller has loaded it already
    from `folder`, is used instead of loading it again.
    """
    t0 = time.perf_counter()
    settings = settings or risk_settings()
    model = model or scoring_model(folder)
    wh = Warehouse(warehouse)
    con = wh.con
    try:
        done = already_scored(con, night, model_version(model), again)
        if done is not None:
            return report_of_run(con, night, done)
        features = build_features(con, night, night)
        scored = score_frame(features, model, settings)
        ref = model.trained.get("drift_reference")
        moved = (
            drift.measure(ref, features, model.features, scored["score"].to_numpy())
            if ref is not None
            else None
        )
        before = con.sql(
            "SELECT person_id, arg_max(score, night) AS previous_score,"
            " arg_max(band, night) AS previous_band FROM scores WHERE night < ?"
            " GROUP BY person_id",
            params=[night],
        ).pl()
        tonight = scored.join(before, on="person_id", how="left").with_columns(
            change(
                pl.col("band"),
                pl.col("score"),
                pl.col("previous_band"),
                pl.col("previous_score"),
                settings.bands,
            ).alias("change"),
            pl.lit(night).alias("night"),
        )
        with wh.transaction():
            con.execute("DELETE FROM scores WHERE night = ?", [night]).fetchall()
            con.register("_scores", tonight)
            con.execute(
                "INSERT INTO scores BY NAME SELECT night, person_id, score, band,"
                " model_version, reasons, indicators, previous_score, change, raw_score"
                " FROM _scores"
            ).fetchall()
            seconds = time.perf_counter() - t0
            flagged = int((tonight["score"] >= settings.model.threshold).sum())
            con.execute(
                "INSERT INTO risk_runs VALUES (?, ?, ?, ?, ?, now())",
                [night, tonight["model_version"][0], tonight.height, flagged, seconds],
            ).fetchall()
            con.execute("DELETE FROM risk_drift WHERE night = ?", [night]).fetchall()
            if moved is not None:
                con.register("_drift", moved)
                con.execute(
                    "INSERT INTO risk_drift SELECT ?, ?, ?, name, psi FROM _drift",
                    [night, model_version(model), model.trained.get("judged_at")],
                ).fetchall()
    finally:
        wh.close()
    return ScoreReport(
        night,
        tonight["model_version"][0] if tonight.height else "none",
        tonight.height,
        dict(tonight["band"].value_counts().iter_rows()),
        dict(tonight["change"].value_counts().iter_rows()),
        int((tonight["indicators"] != "[]").sum()),
        seconds,
        drift=drift.summary(moved, str(model.trained.get("judged_at")))
        if moved is not None
        else None,
    )


def nights_to_score(warehouse: Path, nights: Sequence[dt.date] | None = None) -> list[dt.date]:
    """The nights to score, oldest first: those named, or every linked night with None.

    Raises:
        RiskError: a night named is not linked, or no night is.
        FeaturesError: the warehouse lacks linkage's tables.
    """
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        linked = linked_nights(con)
    finally:
        con.close()
    wanted = sorted(set(linked if nights is None else nights))
    if not linked:
        raise RiskError("no night is linked yet: link a night first (joinedup link run)")
    unlinked = [str(n) for n in wanted if n not in linked]
    if unlinked:
        span = f"linked nights run {linked[0]} to {linked[-1]}"
        raise RiskError(f"night {', '.join(unlinked)} not linked: {span}")
    return wanted
