"""Each night's extracts: which events each partner holds, and the registers rendered for it.

Partners' writers (in `world.partners`) get a `Night` and write their own native files;
everything shared between them (the events a partner can see that night, address lines,
code lists) is prepared here once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from world.agencies import Directory
from world.config import WorldConfig
from world.records import RecordBook

# Which register an event is recorded against.
EVENT_REGISTER: dict[str, str] = {
    "referral": "csc_children",
    "child_protection_plan": "csc_children",
    "contact": "asc_clients",
    "safeguarding_concern": "asc_clients",
    "safeguarding_enquiry": "asc_clients",
    "rent_arrears_action": "housing_people",
    "asb_complaint": "housing_people",
    "homelessness_application": "housing_people",
    "domestic_abuse": "police_nominals",
    "missing_episode": "police_nominals",
    "asb": "police_nominals",
    "crime_victim": "police_nominals",
    "serious_incident": "police_nominals",
    "suspension": "pupils",
    "ae_attendance": "patients",
    "self_harm": "patients",
    "mental_health_contact": "patients",
    "birth_notification": "patients",
    "council_tax_reminder": "ctax_parties",
}


@dataclass(frozen=True)
class Written:
    """What a partner's writer wrote, and who it shows working with whom."""

    paths: list[Path]
    involvements: pl.DataFrame  # see `involved`


def involved(
    frame: pl.DataFrame, agency: str, role: str, name: str = "name", email: str = "email"
) -> pl.DataFrame:
    """Allocations shown in an extract: person, their record, the professional and the role."""
    return (
        frame.filter(pl.col(name).is_not_null())
        .select(
            "person_id",
            "source_record_id",
            pl.col(name).alias("professional"),
            pl.col(email).alias("email"),
            pl.lit(agency).alias("agency"),
            pl.lit(role).alias("role"),
        )
        .unique(["person_id", "source_record_id", "email"])
        .sort("source_record_id", "email")
    )


NO_INVOLVEMENTS = pl.DataFrame(
    schema={
        "person_id": pl.Int64,
        "source_record_id": pl.String,
        "professional": pl.String,
        "email": pl.String,
        "agency": pl.String,
        "role": pl.String,
    }
)


@dataclass(frozen=True)
class Night:
    """What every partner holds on one night."""

    index: int
    date: dt.date
    registers: dict[str, pl.DataFrame]
    events: pl.DataFrame  # visible event rows with their register's source_record_id
    directory: Directory
    latent: pl.DataFrame


def build_event_book(
    cfg: WorldConfig, rng: np.random.Generator, events: pl.DataFrame, book: RecordBook
) -> pl.DataFrame:
    """Recorded events attached to a partner record, with the nights they are seen and changed."""
    k = cfg.nights
    night_days = np.array([d.toordinal() for d in cfg.night_dates()])
    births = (
        book.people.filter(pl.col("born_night").is_not_null())
        .select(
            "person_id",
            pl.lit("health").alias("source"),
            pl.lit("birth_notification").alias("kind"),
            "dob",
            pl.lit(1).alias("severity"),
            pl.lit(False).alias("bias"),
            pl.lit(True).alias("recorded"),
        )
        .rename({"dob": "date"})
    )
    start_id = events.height + 1
    births = births.with_row_index("event_id", offset=start_id).with_columns(
        pl.col("event_id").cast(pl.Int64)
    )
    ev = pl.concat([events, births.select(events.columns)], how="vertical_relaxed").filter(
        pl.col("recorded")
    )
    ev = ev.with_columns(pl.col("kind").replace_strict(EVENT_REGISTER).alias("register"))
    n = ev.height
    u = rng.random(n)
    ev = ev.with_columns(
        pl.Series("u1", rng.random(n)),
        pl.Series("u2", rng.random(n)),
        pl.Series("copy", (u < 0.3).astype(np.int64)),
    )
    seen = np.searchsorted(night_days, np.array([d.toordinal() for d in ev["date"].to_list()]))
    ev = ev.with_columns(pl.Series("seen_night", seen, dtype=pl.Int64))

    def after(p: float) -> np.ndarray:
        if p <= 0:
            return np.full(n, k)
        nights: np.ndarray = np.minimum(seen + rng.geometric(p, n), k)
        return nights

    ev = ev.with_columns(
        pl.Series("amended_night", after(cfg.nightly.event_correction), dtype=pl.Int64),
        pl.Series("deleted_night", after(cfg.nightly.event_deletion), dtype=pl.Int64),
    )
    recs = book.records.select("register", "person_id", "copy", "source_record_id")
    main = recs.filter(pl.col("copy") == 0).drop("copy").rename({"source_record_id": "main_id"})
    ev = ev.join(recs, on=["register", "person_id", "copy"], how="left").join(
        main, on=["register", "person_id"], how="left"
    )
    return (
        ev.with_columns(pl.coalesce("source_record_id", "main_id").alias("source_record_id"))
        .drop("main_id")
        .filter(pl.col("source_record_id").is_not_null())
    )


