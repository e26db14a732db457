"""From probabilities to what a professional reads: bands, indicators, and the change.

Settings are risk.yaml's `model:`, `bands:` and `indicators:` sections. Indicators are
rules beside the model, set by the council (for example, three or more agencies involved
within 90 days), each a list of conditions on features that must all hold. The change
compares tonight's score with the person's last score: new, rise (up a band), fall (down
a band), step-down (down from an alerting band to below it, or the score at most half
what it was: for review and closure), or steady.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.config import read_yaml, validate
from risk_models.evaluate import GroupBounds
from risk_models.features import (
    RISK_CONFIG,
    FeaturesError,
    risk_file,
    settings_errors,
    validate_section,
)

BANDS = ("low", "medium", "high", "very_high")
_OPS: dict[str, Callable[[pl.Expr, float], pl.Expr]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettings(_Strict):
    """risk.yaml `model:`: which model scores, where it flags, and who answers for it."""

    kind: Literal["logistic", "boosted"] = "boosted"
    threshold: float = Field(0.15, gt=0.0, lt=1.0, description="the operating threshold")
    capacity: int = Field(
        200,
        gt=0,
        description="persons the teams can review in one night; `teams` adds up the nightly "
        "capacity of every team in alerts.yaml that has one",
    )
    capacity_from: str = Field("risk.yaml", description="where the capacity came from")
    seed: int = 1
    increasing: list[str] = Field(
        default=["n_*", "hh_n_*", "agencies_*", "hh_*_with_child_*", "trend_*"],
        description="glob patterns of the features whose direction is known (more, more risk)",
    )
    name: str = "joinedup risk of a serious safeguarding event"
    owner: str = "Head of Data and Insight, the council"
    contact: str = "the council's data protection officer"
    purpose: str = (
        "To help duty professionals find, each night, the residents whose records across "
        "partner agencies suggest a serious safeguarding event in the next six months, so "
        "that someone with a duty of care looks at them sooner."
    )

    @model_validator(mode="before")
    @classmethod
    def _teams(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("capacity") == "teams":
            total, where = teams_capacity()
            data = {**data, "capacity": total, "capacity_from": where}
        return data


def alerts_file() -> Path:
    """alerts.yaml: $JOINEDUP_ALERTS, else the one beside risk.yaml."""
    return Path(os.environ.get("JOINEDUP_ALERTS", str(RISK_CONFIG.with_name("alerts.yaml"))))


def teams_capacity() -> tuple[int, str]:
    """The persons all teams can take in a night (alerts.yaml's `capacity:` of each team
    that sets one), and where that came from in words. Only the capacities are read, so
    the alerts' own settings (relay addresses and the like) need not be set to train."""
    path = alerts_file()
    file = read_yaml(path)
    teams = file.data.get("teams") if isinstance(file.data, dict) else None
    if not isinstance(teams, dict):
        raise FeaturesError(f"{path}: expected a `teams:` mapping, for model.capacity `teams`")
    capacities = {}
    for name, team in teams.items():
        value = team.get("capacity") if isinstance(team, dict) else None
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            where = file.where(("teams", name, "capacity"))
            raise FeaturesError(f"{where}: a team's capacity is a whole number above 0")
        capacities[name] = value
    if not capacities:
        raise FeaturesError(
            f"risk.yaml model.capacity is `teams`, but no team in {path} sets a capacity: "
            "give one there, or a number of persons in risk.yaml"
        )
    return sum(capacities.values()), f"{path.name}: {len(capacities)} teams' nightly capacity"


class BandSettings(_Strict):
    """risk.yaml `bands:`: the lowest probability of each band above `low`."""

    medium: float = Field(0.05, gt=0.0, lt=1.0)
    high: float = Field(0.15, gt=0.0, lt=1.0)
    very_high: float = Field(0.30, gt=0.0, lt=1.0)
    step_down_ratio: float = Field(
        0.5, gt=0.0, lt=1.0, description="a score at most this share of the last is a step-down"
    )

    @model_validator(mode="after")
    def _ordered(self) -> BandSettings:
        if not self.medium < self.high < self.very_high:
            raise ValueError("bands must rise: medium < high < very_high")
        return self


class Condition(_Strict):
    """One condition on one feature."""

    feature: str
    op: Literal[">=", ">", "<=", "<", "=="] = ">="
    value: float


class Indicator(_Strict):
    """A rule beside the model: it fires when all its conditions hold."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: str
    all: list[Condition] = Field(min_length=1)


class FairnessSettings(_Strict):
    """risk.yaml `fairness:`: when a group's figures in an evaluation earn a warning."""

    min_persons: int = Field(500, ge=10, description="groups smaller than this never warn")
    ece_bound: float = Field(0.03, gt=0.0, lt=1.0, description="a group's calibration error")
    fnr_gap: float = Field(
        0.15, gt=0.0, lt=1.0, description="a group's false-negative rate's distance from all's"
    )
    resamples: int = Field(200, ge=0, le=10_000, description="bootstrap resamples for ECE")

    def bounds(self) -> GroupBounds:
        """The same, as the evaluation takes them."""
        return GroupBounds(**self.model_dump())


