"""Features per person at an as-of date: what partners recorded about them and their household.

`build_features` reads the warehouse as it stood on a linked night (the persons, records,
households and event rows current that night) and counts only events dated on or before
the as-of date, so a model trained on past as-of dates sees what it would have seen then
and nothing after. A partner's record is read at an as-of date only if the warehouse can
show it existed by then (the start date its partner gives, its first load, or its first
event or involvement, on or before the date), and then as it stood at that date: a record
that came into being later sets no feature, not even the age or the household
(docs/risk.md, "Records as they existed").
The feature set is fixed by `pipelines/config/risk.yaml` (`features:`), not by the data:
a type with no events tonight is a column of zeros. Its version, `FEATURE_SET`, is a hash
of the ordered names and the settings that change their values.

Sex, ethnicity and age band are never features: they come back as `audit_*` columns for
the fairness report, and `feature_names()` does not list them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.config import ConfigError, ConfigFile, read_yaml, validate
from risk_models.windows import ago_sql, count_words, in_window, period

log = logging.getLogger(__name__)

RISK_CONFIG = Path(__file__).resolve().parent.parent / "pipelines" / "config" / "risk.yaml"
AUDIT_COLUMNS = ("audit_sex", "audit_ethnicity", "audit_age_band")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
M = TypeVar("M", bound=BaseModel)


class _Sections(BaseModel):
    """risk.yaml's sections by name; each is validated by its own model when asked for."""

    model_config = ConfigDict(extra="forbid")

    features: Any = None
    outcome: Any = None
    labels: Any = None
    model: Any = None
    bands: Any = None
    fairness: Any = None
    drift: Any = None
    indicators: Any = None


RISK_SECTIONS = tuple(_Sections.model_fields)


class FeaturesError(ValueError):
    """The warehouse or the settings cannot give features: says what is missing or wrong."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventWords(_Strict):
    """How a professional reads one event type: "1 referral", "3 referrals"."""

    noun: str = Field(min_length=1)
    plural: str | None = None

    def many(self) -> str:
        """The plural: given, or the noun with an s."""
        return self.plural or f"{self.noun}s"


class HouseholdFeatures(_Strict):
    """Other household members' events, and a domestic-abuse-with-a-child count."""

    event_types: list[str] = Field(min_length=1)
    windows: list[int] = Field(min_length=1)
    child_age: int = Field(18, gt=0, le=25)
    abuse_type: str = "domestic_abuse"
    abuse_window: int = Field(90, gt=0)


class AreaFeatures(_Strict):
    """The home postcode sector's events a person, leaving the person out."""

    window: int = Field(365, gt=0)
    min_persons: int = Field(50, ge=2)


class AuditColumns(_Strict):
    """The fairness report's columns: age bands, and partners' ethnicity codes by group."""

    age_bands: list[int] = Field(min_length=1)
    ethnicity: dict[str, list[str]]

    @field_validator("age_bands")
    @classmethod
    def _ascending(cls, v: list[int]) -> list[int]:
        if v != sorted(set(v)) or v[0] <= 0:
            raise ValueError("expected ages above 0 in ascending order, each once")
        return v


