"""Training a risk model: learn, calibrate and judge both kinds, and save them as a version.

Training is honest about time. With H the outcome horizon and N the newest linked night,
the model learns from persons as they were at T = N - 2H (features from events up to T,
outcomes in the H days after), and is calibrated and judged on persons as they were at
V = N - H, whose outcomes it never saw: half of them (by person id) fit the calibrator,
the other half are the held-out test. Both the logistic baseline and the boosted model are
trained and judged; `model.kind` in risk.yaml picks the one that scores each night. A
model is kept as `risk-vN/` under the models folder, with each kind's model, its
evaluation (`evaluation.json`, `evaluation.html`) and its model card. Each is judged too
on the outcomes professionals recorded when closing alerts (`risk_models.labels`).

Training is the analyst's step (`joinedup risk train`), never part of the nightly run.
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

from common import latest, next_path
from risk_models import drift
from risk_models.evaluate import Evaluation, capacity_cost, evaluate, group_lines
from risk_models.features import (
    build_features,
    feature_names,
    feature_set,
    newest_night,
)
from risk_models.labels import judge_on_labels, labelled_features, labels_config
from risk_models.model import KINDS, RiskModel, fit, matrix, monotone, save
from risk_models.outcomes import oracle_auc, outcome_config, training_examples, truth_outcomes
from risk_models.report import ModelCard, write_report
from risk_models.scoring import (
    RiskSettings,
    check_indicators,
    risk_settings,
)

PREFIX = "risk"  # versions are folders: risk-v1/, risk-v2/, ...
AUDIT = {"audit_sex": "sex", "audit_ethnicity": "ethnicity", "audit_age_band": "age_band"}


class RiskError(ValueError):
    """A request the risk stage cannot carry out; nothing was written."""


def latest_risk_model(models: Path) -> Path | None:
    """The newest trained risk model's folder in the models folder, if any."""
    return latest(models, PREFIX)


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
    warehouse: Path,
    models: Path,
    world: Path | None = None,
    settings: RiskSettings | None = None,
) -> TrainReport:
    """Train, calibrate and judge both kinds of model; save them as the next version.

    Args:
        warehouse: the DuckDB warehouse, with linked persons and a history of events.
        models: the folder trained models are kept in (`risk-vN/`).
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
    folder = next_path(models, PREFIX)
    version = folder.name
    lines = [
        f"{version}: learned at {learned_at} ({learn.height:,} persons, "
        f"{int(learn['outcome'].sum()):,} outcomes), calibrated and judged at {judged_at} "
        f"({calibrate.height:,} + {held_out.height:,} persons); horizon {horizon} days; "
        f"features {time.perf_counter() - t0:.1f} s"
    ]
    ceiling = oracle_auc(world) if world is not None else None
    for kind in KINDS:
        t1 = time.perf_counter()
        model = fit(
            learn,
            calibrate,
            names,
            feature_set(),
            kind,
            seed=settings.model.seed,
            increasing=monotone(names, settings.model.increasing),
        )
        judging = examples.filter(pl.col("as_of") == judged_at)
        model.trained.update(
            version=version,
            learned_at=str(learned_at),
            judged_at=str(judged_at),
            horizon_days=horizon,
            # What tonight's features and scores are compared with (risk_models/drift.py).
            drift_reference=drift.reference(
                judging, names, model.probability(matrix(judging, model.features))
            ),
        )
        judged = _judge(model, held_out, settings)
        by_professionals = judge_on_labels(model, labelled)
        context: dict[str, Any] = {
            "held-out persons": f"{held_out.height:,}, as at {judged_at}",
            "outcome": f"a serious safeguarding event within {horizon} days",
            "operating threshold": settings.model.threshold,
            "capacity a night": settings.model.capacity,
            "capacity from": settings.model.capacity_from,
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
        world_view = None
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
        lines.append(f"    {capacity_cost(judged, settings.model.capacity_from)}")
        bounds = settings.fairness.bounds()
        lines += [
            f"    held out, {g}" if i == 0 else f"    {g}"
            for i, g in enumerate(group_lines(judged, bounds))
        ]
        if world_view is not None:
            lines += [
                f"    against the truth, {g}" if i == 0 else f"    {g}"
                for i, g in enumerate(group_lines(world_view, bounds))
            ]
        lines.append(f"    {by_professionals.line()}")
    (folder / "model.json").write_text(
        json.dumps({"version": version, "scores_with": settings.model.kind}, indent=1)
    )
    return TrainReport(folder, lines)


def _judge(
    model: RiskModel, frame: pl.DataFrame, settings: RiskSettings, ceiling: float | None = None
) -> Evaluation:
    raw = model.raw(matrix(frame, model.features))
    return evaluate(
        model.calibrated(raw),
        frame["outcome"].cast(pl.Boolean).to_numpy(),
        audit_columns(frame),
        settings.model.threshold,
        settings.model.capacity,
        ceiling,
        raw=raw,
        person_id=frame["person_id"].to_list(),
        bounds=settings.fairness.bounds(),
    )
