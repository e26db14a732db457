"""Risk in the pipeline: train and judge a model (on request), and score a night.

Training is honest about time. With H the outcome horizon and N the newest linked night,
the model learns from persons as they were at T = N - 2H (features from events up to T,
outcomes in the H days after), and is calibrated and judged on persons as they were at
V = N - H, whose outcomes it never saw: half of them (by person id) fit the calibrator,
the other half are the held-out test. Both the logistic baseline and the boosted model are
trained and judged; `model.kind` in risk.yaml picks the one that scores each night. A
model is kept as `risk-vN/` under the models folder, with each kind's model, its
evaluation (`evaluation.json`, `evaluation.html`) and its model card. Each is judged too
on the outcomes professionals recorded when closing alerts (`risk_models.labels`).

Scoring writes `scores`: one row per person per night, with the score, band, model
version, reasons, indicators, and the change against the person's last score. Anything
wrong (no model, another feature set, a missing feature, a bad setting) stops the night
before a row is written, so last night's scores stay as they were.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines.environment import data_dir
from risk_models.evaluate import Evaluation, evaluate
from risk_models.features import (
    build_features,
    describe,
    feature_names,
    feature_set,
    newest_night,
)
from risk_models.labels import judge_on_labels, labelled_features, labels_config
from risk_models.model import KINDS, RiskModel, fit, load, matrix, save, top_reasons
from risk_models.outcomes import oracle_auc, outcome_config, training_examples, truth_outcomes
from risk_models.report import ModelCard, write_report
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
CREATE TABLE IF NOT EXISTS risk_runs (
    night DATE NOT NULL, model_version VARCHAR NOT NULL, persons BIGINT, flagged BIGINT,
    seconds DOUBLE, finished_at TIMESTAMP
);
"""
AUDIT = {"audit_sex": "sex", "audit_ethnicity": "ethnicity", "audit_age_band": "age_band"}


class RiskError(ValueError):
    """A request the risk stage cannot carry out; nothing was written."""


def risk_models_dir() -> Path:
    """Where trained risk models are kept."""
    return data_dir() / "models"


def latest_risk_model() -> Path | None:
    """The newest trained risk model's folder, if any."""
    found = sorted(
        (p for p in risk_models_dir().glob("risk-v*") if p.is_dir()),
        key=lambda p: int(p.name.split("-v")[1]),
    )
    return found[-1] if found else None


def _card(settings: RiskSettings, version: str, kind: str) -> ModelCard:
    m = settings.model
    return ModelCard(
        name=m.name,
        version=f"{version} ({kind})",
        purpose=m.purpose,
        owner=m.owner,
        contact=m.contact,
        use=(
            "Decision support only. Each night the highest scores, and the rule-based "
            "indicators, are routed to the professional with a duty of care, who reads "
            "the reasons, looks at the person's records across agencies, and decides. "
            "No service is given or withheld because of a score."
        ),
        data=[
            "Events recorded by partner agencies (social care, housing, police, schools, "
            "health, revenues and benefits) up to the scoring date, counted over 30, 90 "
            "and 365 days; severe events; agencies involved; recency and trend.",
            "The same for the other members of the person's household.",
            "Age, and the rate of recorded events in the person's postcode sector.",
        ],
        not_used=[
            "Sex and ethnicity: kept out of the model's inputs, used only to measure "
            "disparities below.",
            "Names, addresses, free text and case notes.",
        ],
        limitations=[
            "It sees only what partners record: events nobody records, and people no "
            "agency knows, are invisible to it.",
            "Recording itself can be biased (one agency recording more of one group), and "
            "the model learns that bias; the disparity table is where to look for it.",
            "Records wrongly linked into one person, or left apart, change the picture.",
            "It is trained on the outcome recorded as a serious safeguarding event: "
            "harm that is never recorded is not in its target.",
        ],
        risks=[
            "False flags: read precision at the threshold; every flag is reviewed by a "
            "person before anything is done.",
            "Missed cases: read recall; the score adds to professional judgement and "
            "referral routes, it does not replace them.",
            "Drift: the model is judged again at every retraining, and backtested on "
            "past nights before a change of model or threshold goes live.",
        ],
    )


