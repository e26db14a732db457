"""Outcomes: whether a person had a serious safeguarding event within a horizon after a date.

An outcome is known only once its whole horizon has passed: `outcomes` and
`training_examples` refuse an as-of date whose horizon runs past the newest linked night,
and read the events as the warehouse held them that night. `truth_outcomes` puts a
synthetic world's own outcome and true probability onto our person ids, so a model can be
judged against the oracle that knows everyone's latent risk.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from risk_models.features import (
    FeaturesConfig,
    FeaturesError,
    build_features,
    features_config,
    newest_night,
    require,
    resolve_night,
    validate_section,
)


class OutcomesError(FeaturesError):
    """An outcome that cannot be known yet, or a world whose truth cannot be read."""


class OutcomeConfig(BaseModel):
    """The `outcome:` section of risk.yaml: which events count, and over how many days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    types: list[str] = Field(min_length=1)
    horizon_days: int = Field(182, gt=0, le=1095)

    @field_validator("types")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("each type once")
        return v


def outcome_config(path: Path | None = None) -> OutcomeConfig:
    """The `outcome:` section of risk.yaml (the shipped one unless a path is given)."""
    return validate_section(OutcomeConfig, path, "outcome")


def _check_horizon(as_of: dt.date, horizon_days: int, newest: dt.date) -> None:
    if as_of + dt.timedelta(days=horizon_days) > newest:
        latest = newest - dt.timedelta(days=horizon_days)
        raise OutcomesError(
            f"as-of date {as_of}: its {horizon_days}-day horizon runs past the newest linked "
            f"night ({newest}), so its outcome is not known yet; the latest as-of date with "
            f"a known outcome is {latest}"
        )


def outcomes(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    horizon_days: int | None = None,
    config: OutcomeConfig | None = None,
) -> pl.DataFrame:
    """Whether each person linked on the newest night had a serious event after `as_of`.

    Args:
        con: the warehouse (read-only is enough).
        as_of: events dated after this date, up to and including as_of + horizon, count.
        horizon_days: the horizon (risk.yaml's `outcome.horizon_days` if None).
        config: the outcome settings (risk.yaml's `outcome:` if None).

    Returns:
        person_id and outcome (Boolean), one row per person, sorted by person_id.

    Raises:
        OutcomesError: the horizon runs past the newest linked night.
        FeaturesError: the warehouse lacks a table or column, or has no linked night.
    """
    c = config or outcome_config()
    horizon = horizon_days if horizon_days is not None else c.horizon_days
    if horizon <= 0:
        raise OutcomesError(f"horizon_days must be above 0, not {horizon}")
    require(
        con,
        {
            "persons": ("source", "source_record_id", "person_id", "valid_from", "valid_to"),
            "events": ("source", "source_record_id", "type", "date", "valid_from", "valid_to"),
        },
    )
    night = newest_night(con)
    _check_horizon(as_of, horizon, night)
    marks = ", ".join("?" for _ in c.types)
    found: pl.DataFrame = con.sql(
        f"""
        WITH rec AS (
            SELECT source, source_record_id, person_id FROM persons
            WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)
        ),
        hit AS (
            SELECT DISTINCT r.person_id FROM events e
            JOIN rec r ON r.source = e.source AND r.source_record_id = e.source_record_id
            WHERE e.valid_from <= ? AND (e.valid_to IS NULL OR e.valid_to > ?)
              AND e.type IN ({marks}) AND e.date > ? AND e.date <= ?
        )
        SELECT p.person_id, h.person_id IS NOT NULL AS outcome
        FROM (SELECT DISTINCT person_id FROM rec) p LEFT JOIN hit h USING (person_id)
        ORDER BY p.person_id
        """,
        params=[
            night,
            night,
            night,
            night,
            *c.types,
            as_of,
            as_of + dt.timedelta(days=horizon),
        ],
    ).pl()
    return found.select(pl.col("person_id").cast(pl.String), pl.col("outcome").cast(pl.Boolean))


