"""Professionals' labels: what came of each closed alert, as a label for the next training.

When a professional closes an alert in the inbox they choose an outcome from a controlled
list. `inbox.outcomes` copies those outcomes into the warehouse's `alert_outcomes`
table, and risk.yaml's `labels:` section says which of them confirm the concern. Training
judges each new model on these labels beside the event outcome it learns from: a second,
human view of whether the persons it ranks high are the ones professionals found at risk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.metrics import roc_auc_score

from risk_models.features import FeaturesConfig, build_features, linked_nights, validate_section
from risk_models.model import RiskModel, matrix

# The warehouse's copy of closed alerts: no names and no free text, only what a label
# needs and what an analyst may group by.
ALERT_OUTCOMES_DDL = """
CREATE TABLE IF NOT EXISTS alert_outcomes (
    reference VARCHAR PRIMARY KEY,
    person_id VARCHAR NOT NULL,
    alerted_night DATE NOT NULL,
    kind VARCHAR NOT NULL,
    band VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    model_version VARCHAR,
    routed_team VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    concern BOOLEAN,
    unlabelled_reason VARCHAR,
    closed_at TIMESTAMP NOT NULL,
    copied_at TIMESTAMP NOT NULL,
    goal VARCHAR,
    progress VARCHAR
);
-- The goal and how it went came later: added to a warehouse made before them.
ALTER TABLE alert_outcomes ADD COLUMN IF NOT EXISTS goal VARCHAR;
ALTER TABLE alert_outcomes ADD COLUMN IF NOT EXISTS progress VARCHAR;
"""


class LabelsConfig(BaseModel):
    """The `labels:` section of risk.yaml: which closing outcomes confirm the concern."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concern: list[str] = Field(min_length=1)
    no_concern: list[str] = Field(min_length=1)
    nights: int = Field(30, ge=1, le=366)
    min_labels: int = Field(20, ge=2)

    @model_validator(mode="after")
    def _apart(self) -> LabelsConfig:
        both = sorted(set(self.concern) & set(self.no_concern))
        if both:
            raise ValueError(f"{', '.join(both)} in both concern and no_concern")
        for name, values in (("concern", self.concern), ("no_concern", self.no_concern)):
            if len(set(values)) != len(values):
                raise ValueError(f"{name}: each outcome once")
        return self

    def label(self, outcome: str) -> bool | None:
        """True when the outcome confirms the concern, False when not, None if unlisted."""
        if outcome in self.concern:
            return True
        if outcome in self.no_concern:
            return False
        return None


def labels_config(path: Path | None = None) -> LabelsConfig:
    """The `labels:` section of risk.yaml (the shipped one unless a path is given)."""
    return validate_section(LabelsConfig, path, "labels")


def professional_labels(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The labelled closed alerts in the warehouse, newest night first.

    Returns:
        reference, person_id, alerted_night, model_version, score and concern (Boolean);
        empty when no outcome has been copied yet.
    """
    schema = {
        "reference": pl.String,
        "person_id": pl.String,
        "alerted_night": pl.Date,
        "model_version": pl.String,
        "score": pl.Float64,
        "concern": pl.Boolean,
    }
    present = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'alert_outcomes'"
    ).fetchall()[0][0]
    if not present:
        return pl.DataFrame(schema=schema)
    found: pl.DataFrame = con.sql(
        f"""
        SELECT {", ".join(schema)} FROM alert_outcomes WHERE concern IS NOT NULL
        ORDER BY alerted_night DESC, reference
        """
    ).pl()
    return found.cast(schema)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LabelsJudgement:
    """How a model ranks the alerts professionals closed: confirmed above not confirmed?"""

    labels: int
    concern: int
    nights: tuple[dt.date, ...]
    auc: float | None  # None when too few labels, or only one kind
    alerting_auc: float | None  # the scores the alerts were raised with, for comparison
    why_not: str | None = None

    def line(self) -> str:
        """One line for the training report."""
        if self.auc is None:
            return f"professionals' outcomes: {self.why_not}"
        return (
            f"professionals' outcomes: {self.labels:,} closed alerts over "
            f"{len(self.nights)} nights ({self.concern:,} confirmed a concern, "
            f"{self.concern / self.labels:.0%}); AUC on them {self.auc:.3f}, against "
            f"{self.alerting_auc:.3f} for the scores that raised them"
        )


@dataclass(frozen=True)
class Labelled:
    """The labelled closed alerts, each with its person's features as at the alert's night.

    `frame` holds reference, concern, alerting_score and the features; it is None
    when there is nothing to judge on, and `why_not` says why.
    """

    labels: int
    concern: int
    nights: tuple[dt.date, ...]
    frame: pl.DataFrame | None
    why_not: str | None = None


def labelled_features(
    con: duckdb.DuckDBPyConnection, config: LabelsConfig, features: FeaturesConfig | None = None
) -> Labelled:
    """Build, once for every model to be judged, the features of each labelled person.

    Only the newest `config.nights` linked nights with labels are read (the features are
    built once a night); labels of nights no longer linked are left out. An alert's
    person was scored on its night, so is in that night's features, unless the night has
    been linked again since; those few are left out of the counts.
    """
    labels = professional_labels(con)
    linked = set(linked_nights(con))
    labels = labels.filter(pl.col("alerted_night").is_in(sorted(linked)))
    nights = sorted(labels["alerted_night"].unique().to_list(), reverse=True)[: config.nights]
    labels = labels.filter(pl.col("alerted_night").is_in(nights))
    concern = int(labels["concern"].sum())
    nothing = Labelled(labels.height, concern, tuple(nights), None)
    if labels.height < config.min_labels:
        why = f"{labels.height} labelled closed alerts, fewer than the {config.min_labels} needed"
        return replace(nothing, why_not=f"{why} to judge on")
    if concern in (0, labels.height):
        kind = "confirmed a concern" if concern else "found no concern"
        why = f"all {labels.height} labelled closed alerts {kind}: no ranking to judge"
        return replace(nothing, why_not=why)
    frame = pl.concat(
        [
            build_features(con, night, night, features).join(
                labels.filter(pl.col("alerted_night") == night).select(
                    "reference", "person_id", "concern", pl.col("score").alias("alerting_score")
                ),
                on="person_id",
                how="inner",
            )
            for night in nights
        ]
    )
    found = int(frame["concern"].sum())
    if found in (0, frame.height):
        return replace(nothing, why_not="one kind of label left once persons were matched")
    return Labelled(frame.height, found, tuple(nights), frame)


def judge_on_labels(model: RiskModel, labelled: Labelled) -> LabelsJudgement:
    """How `model` ranks the labelled alerts, beside the scores that raised them."""
    judgement = LabelsJudgement(labelled.labels, labelled.concern, labelled.nights, None, None)
    if labelled.frame is None:
        return replace(judgement, why_not=labelled.why_not)
    frame = labelled.frame
    truth = frame["concern"].to_numpy().astype(bool)
    return replace(
        judgement,
        auc=float(roc_auc_score(truth, model.probability(matrix(frame, model.features)))),
        alerting_auc=float(roc_auc_score(truth, np.asarray(frame["alerting_score"].to_numpy()))),
    )