def held_out_split(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Calibration and held-out halves: even and odd person numbers (stable across runs)."""
    digits = pl.col("person_id").str.extract(r"(\d+)$").cast(pl.Int64, strict=False).fill_null(0)
    even = (digits % 2) == 0
    return frame.filter(even), frame.filter(~even)


def audit_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """The fairness report's columns (sex, ethnicity, age band), never model inputs."""
    return frame.select(pl.col(a).alias(name) for a, name in AUDIT.items() if a in frame.columns)


@dataclass
class TrainReport:
    """What a training run made and how its models did."""

    folder: Path
    lines: list[str]


def train_risk(
    warehouse: Path, world: Path | None = None, settings: RiskSettings | None = None
) -> TrainReport:
    """Train, calibrate and judge both kinds of model; save them as the next version.

    Args:
        warehouse: the DuckDB warehouse, with linked persons and a history of events.
        world: a synthetic world's folder, to judge against its truth and oracle too.
        settings: risk.yaml's model, bands and indicators (read if None).
    """
    settings = settings or risk_settings()
    names = feature_names()
    check_indicators(settings.indicators, names)
    horizon = outcome_config().horizon_days
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        newest = newest_night(con)
        judged_at = newest - dt.timedelta(days=horizon)
        learned_at = judged_at - dt.timedelta(days=horizon)
        t0 = time.perf_counter()
        examples = training_examples(con, [learned_at, judged_at], horizon)
        truth = None
        if world is not None:
            tonight = build_features(con, newest, newest)
            truth = tonight.join(truth_outcomes(world, con, newest), on="person_id")
        labelled = labelled_features(con, labels_config())
    finally:
        con.close()
    learn = examples.filter(pl.col("as_of") == learned_at)
    calibrate, held_out = held_out_split(examples.filter(pl.col("as_of") == judged_at))
    previous = latest_risk_model()
    version = f"risk-v{int(previous.name.split('-v')[1]) + 1 if previous else 1}"
    folder = risk_models_dir() / version
    lines = [
        f"{version}: learned at {learned_at} ({learn.height:,} persons, "
        f"{int(learn['outcome'].sum()):,} outcomes), calibrated and judged at {judged_at} "
        f"({calibrate.height:,} + {held_out.height:,} persons); horizon {horizon} days; "
        f"features {time.perf_counter() - t0:.1f} s"
    ]
    ceiling = oracle_auc(world) if world is not None else None
    for kind in KINDS:
        t1 = time.perf_counter()
        model = fit(learn, calibrate, names, feature_set(), kind, seed=settings.model.seed)
        model.trained.update(
            version=version,
            learned_at=str(learned_at),
            judged_at=str(judged_at),
            horizon_days=horizon,
        )
        judged = _judge(model, held_out, settings)
        by_professionals = judge_on_labels(model, labelled)
        context: dict[str, Any] = {
            "held-out persons": f"{held_out.height:,}, as at {judged_at}",
            "outcome": f"a serious safeguarding event within {horizon} days",
            "operating threshold": settings.model.threshold,
            "capacity a night": settings.model.capacity,
            "trained on": f"{learn.height:,} persons as at {learned_at}",
            "feature set": feature_set(),
        }
        context["judged by professionals"] = by_professionals.line()
        save(model, folder / kind)
        write_report(folder / kind, _card(settings, version, kind), judged, context)
        line = (
            f"  {kind}: held-out AUC {judged.auc:.3f}, AP {judged.average_precision:.3f}, "
            f"ECE {judged.ece:.4f}; at {settings.model.threshold}: precision "
            f"{judged.threshold.precision:.3f}, recall {judged.threshold.recall:.3f}"
        )
        if truth is not None and ceiling is not None:
            world_view = _judge(model, truth, settings, ceiling)
            write_report(
                folder / kind / "truth",
                _card(settings, version, kind),
                world_view,
                {**context, "judged on": f"the world's truth after {newest}"},
            )
            line += (
                f"; against the world's truth: AUC {world_view.auc:.3f} = "
                f"{world_view.auc / ceiling:.1%} of the oracle's {ceiling:.3f}, "
                f"ECE {world_view.ece:.4f}"
            )
        lines.append(f"{line}; {time.perf_counter() - t1:.1f} s")
        lines.append(f"    {by_professionals.line()}")
    (folder / "model.json").write_text(
        json.dumps({"version": version, "scores_with": settings.model.kind}, indent=1)
    )
    return TrainReport(folder, lines)


def _judge(
    model: RiskModel, frame: pl.DataFrame, settings: RiskSettings, ceiling: float | None = None
) -> Evaluation:
    probability = model.probability(matrix(frame, model.features))
    return evaluate(
        probability,
        frame["outcome"].cast(pl.Boolean).to_numpy(),
        audit_columns(frame),
        settings.model.threshold,
        settings.model.capacity,
        ceiling,
    )


def scoring_model(folder: Path | None = None, kind: str | None = None) -> RiskModel:
    """The model that scores: the newest version's chosen kind, checked against tonight's
    feature set before it is unpickled."""
    folder = folder or latest_risk_model()
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

    def line(self) -> str:
        """One line for the run's report."""
        bands = ", ".join(f"{self.bands.get(b, 0):,} {b}" for b in ("very_high", "high"))
        return (
            f"{self.persons:,} persons scored with {self.model_version}: {bands}; "
            f"{self.changes.get('rise', 0):,} rises, {self.changes.get('step_down', 0):,} "
            f"step-downs; {self.indicators:,} with an indicator; {self.seconds:.1f} s"
        )


def score_frame(features: pl.DataFrame, model: RiskModel, settings: RiskSettings) -> pl.DataFrame:
    """Score, band, reasons and indicators for every person in a features frame."""
    check_indicators(settings.indicators, list(model.features))
    probability = model.probability(matrix(features, model.features))
    reasons = top_reasons(model, features, describe)
    indicators = fired(features, settings.indicators).to_list()
    return pl.DataFrame(
        {
            "person_id": features["person_id"],
            "score": probability.tolist(),
            "reasons": [json.dumps(r) for r in reasons],
            "indicators": [json.dumps(i) for i in indicators],
        }
    ).with_columns(
        band(pl.col("score"), settings.bands).alias("band"),
        pl.lit(str(model.trained.get("version", "unversioned")) + f"/{model.kind}").alias(
            "model_version"
        ),
    )


def score_night(
    warehouse: Path,
    night: dt.date,
    folder: Path | None = None,
    settings: RiskSettings | None = None,
    model: RiskModel | None = None,
) -> ScoreReport:
    """Score every person linked on a night into `scores`, replacing that night's rows.

    `model`, when the caller has loaded it already, is used instead of loading it again.
    """
    t0 = time.perf_counter()
    settings = settings or risk_settings()
    model = model or scoring_model(folder)
    con = duckdb.connect(str(warehouse))
    in_transaction = False
    try:
        con.execute(SCORES_DDL).fetchall()
        features = build_features(con, night, night)
        scored = score_frame(features, model, settings)
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
        con.execute("BEGIN TRANSACTION").fetchall()
        in_transaction = True
        con.execute("DELETE FROM scores WHERE night = ?", [night]).fetchall()
        con.register("_scores", tonight)
        con.execute(
            "INSERT INTO scores SELECT night, person_id, score, band, model_version, reasons,"
            " indicators, previous_score, change FROM _scores"
        ).fetchall()
        seconds = time.perf_counter() - t0
        flagged = int((tonight["score"] >= settings.model.threshold).sum())
        con.execute(
            "INSERT INTO risk_runs VALUES (?, ?, ?, ?, ?, now())",
            [night, tonight["model_version"][0], tonight.height, flagged, seconds],
        ).fetchall()
        con.execute("COMMIT").fetchall()
    except BaseException:
        if in_transaction:
            con.rollback()
        raise
    finally:
        con.close()
    return ScoreReport(
        night,
        tonight["model_version"][0] if tonight.height else "none",
        tonight.height,
        dict(tonight["band"].value_counts().iter_rows()),
        dict(tonight["change"].value_counts().iter_rows()),
        int((tonight["indicators"] != "[]").sum()),
        seconds,
    )