def training_examples(
    con: duckdb.DuckDBPyConnection,
    as_of_dates: Sequence[dt.date],
    horizon_days: int | None = None,
    config: OutcomeConfig | None = None,
    features: FeaturesConfig | None = None,
) -> pl.DataFrame:
    """Features at each as-of date joined with the outcome over the horizon after it.

    Every as-of date reads the newest linked night's persons and event rows. Dates whose
    horizon runs past that night (outcome not yet known), and dates whose longest window
    starts before the warehouse's first event (features would be cut short), are refused
    before any is built.

    Returns:
        as_of, then build_features' columns, then outcome; the dates' rows stacked.

    Raises:
        OutcomesError: no dates, a date repeated, or a date refused as above.
    """
    c = config or outcome_config()
    f = features or features_config()
    horizon = horizon_days if horizon_days is not None else c.horizon_days
    dates = list(as_of_dates)
    if not dates:
        raise OutcomesError("no as-of dates given")
    if len(set(dates)) != len(dates):
        raise OutcomesError("an as-of date is given twice")
    night = newest_night(con)
    for as_of in dates:
        _check_horizon(as_of, horizon, night)
    require(con, {"events": ("date",)})
    first = con.execute("SELECT min(date) FROM events").fetchall()[0][0]
    if first is None:
        raise OutcomesError("the warehouse holds no events to learn from")
    earliest = first + dt.timedelta(days=f.longest_window())
    early = [d for d in dates if d < earliest]
    if early:
        raise OutcomesError(
            f"as-of dates {', '.join(map(str, early))}: a {f.longest_window()}-day window "
            f"would start before the first event ({first}); the earliest usable as-of "
            f"date is {earliest}"
        )
    frames = []
    for as_of in sorted(dates):
        frame = build_features(con, as_of, night, f)
        found = outcomes(con, as_of, horizon, c)
        frames.append(
            frame.join(found, on="person_id", how="left", validate="1:1").select(
                pl.lit(as_of).alias("as_of"), pl.all()
            )
        )
    return pl.concat(frames, how="vertical")


def truth_ids(
    world_dir: Path, con: duckdb.DuckDBPyConnection, night: dt.date | None = None
) -> pl.DataFrame:
    """Our person ids (as linked on `night`, the newest if None) on a synthetic world's.

    Each of our persons takes the world person most of their records belong to (the
    lower id on a tie); persons none of whose records the truth knows are left out.

    Returns:
        person_id (String) and truth_id (the world's person_id), one row per our person.
    """
    file = world_dir / "truth" / "records.parquet"
    if not file.exists():
        raise OutcomesError(f"{file}: not found; is {world_dir} a world folder (records)?")
    night = resolve_night(con, night)
    ours: pl.DataFrame = con.sql(
        "SELECT source, source_record_id, person_id FROM persons"
        " WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
        params=[night, night],
    ).pl()
    records = pl.read_parquet(file, columns=["partner", "source_record_id", "person_id"])
    return (
        ours.join(
            records.rename({"partner": "source", "person_id": "truth_id"}),
            on=["source", "source_record_id"],
            how="inner",
        )
        .group_by("person_id", "truth_id")
        .len()
        .sort(["person_id", "len", "truth_id"], descending=[False, True, False])
        .group_by("person_id", maintain_order=True)
        .first()
        .select(pl.col("person_id").cast(pl.String), "truth_id")
    )


def truth_outcomes(
    world_dir: Path, con: duckdb.DuckDBPyConnection, night: dt.date | None = None
) -> pl.DataFrame:
    """A synthetic world's truth on our person ids: person_id, outcome, true_probability.

    Our persons take their world person by `truth_ids`. The world's outcome is a serious
    event in its outcome window after its last night. Persons none of whose records the
    truth knows, and persons the world gives no outcome (born during its nights, after
    its risk was drawn), are left out.
    """
    file = world_dir / "truth" / "persons.parquet"
    if not file.exists():
        raise OutcomesError(f"{file}: not found; is {world_dir} a world folder (persons)?")
    people = pl.read_parquet(file, columns=["person_id", "outcome", "true_probability"])
    return (
        truth_ids(world_dir, con, night)
        .join(people.rename({"person_id": "truth_id"}), on="truth_id", how="inner")
        .filter(pl.col("outcome").is_not_null())
        .select(
            "person_id",
            pl.col("outcome").cast(pl.Boolean),
            pl.col("true_probability").cast(pl.Float64),
        )
        .sort("person_id")
    )


def oracle_auc(world_dir: Path) -> float:
    """The AUC of a synthetic world's oracle: the ceiling for any model of its outcome."""
    file = world_dir / "truth" / "oracle.json"
    try:
        return float(json.loads(file.read_text(encoding="utf-8"))["oracle_auc"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutcomesError(f"{file}: cannot read oracle_auc: {exc}") from exc