class FeaturesConfig(_Strict):
    """The `features:` section of risk.yaml: which features, and how they read."""

    windows: list[int] = Field(min_length=1)
    event_types: dict[str, EventWords] = Field(min_length=1)
    severe: int = Field(3, ge=1, le=3)
    recency_cap_days: int = Field(730, gt=0)
    trend_days: int = Field(90, gt=0)
    # Yearly rates over the records of up to this many days: `history_kinds` (None: none)
    history_days: int | None = Field(None, gt=0)
    age_when_unknown: int = Field(40, ge=0, le=120)
    household: HouseholdFeatures
    area: AreaFeatures
    audit: AuditColumns

    @field_validator("windows")
    @classmethod
    def _windows(cls, v: list[int]) -> list[int]:
        if v != sorted(set(v)) or v[0] <= 0:
            raise ValueError("expected days above 0 in ascending order, each once")
        return v

    @field_validator("event_types")
    @classmethod
    def _type_names(cls, v: dict[str, EventWords]) -> dict[str, EventWords]:
        bad = [t for t in v if not _NAME.match(t) or t in ("events", "severe")]
        if bad:
            raise ValueError(f"event types must be lower_snake_case names, not {bad}")
        return v

    @model_validator(mode="after")
    def _household_types_known(self) -> FeaturesConfig:
        hh = self.household
        unknown = [t for t in [*hh.event_types, hh.abuse_type] if t not in self.event_types]
        if unknown:
            raise ValueError(f"household types {unknown} are not in features.event_types")
        if hh.windows != sorted(set(hh.windows)) or hh.windows[0] <= 0:
            raise ValueError("household.windows: expected days above 0 in ascending order")
        return self

    def longest_window(self) -> int:
        """The longest window any count reads, in days before the as-of date."""
        hh = self.household
        return max(
            *self.windows, 2 * self.trend_days, *hh.windows, hh.abuse_window, self.area.window
        )

    def lookback(self) -> int:
        """The oldest event, in days before the as-of date, any feature reads."""
        return max(self.longest_window(), self.recency_cap_days, self.history_days or 0)

    def history_kinds(self) -> dict[str, str]:
        """The kinds counted as a yearly rate over the records' history, each with its SQL test.

        Each event type, all events, and events graded severe. A kind's rate is its events
        over the `history_days` before the as-of date, or over as long as the warehouse's
        events of that kind go back when that is shorter (at least a day), a year at a
        time: a partner that keeps five years and one that keeps one are read on the same
        scale, and so is a model trained on a year of history and scored on two.
        """
        if self.history_days is None:
            return {}
        return {
            **{t: f"type = {_quote(t)}" for t in self.event_types},
            "events": "true",
            "severe": f"severity >= {self.severe}",
        }


@contextmanager
def settings_errors() -> Iterator[None]:
    """Raise a `ConfigError` of risk.yaml as the `FeaturesError` risk callers expect."""
    try:
        yield
    except ConfigError as exc:
        raise FeaturesError(str(exc)) from exc


def risk_file(path: Path | None = None) -> ConfigFile:
    """risk.yaml as read, its sections checked by name; an error names the file and line."""
    path = path or RISK_CONFIG
    with settings_errors():
        file = read_yaml(path)
        if not isinstance(file.data, dict):
            raise FeaturesError(
                f"{path}: expected a mapping with sections {', '.join(RISK_SECTIONS)}"
            )
        validate(_Sections, file.data, origin=file)
    return file


def validate_section(model: type[M], path: Path | ConfigFile | None, section: str) -> M:
    """One section of risk.yaml validated by a pydantic model; errors name file and key.

    Args:
        model: the section's model.
        path: risk.yaml (the shipped one if None), or the file as `risk_file` read it.
        section: the section's name.
    """
    file = path if isinstance(path, ConfigFile) else risk_file(path)
    if not isinstance(file.data.get(section), dict):
        raise FeaturesError(f"{file.where((section,))}: expected a `{section}:` mapping")
    with settings_errors():
        return validate(model, file.data[section], origin=file, at=(section,))


def features_config(path: Path | None = None) -> FeaturesConfig:
    """The `features:` section of risk.yaml (the shipped one unless a path is given)."""
    return validate_section(FeaturesConfig, path, "features")