def night_events(
    book: pl.DataFrame, night: int, registers: dict[str, pl.DataFrame]
) -> pl.DataFrame:
    """Events visible on a night, attached to records that exist that night, amendments applied."""
    ev = book.filter((pl.col("seen_night") <= night) & (pl.col("deleted_night") > night))
    ids = pl.concat([r.select("source_record_id") for r in registers.values()])
    ev = ev.join(ids, on="source_record_id", how="semi")
    amended = pl.col("amended_night") <= night
    return ev.with_columns(
        pl.when(amended)
        .then(pl.min_horizontal(pl.col("severity") + 1, pl.lit(3)))
        .otherwise(pl.col("severity"))
        .alias("severity"),
        amended.alias("amended"),
    ).sort("event_id")


def address_line(upper: bool = False) -> pl.Expr:
    """First line of an address: 'Flat 2, 14 Station Road'."""
    line = pl.concat_str(
        [
            pl.when(pl.col("flat") > 0)
            .then(pl.format("Flat {}, ", pl.col("flat")))
            .otherwise(pl.lit("")),
            pl.col("house_number").cast(pl.String),
            pl.lit(" "),
            pl.col("street"),
        ]
    )
    return line.str.to_uppercase() if upper else line


def date_text(expr: pl.Expr, fmt: str) -> pl.Expr:
    """A date as text in a partner's own format; blank when unknown."""
    return expr.dt.strftime(fmt).fill_null("")


# Ethnicity as each kind of system codes it.
ETHNICITY_DFE = {
    "white_british": "WBRI",
    "white_irish": "WIRI",
    "white_other_european": "WOTH",
    "south_asian_indian": "AIND",
    "south_asian_pakistani_bangladeshi": "APKN",
    "black_african": "BAFR",
    "black_caribbean": "BCRB",
    "chinese_east_asian": "CHNE",
    "arab_middle_eastern": "OOTH",
    "mixed": "MOTH",
}
ETHNICITY_NHS = {
    "white_british": "A",
    "white_irish": "B",
    "white_other_european": "C",
    "south_asian_indian": "H",
    "south_asian_pakistani_bangladeshi": "J",
    "black_african": "N",
    "black_caribbean": "M",
    "chinese_east_asian": "R",
    "arab_middle_eastern": "S",
    "mixed": "G",
}
ETHNICITY_TEXT = {
    "white_british": "White - British",
    "white_irish": "White - Irish",
    "white_other_european": "White - Any other White background",
    "south_asian_indian": "Asian or Asian British - Indian",
    "south_asian_pakistani_bangladeshi": "Asian or Asian British - Pakistani",
    "black_african": "Black or Black British - African",
    "black_caribbean": "Black or Black British - Caribbean",
    "chinese_east_asian": "Other Ethnic Group - Chinese",
    "arab_middle_eastern": "Other Ethnic Group - Arab",
    "mixed": "Mixed - Any other mixed background",
}
ETHNICITY_POLICE = {
    "white_british": "W1",
    "white_irish": "W2",
    "white_other_european": "W9",
    "south_asian_indian": "A1",
    "south_asian_pakistani_bangladeshi": "A2",
    "black_african": "B2",
    "black_caribbean": "B1",
    "chinese_east_asian": "A4",
    "arab_middle_eastern": "O2",
    "mixed": "M9",
}


def blank_empty(frame: pl.DataFrame) -> pl.DataFrame:
    """Empty text as an empty field, as exports write it, rather than a quoted empty string."""
    return frame.with_columns(pl.col(pl.String).replace("", None))


def pick(u: pl.Expr, options: list[str], weights: list[float] | None = None) -> pl.Expr:
    """One of options chosen by a uniform column u, by weight."""
    w = np.array(weights if weights else [1.0] * len(options), dtype=float)
    edges = np.cumsum(w / w.sum())
    expr: pl.Expr = pl.lit(options[-1])
    for opt, edge in reversed(list(zip(options[:-1], edges[:-1], strict=True))):
        expr = pl.when(u < edge).then(pl.lit(opt)).otherwise(expr)
    return expr
