"""Children's social care: a CSV export of referrals, one row each, dd/mm/yyyy dates."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from world.agencies import allocate
from world.extracts import (
    ETHNICITY_DFE,
    Night,
    Written,
    address_line,
    blank_empty,
    date_text,
    involved,
    pick,
)

PARTNER = "childrens_social_care"


def write(night: Night, folder: Path) -> Written:
    """Write referrals.csv as the case-management system exports it."""
    kids = night.registers["csc_children"]
    staff = allocate(
        kids.select("person_id", "locality"),
        night.directory.professionals,
        night.directory.teams,
        PARTNER,
        kind_index=pl.col("person_id"),
    )
    kids = kids.join(
        staff.select("person_id", "name", "email", "team_id").unique("person_id"),
        on="person_id",
        how="left",
    )
    teams = night.directory.teams.select("team_id", "team")
    ev = night.events.filter(pl.col("register") == "csc_children")
    rows = ev.join(kids, on="source_record_id", how="inner", suffix="_rec").join(
        teams, on="team_id", how="left"
    )
    plan = (
        pl.when(pl.col("kind") == "child_protection_plan")
        .then(pl.lit("Child Protection"))
        .when(pl.col("severity") >= 2)
        .then(pl.lit("Child in Need"))
        .otherwise(pl.lit(""))
    )
    plan_start = pl.col("date").dt.offset_by(
        pl.format("{}d", (pl.col("u2") * 35).cast(pl.Int64) + 10)
    )
    plan_start = pl.when((plan != "") & (plan_start <= pl.lit(night.date))).then(plan_start)
    out = rows.sort("event_id").select(
        pl.col("source_record_id").alias("Child ID"),
        pl.col("first_name").alias("Forename"),
        pl.col("last_name").alias("Surname"),
        date_text(pl.col("recorded_dob"), "%d/%m/%Y").alias("Date of Birth"),
        pl.col("sex").replace_strict({"F": "Female", "M": "Male"}).alias("Gender"),
        pl.col("ethnicity").replace_strict(ETHNICITY_DFE).alias("Ethnicity"),
        pl.col("identifier").fill_null("").alias("NHS Number"),
        address_line().alias("Address"),
        pl.col("postcode").alias("Postcode"),
        pl.format("REF{}", pl.col("event_id")).alias("Referral ID"),
        date_text(pl.col("date"), "%d/%m/%Y").alias("Referral Date"),
        pick(
            pl.col("u1"),
            ["Police", "School", "Health", "Family member", "Self", "Housing", "Anonymous"],
            [30, 20, 15, 12, 5, 8, 10],
        ).alias("Referral Source"),
        pl.col("severity")
        .replace_strict({1: "No further action", 2: "Child in Need", 3: "Section 47 enquiry"})
        .alias("Assessment Outcome"),
        plan.alias("Plan Type"),
        date_text(plan_start, "%d/%m/%Y").alias("Plan Start Date"),
        pl.when(pl.col("severity") >= 2)
        .then(pl.col("name"))
        .otherwise(pl.lit(""))
        .alias("Allocated Social Worker"),
        pl.when(pl.col("severity") >= 2)
        .then(pl.col("team"))
        .otherwise(pl.lit("Front Door"))
        .alias("Team"),
    )
    path = folder / "referrals.csv"
    blank_empty(out).write_csv(path)
    allocated = rows.filter(pl.col("severity") >= 2)
    return Written([path], involved(allocated, PARTNER, "Social Worker"))