def feature_names(config: FeaturesConfig | None = None) -> list[str]:
    """The features' column names, in their fixed order (audit columns are not features)."""
    c = config or _default()
    hh = c.household
    return [
        *(f"n_{t}_{w}d" for t in c.event_types for w in c.windows),
        *(f"n_events_{w}d" for w in c.windows),
        *(f"n_severe_{w}d" for w in c.windows),
        *(f"agencies_{w}d" for w in c.windows),
        *(f"n_{k}_per_year" for k in c.history_kinds()),
        "agencies_involved",
        "days_since_last_event",
        f"trend_{c.trend_days}d",
        "age",
        "age_unknown",
        "hh_size",
        "hh_has_child",
        *(f"hh_n_{t}_{w}d" for t in hh.event_types for w in hh.windows),
        *(f"hh_n_events_{w}d" for w in hh.windows),
        *(f"hh_n_severe_{w}d" for w in hh.windows),
        f"hh_{hh.abuse_type}_with_child_{hh.abuse_window}d",
        f"area_event_rate_{c.area.window}d",
    ]


def feature_set(config: FeaturesConfig | None = None) -> str:
    """The version of a feature set: a hash of its names and the settings behind their values.

    Wording and audit columns do not change it; a new type, window or cap does.
    """
    c = config or _default()
    settings = c.model_dump(mode="json", exclude={"audit", "event_types"})
    body = json.dumps({"names": feature_names(c), "settings": settings}, sort_keys=True)
    return "features-" + hashlib.sha256(body.encode()).hexdigest()[:12]


_DEFAULT: list[FeaturesConfig] = []


def _default() -> FeaturesConfig:
    if not _DEFAULT:
        _DEFAULT.append(features_config())
    return _DEFAULT[0]


def __getattr__(name: str) -> str:
    # FEATURE_SET is read from the shipped config when first asked for, so that importing
    # this module never fails on a config being edited.
    if name == "FEATURE_SET":
        return feature_set()
    raise AttributeError(name)


# What each step reads from the warehouse.
REQUIRED: dict[str, tuple[str, ...]] = {
    "persons": ("source", "source_record_id", "person_id", "valid_from", "valid_to"),
    "households": ("person_id", "household_id", "valid_from", "valid_to"),
    "events": ("source", "source_record_id", "type", "date", "severity", "valid_from", "valid_to"),
    "involvements": (
        "source",
        "source_record_id",
        "from_date",
        "to_date",
        "valid_from",
        "valid_to",
    ),
    "person_records": (
        "source",
        "source_record_id",
        "dob",
        "sex",
        "ethnicity",
        "postcode",
        "valid_from",
        "valid_to",
    ),
}


def require(con: duckdb.DuckDBPyConnection, tables: dict[str, tuple[str, ...]]) -> None:
    """Raise FeaturesError naming every table or column that the warehouse lacks."""
    have: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'main' AND table_catalog = current_database()"
    ).fetchall():
        have.setdefault(table, set()).add(column)
    missing = [
        f"table {t}" if t not in have else f"{t}.{c}"
        for t, cols in tables.items()
        for c in ([""] if t not in have else [c for c in cols if c not in have[t]])
    ]
    if missing:
        raise FeaturesError(
            f"the warehouse lacks {', '.join(missing)}: load and link a night with this "
            "version of joinedup first"
        )


_WARNED: set[str] = set()  # what this process has said already


def check(con: duckdb.DuckDBPyConnection, config: FeaturesConfig | None = None) -> list[str]:
    """Check the warehouse can give the features; return warnings a caller can show.

    Raises FeaturesError for a missing table or column. Warns of configured event types
    the warehouse has never held (their columns stay zero), of types it holds that no
    feature counts, and of ethnicity codes the audit mapping does not know.
    """
    c = config or _default()
    require(con, REQUIRED)
    seen = {r[0] for r in con.execute("SELECT DISTINCT type FROM events").fetchall()}
    warnings = [
        f"event type {t} is configured but the warehouse has never held one: its columns are 0"
        for t in c.event_types
        if t not in seen
    ]
    warnings += [
        f"event type {t} is in the warehouse but not in features.event_types: not counted"
        for t in sorted(x for x in seen if x is not None and x not in c.event_types)
    ]
    codes = {code for group in c.audit.ethnicity.values() for code in group}
    rows = con.execute(
        "SELECT ethnicity, count(*) FROM person_records WHERE valid_to IS NULL"
        " AND ethnicity IS NOT NULL GROUP BY ethnicity ORDER BY ethnicity"
    ).fetchall()
    warnings += [
        f"ethnicity code {code!r} ({n} records) is not in features.audit.ethnicity: "
        "audited as 'other'"
        for code, n in rows
        if code not in codes
    ]
    return warnings