class DriftSettings(_Strict):
    """risk.yaml `drift:`: how far tonight may move from the model's reference unwarned."""

    score_psi: float = Field(0.1, gt=0.0, description="the score's stability index")
    feature_psi: float = Field(0.25, gt=0.0, description="any one feature's stability index")


class RiskSettings(_Strict):
    """Everything scoring needs beyond the features."""

    model: ModelSettings = ModelSettings()
    bands: BandSettings = BandSettings()
    fairness: FairnessSettings = FairnessSettings()
    drift: DriftSettings = DriftSettings()
    indicators: list[Indicator] = []


def risk_settings(path: Path | None = None) -> RiskSettings:
    """The `model:`, `bands:`, `fairness:`, `drift:` and `indicators:` sections of risk.yaml,
    validated."""
    file = risk_file(path)
    raw = file.data
    model = validate_section(ModelSettings, file, "model") if "model" in raw else ModelSettings()
    bands = validate_section(BandSettings, file, "bands") if "bands" in raw else BandSettings()
    fairness = (
        validate_section(FairnessSettings, file, "fairness")
        if "fairness" in raw
        else FairnessSettings()
    )
    drift = validate_section(DriftSettings, file, "drift") if "drift" in raw else DriftSettings()
    rules = raw.get("indicators") or {}
    if not isinstance(rules, dict):
        raise FeaturesError(f"{file.where(('indicators',))}: expected an `indicators:` mapping")
    indicators = []
    for name, rule in rules.items():
        where = ("indicators", name)
        if not isinstance(rule, dict):
            raise FeaturesError(f"{file.where(where)}: indicators.{name}: expected a mapping")
        with settings_errors():
            indicators.append(validate(Indicator, {"name": name, **rule}, origin=file, at=where))
    return RiskSettings(
        model=model, bands=bands, fairness=fairness, drift=drift, indicators=indicators
    )


def check_indicators(indicators: list[Indicator], features: list[str]) -> None:
    """Refuse rules that name a feature the feature set does not have."""
    known = set(features)
    for rule in indicators:
        for c in rule.all:
            if c.feature not in known:
                raise FeaturesError(
                    f"indicator {rule.name!r} reads feature {c.feature!r}, which the feature "
                    "set does not have"
                )


def band(probability: pl.Expr, bands: BandSettings) -> pl.Expr:
    """The band of each probability."""
    return (
        pl.when(probability >= bands.very_high)
        .then(pl.lit("very_high"))
        .when(probability >= bands.high)
        .then(pl.lit("high"))
        .when(probability >= bands.medium)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def fired(features: pl.DataFrame, indicators: list[Indicator]) -> pl.Series:
    """For each person, the indicators that fired: a list of {rule, text}."""
    if not indicators:
        return pl.Series(
            "indicators",
            [[] for _ in range(features.height)],
            dtype=pl.List(pl.Struct({"rule": pl.String, "text": pl.String})),
        )
    parts = []
    for rule in indicators:
        holds = pl.all_horizontal(
            _OPS[c.op](pl.col(c.feature).fill_null(0.0), c.value) for c in rule.all
        )
        parts.append(pl.when(holds).then(pl.struct(rule=pl.lit(rule.name), text=pl.lit(rule.text))))
    found: pl.Series = features.select(
        pl.concat_list(parts).list.drop_nulls().alias("indicators")
    ).to_series()
    return found


def change(
    band_now: pl.Expr,
    score_now: pl.Expr,
    band_before: pl.Expr,
    score_before: pl.Expr,
    bands: BandSettings,
    alerting: str = "high",
) -> pl.Expr:
    """new, rise, fall, step_down or steady, against the person's last score."""
    rank = {name: i for i, name in enumerate(BANDS)}

    def order(b: pl.Expr) -> pl.Expr:
        return b.replace_strict(rank, return_dtype=pl.Int8)

    was_alerting = order(band_before) >= rank[alerting]
    return (
        pl.when(score_before.is_null())
        .then(pl.lit("new"))
        .when(
            (was_alerting & (order(band_now) < rank[alerting]))
            | (was_alerting & (score_now <= bands.step_down_ratio * score_before))
        )
        .then(pl.lit("step_down"))
        .when(order(band_now) > order(band_before))
        .then(pl.lit("rise"))
        .when(order(band_now) < order(band_before))
        .then(pl.lit("fall"))
        .otherwise(pl.lit("steady"))
    )