def linked_nights(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    """The nights the warehouse holds persons and households for, oldest first."""
    require(con, {"linkage_runs": ("night",), "households": ("valid_from",)})
    return [
        r[0] for r in con.execute("SELECT DISTINCT night FROM linkage_runs ORDER BY 1").fetchall()
    ]


def newest_night(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The newest linked night; FeaturesError if none is."""
    nights = linked_nights(con)
    if not nights:
        raise FeaturesError("the warehouse has no linked night: link a night first")
    return nights[-1]


def resolve_night(con: duckdb.DuckDBPyConnection, night: dt.date | None) -> dt.date:
    """The given night if it was linked, else the newest; FeaturesError if not linked."""
    nights = linked_nights(con)
    if not nights:
        raise FeaturesError("the warehouse has no linked night: link a night first")
    if night is None:
        return nights[-1]
    if night not in nights:
        raise FeaturesError(
            f"night {night} has not been linked; linked nights run {nights[0]} to {nights[-1]}"
        )
    return night


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _mode(source: str, value: str, where: str) -> str:
    """SQL: each person's most common `value` (ties to the least), over `source`'s rows."""
    return f"""SELECT person_id, first(v ORDER BY n DESC, v) AS v FROM (
        SELECT person_id, {value} AS v, count(*) AS n FROM {source}
        WHERE {where} GROUP BY ALL) GROUP BY person_id"""


def _query(c: FeaturesConfig) -> str:
    """The whole feature query, with parameters $night and $as_of."""
    ago = "ago"
    hh = c.household
    per_type = [
        f"count(*) FILTER (WHERE type = {_quote(t)} AND {in_window(ago, w)}) AS n_{t}_{w}d"
        for t in c.event_types
        for w in c.windows
    ]
    totals = [
        *(f"count(*) FILTER (WHERE {in_window(ago, w)}) AS n_events_{w}d" for w in c.windows),
        *(
            f"count(*) FILTER (WHERE severity >= {c.severe} AND {in_window(ago, w)})"
            f" AS n_severe_{w}d"
            for w in c.windows
        ),
        *(
            f"count(DISTINCT source) FILTER (WHERE {in_window(ago, w)}) AS agencies_{w}d"
            for w in c.windows
        ),
        f"min({ago}) AS last_ago",
        *(
            f"count(*) FILTER (WHERE {test} AND {ago} < span_{k}) * 365.0"
            f" / any_value(span_{k}) AS n_{k}_per_year"
            for k, test in c.history_kinds().items()
        ),
        f"count(*) FILTER (WHERE {in_window(ago, c.trend_days)})"
        f" - count(*) FILTER (WHERE {in_window(ago, c.trend_days, c.trend_days)})"
        f" AS trend_{c.trend_days}d",
    ]
    hidden = [
        *(
            f"count(*) FILTER (WHERE type = {_quote(t)} AND {in_window(ago, w)}) AS _h_{t}_{w}"
            for t in hh.event_types
            for w in hh.windows
        ),
        *(f"count(*) FILTER (WHERE {in_window(ago, w)}) AS _h_events_{w}" for w in hh.windows),
        *(
            f"count(*) FILTER (WHERE severity >= {c.severe} AND {in_window(ago, w)})"
            f" AS _h_severe_{w}"
            for w in hh.windows
        ),
        f"count(*) FILTER (WHERE type = {_quote(hh.abuse_type)}"
        f" AND {in_window(ago, hh.abuse_window)}) AS _abuse",
        f"count(*) FILTER (WHERE {in_window(ago, c.area.window)}) AS _area_events",
    ]
    counted = [n.rsplit(" AS ", 1)[1] for n in per_type + totals + hidden if "last_ago" not in n]
    types = ", ".join(_quote(t) for t in c.event_types)
    groups = ", ".join(
        f"({_quote(code)}, {_quote(group)})"
        for group, codes in c.audit.ethnicity.items()
        for code in codes
    )
    bands = c.audit.age_bands
    band_sql = "CASE WHEN age_years IS NULL THEN 'unknown'"
    lower = 0
    for b in bands:
        band_sql += f" WHEN age_years < {b} THEN '{lower}-{b - 1}'"
        lower = b
    band_sql += f" ELSE '{bands[-1]}+' END"
    hh_kinds = [*hh.event_types, "events", "severe"]
    hh_cols = [f"_h_{t}_{w}" for t in hh_kinds for w in hh.windows]
    postcode = "upper(replace(postcode, ' ', ''))"
    first_ago = {
        k: ago_sql(f"min(date) FILTER (WHERE {test})", "$as_of")
        for k, test in c.history_kinds().items()
        if k != "severe"  # severity is not read here: graded events take all events' span
    }
    spans = ", ".join(
        f"least({c.history_days}, greatest(1, {ago} + 1)) AS span_{k}"
        for k, ago in first_ago.items()
    )
    spans += ", span_events AS span_severe" if c.history_days else ""
    return f"""
WITH seen AS (
    -- When the warehouse can show each record existed: the start date its partner gives
    -- (known_since), its first load, its first event row, or the start of its first
    -- involvement, whichever is earliest (any row held by the night counts, a deleted one
    -- too). A record is read at an as-of date only from then.
    SELECT source, source_record_id, min(since) AS since, min(loaded) AS loaded FROM (
        SELECT source, source_record_id, least(known_since, valid_from) AS since,
               valid_from AS loaded
        FROM person_records WHERE valid_from <= $night
        UNION ALL
        SELECT source, source_record_id, date, NULL FROM events
        WHERE valid_from <= $night AND date IS NOT NULL
        UNION ALL
        SELECT source, source_record_id, from_date, NULL FROM involvements
        WHERE valid_from <= $night AND from_date IS NOT NULL
    ) GROUP BY source, source_record_id
),
rec AS (
    SELECT p.source, p.source_record_id, p.person_id,
           -- the record's version to read: as it stood at the as-of date, or as first
           -- loaded when that was later
           greatest(s.loaded, CAST($as_of AS DATE)) AS read_at
    FROM persons p JOIN seen s USING (source, source_record_id)
    WHERE p.valid_from <= $night AND (p.valid_to IS NULL OR p.valid_to > $night)
      AND s.since <= $as_of AND s.loaded IS NOT NULL
),
people AS (SELECT DISTINCT person_id FROM rec),
spans AS (
    -- Days of history each kind of yearly rate is taken over: up to history_days, and no
    -- further back than the warehouse's first event of the kind dated by the as-of date.
    SELECT {spans or "1 AS _none"}
    FROM events WHERE valid_from <= $night AND date <= $as_of
),
ev AS (
    SELECT r.person_id, e.source, e.type, TRY_CAST(e.severity AS INTEGER) AS severity,
           {ago_sql("e.date", "$as_of")} AS ago, spans.*
    FROM events e CROSS JOIN spans
    JOIN rec r ON r.source = e.source AND r.source_record_id = e.source_record_id
    WHERE e.valid_from <= $night AND (e.valid_to IS NULL OR e.valid_to > $night)
      AND e.date <= $as_of AND e.date > $as_of - {c.lookback()}
      AND e.type IN ({types})
),
agg AS (
    SELECT person_id, {", ".join(per_type + totals + hidden)} FROM ev GROUP BY person_id
),
inv AS (
    -- An involvement without a start date is taken to start the night it was first loaded.
    SELECT r.person_id, count(DISTINCT i.source) AS agencies_involved
    FROM involvements i
    JOIN rec r ON r.source = i.source AND r.source_record_id = i.source_record_id
    WHERE i.valid_from <= $night AND (i.to_date IS NULL OR i.to_date > $as_of) AND (
        (i.from_date IS NOT NULL AND i.from_date <= $as_of
         AND (i.valid_to IS NULL OR i.valid_to > $night))
        OR (i.from_date IS NULL AND i.valid_from <= $as_of
            AND (i.valid_to IS NULL OR i.valid_to > $as_of)))
    GROUP BY r.person_id
),
known AS (
    SELECT r.person_id, pr.dob, pr.sex, pr.ethnicity, {postcode} AS postcode
    FROM person_records pr
    JOIN rec r ON r.source = pr.source AND r.source_record_id = pr.source_record_id
    WHERE pr.valid_from <= r.read_at AND (pr.valid_to IS NULL OR pr.valid_to > r.read_at)
),
dob AS ({_mode("known", "dob", "dob IS NOT NULL")}),
sex AS ({_mode("known", "sex", "sex IN ('M', 'F')")}),
eth AS ({
        _mode(
            "known LEFT JOIN (VALUES " + groups + ") AS g(code, grp) ON g.code = known.ethnicity",
            "coalesce(grp, 'other')",
            "ethnicity IS NOT NULL",
        )
    }),
pc AS ({
        _mode(
            "known",
            "postcode",
            "regexp_full_match(postcode, '[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}')",
        )
    }),
base AS (
    SELECT p.person_id, h.household_id,
           date_sub('year', dob.v, CAST($as_of AS DATE)) AS age_years,
           sex.v AS audit_sex, eth.v AS audit_ethnicity,
           left(pc.v, length(pc.v) - 3) AS district,
           left(pc.v, length(pc.v) - 3) || ' ' || substr(pc.v, length(pc.v) - 2, 1) AS sector,
           coalesce(inv.agencies_involved, 0) AS agencies_involved,
           agg.last_ago,
           {", ".join(f"coalesce(agg.{n}, 0) AS {n}" for n in counted)}
    FROM people p
    LEFT JOIN (SELECT person_id, household_id FROM households
               WHERE valid_from <= $night AND (valid_to IS NULL OR valid_to > $night)) h
        USING (person_id)
    LEFT JOIN agg USING (person_id) LEFT JOIN inv USING (person_id)
    LEFT JOIN dob USING (person_id) LEFT JOIN sex USING (person_id)
    LEFT JOIN eth USING (person_id) LEFT JOIN pc USING (person_id)
),
homes AS (
    SELECT household_id, count(*) AS hh_size,
           max(CASE WHEN age_years >= 0 AND age_years < {hh.child_age} THEN 1 ELSE 0 END)
               AS hh_has_child,
           {", ".join(f"sum({n}) AS {n}" for n in hh_cols)},
           sum(CASE WHEN age_years IS NULL OR age_years >= {hh.child_age} THEN _abuse ELSE 0 END)
               AS _abuse
    FROM base WHERE household_id IS NOT NULL GROUP BY household_id
),
sectors AS (
    SELECT sector, count(*) AS n, sum(_area_events) AS k FROM base GROUP BY sector
),
districts AS (
    SELECT district, count(*) AS n, sum(_area_events) AS k FROM base GROUP BY district
),
everyone AS (SELECT count(*) AS n, sum(_area_events) AS k FROM base)
SELECT b.person_id, b.household_id,
       {", ".join(f"b.n_{t}_{w}d" for t in c.event_types for w in c.windows)},
       {", ".join(f"b.n_events_{w}d, b.n_severe_{w}d, b.agencies_{w}d" for w in c.windows)},
       {"".join(f"b.n_{k}_per_year, " for k in c.history_kinds())}
       b.agencies_involved,
       coalesce(least(b.last_ago, {c.recency_cap_days}), {c.recency_cap_days})
           AS days_since_last_event,
       b.trend_{c.trend_days}d,
       coalesce(b.age_years, {c.age_when_unknown}) AS age,
       CASE WHEN b.age_years IS NULL THEN 1 ELSE 0 END AS age_unknown,
       coalesce(h.hh_size, 1) AS hh_size,
       coalesce(h.hh_has_child,
                CASE WHEN b.age_years >= 0 AND b.age_years < {hh.child_age} THEN 1 ELSE 0 END)
           AS hh_has_child,
       {
        ", ".join(
            f"coalesce(h._h_{t}_{w} - b._h_{t}_{w}, 0) AS hh_n_{t}_{w}d"
            for t in hh_kinds
            for w in hh.windows
        )
    },
       CASE WHEN coalesce(h.hh_has_child, 0) = 1 THEN coalesce(h._abuse
            - CASE WHEN b.age_years IS NULL OR b.age_years >= {hh.child_age}
                   THEN b._abuse ELSE 0 END, 0) ELSE 0 END
           AS hh_{hh.abuse_type}_with_child_{hh.abuse_window}d,
       CASE WHEN s.n - 1 >= {c.area.min_persons} THEN (s.k - b._area_events) / (s.n - 1)
            WHEN d.n - 1 >= {c.area.min_persons} THEN (d.k - b._area_events) / (d.n - 1)
            WHEN a.n > 1 THEN (a.k - b._area_events) / (a.n - 1) ELSE 0 END
           AS area_event_rate_{c.area.window}d,
       coalesce(b.audit_sex, 'unknown') AS audit_sex,
       coalesce(b.audit_ethnicity, 'unknown') AS audit_ethnicity,
       {band_sql.replace("age_years", "b.age_years")} AS audit_age_band
FROM base b
LEFT JOIN homes h USING (household_id)
LEFT JOIN sectors s ON s.sector = b.sector
LEFT JOIN districts d ON d.district = b.district
CROSS JOIN everyone a
ORDER BY b.person_id
"""


def build_features(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    night: dt.date | None = None,
    config: FeaturesConfig | None = None,
) -> pl.DataFrame:
    """Features of every person linked on a night who had a record by `as_of`, as of then.

    Args:
        con: the warehouse (read-only is enough; nothing is written).
        as_of: the date the features describe; no event dated after it is read, and no
            record the warehouse cannot show existed by then (its partner's start date, its
            first load, first event or first involvement on or before it).
        night: the linked night whose persons, households, records and event rows are used
            (the newest linked night if None). It must not be before `as_of`.
        config: the feature settings (risk.yaml's `features:` if None).

    Returns:
        One row per person: person_id, household_id, the columns of `feature_names()` as
        Float64, and the audit columns audit_sex, audit_ethnicity and audit_age_band.

    Raises:
        FeaturesError: a table or column is missing, the night was not linked, or the
            as-of date is after the night.

    Examples:
        >>> frame = build_features(con, dt.date(2026, 5, 1))  # doctest: +SKIP
        >>> frame.select(feature_names())  # what a model may see  # doctest: +SKIP
    """
    c = config or _default()
    for warning in check(con, c):
        if warning not in _WARNED:  # training builds features several times: say it once
            _WARNED.add(warning)
            log.warning("features: %s", warning)
    night = resolve_night(con, night)
    if as_of > night:
        raise FeaturesError(
            f"as-of date {as_of} is after night {night}: events after the night are not known"
        )
    found: pl.DataFrame = con.sql(_query(c), params={"night": night, "as_of": as_of}).pl()
    names = feature_names(c)
    return found.select(
        pl.col("person_id").cast(pl.String),
        pl.col("household_id").cast(pl.String),
        *(pl.col(n).cast(pl.Float64) for n in names),
        *(pl.col(a).cast(pl.String) for a in AUDIT_COLUMNS),
    )


def _wordings(c: FeaturesConfig) -> dict[str, Callable[[float], str]]:
    """Each feature's wording of its value."""
    hh = c.household
    words: dict[str, Callable[[float], str]] = {}

    def counted(noun: str, plural: str, tail: str) -> Callable[[float], str]:
        return lambda v: f"{count_words(round(v), noun, plural)}{tail}"

    for t, w in ((t, w) for t in c.event_types for w in c.windows):
        e = c.event_types[t]
        words[f"n_{t}_{w}d"] = counted(e.noun, e.many(), f" in the last {period(w)}")
    for w in c.windows:
        last = f" in the last {period(w)}"
        words[f"n_events_{w}d"] = counted(
            "event recorded by partner agencies", "events recorded by partner agencies", last
        )
        words[f"n_severe_{w}d"] = counted(
            "event graded high severity", "events graded high severity", last
        )
        words[f"agencies_{w}d"] = counted("agency", "agencies", f" recorded events{last}")
    kinds = {t: (e.noun, e.many()) for t, e in c.event_types.items()}
    kinds["events"] = ("event recorded by partner agencies", "events recorded by partner agencies")
    kinds["severe"] = ("event graded high severity", "events graded high severity")
    over = f" a year on average, over up to {period(c.history_days or 0)} of records"

    def yearly(noun: str, plural: str) -> Callable[[float], str]:
        return lambda v: f"{v:.1f} {noun if f'{v:.1f}' == '1.0' else plural}{over}"

    for k in c.history_kinds():
        words[f"n_{k}_per_year"] = yearly(*kinds[k])
    words["agencies_involved"] = counted("agency", "agencies", " working with the person")
    cap = c.recency_cap_days

    def since(v: float) -> str:
        days = round(v)
        if days >= cap:
            return f"no events in the last {period(cap)}"
        if days == 0:
            return "the last event was the same day"
        return f"the last event was {period(days)} ago"

    words["days_since_last_event"] = since
    t_days = c.trend_days

    def trend(v: float) -> str:
        n = round(v)
        span = f"in the last {t_days} days than in the {t_days} days before"
        if n > 0:
            return f"{n} more {'event' if n == 1 else 'events'} {span}"
        if n < 0:
            return f"{-n} fewer {'event' if n == -1 else 'events'} {span}"
        return f"as many events in the last {t_days} days as in the {t_days} days before"

    words[f"trend_{t_days}d"] = trend
    words["age"] = lambda v: f"aged {int(v)}" if v >= 0 else "not yet born"
    words["age_unknown"] = lambda v: (
        "no agency records a date of birth" if v else "a date of birth is recorded"
    )
    words["hh_size"] = lambda v: (
        f"{round(v)} {'person' if round(v) == 1 else 'people'} in the household"
    )
    words["hh_has_child"] = lambda v: (
        "a child in the household" if v else "no child in the household"
    )
    for t, w in ((t, w) for t in hh.event_types for w in hh.windows):
        e = c.event_types[t]
        words[f"hh_n_{t}_{w}d"] = counted(
            e.noun, e.many(), f" involving other household members in the last {period(w)}"
        )
    for w in hh.windows:
        others = f" involving other household members in the last {period(w)}"
        words[f"hh_n_events_{w}d"] = counted("event", "events", others)
        words[f"hh_n_severe_{w}d"] = counted("high-severity event", "high-severity events", others)
    abuse = c.event_types[hh.abuse_type]
    words[f"hh_{hh.abuse_type}_with_child_{hh.abuse_window}d"] = counted(
        abuse.noun,
        abuse.many(),
        f" involving other adults in the household in the last {period(hh.abuse_window)},"
        " with a child in the household",
    )
    words[f"area_event_rate_{c.area.window}d"] = lambda v: (
        f"{v:.2f} events a person in the home area in the last {period(c.area.window)}"
    )
    return words


def describe(feature: str, value: float, config: FeaturesConfig | None = None) -> str:
    """A feature and its value in words a professional reads.

    Examples:
        >>> describe("n_domestic_abuse_90d", 3)  # doctest: +SKIP
        '3 police call-outs for domestic abuse in the last 90 days'
    """
    words = _wordings(config or _default())
    if feature not in words:
        raise FeaturesError(f"no feature named {feature!r} in this feature set")
    return words[feature](float(value))
