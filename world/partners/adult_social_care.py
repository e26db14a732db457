"""Adult social care: an Excel workbook with a Clients sheet and an Activity sheet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import xlsxwriter

from world.agencies import allocate
from world.extracts import ETHNICITY_TEXT, Night, Written, address_line, involved, pick

PARTNER = "adult_social_care"
# A fixed creation date keeps the workbook byte-identical from one run to the next.
_CREATED = dt.datetime(2020, 1, 1)


def title(sex: pl.Expr, u: pl.Expr) -> pl.Expr:
    """A title as a clerk would pick it."""
    return (
        pl.when(sex == "M").then(pl.lit("Mr")).otherwise(pick(u, ["Mrs", "Ms", "Miss"], [5, 3, 2]))
    )


def write(night: Night, folder: Path) -> Written:
    """Write asc_export.xlsx as the adults' case system exports it."""
    clients = night.registers["asc_clients"]
    staff = allocate(
        clients.select("person_id", "locality"),
        night.directory.professionals,
        night.directory.teams,
        PARTNER,
    )
    clients = clients.join(
        staff.select("person_id", "name", "email").unique("person_id"), on="person_id", how="left"
    ).sort("source_record_id")
    sheet_clients = clients.select(
        pl.col("source_record_id").alias("Client No"),
        title(pl.col("sex"), pl.col("param_a")).alias("Title"),
        pl.col("first_name").alias("First Name"),
        pl.col("last_name").alias("Surname"),
        pl.col("recorded_dob").alias("Date of Birth"),
        pl.col("sex").replace_strict({"F": "Female", "M": "Male"}).alias("Gender"),
        pl.col("ethnicity").replace_strict(ETHNICITY_TEXT).alias("Ethnicity"),
        pl.col("identifier").alias("NHS No."),
        address_line().alias("Address 1"),
        pl.col("locality").alias("Town"),
        pl.col("postcode").alias("Post Code"),
        pick(
            pl.col("param_b"),
            [
                "Physical Support",
                "Sensory Support",
                "Support with Memory and Cognition",
                "Learning Disability Support",
                "Mental Health Support",
                "Social Support",
            ],
            [45, 5, 15, 10, 15, 10],
        ).alias("Primary Support Reason"),
        pl.col("name").alias("Care Manager"),
        pl.col("email").alias("Care Manager Email"),
    )
    ev = night.events.filter(pl.col("register") == "asc_clients").join(
        clients.select("source_record_id", "name"), on="source_record_id", how="inner"
    )
    kind = {
        "contact": "Contact",
        "safeguarding_concern": "Safeguarding Concern",
        "safeguarding_enquiry": "Section 42 Enquiry",
    }
    sheet_activity = ev.sort("event_id").select(
        pl.format("ACT{}", pl.col("event_id")).alias("Activity ID"),
        pl.col("source_record_id").alias("Client No"),
        pl.col("date").alias("Activity Date"),
        pl.col("kind").replace_strict(kind).alias("Activity Type"),
        pl.col("severity")
        .replace_strict({1: "Information and advice", 2: "Assessment", 3: "Safeguarding plan"})
        .alias("Outcome"),
        pl.col("name").alias("Worker"),
    )
    path = folder / "asc_export.xlsx"
    with xlsxwriter.Workbook(path) as wb:
        wb.set_properties({"created": _CREATED, "author": "Adults Case System"})
        sheet_clients.write_excel(
            wb, worksheet="Clients", dtype_formats={pl.Date: "dd/mm/yyyy"}, autofit=False
        )
        sheet_activity.write_excel(
            wb, worksheet="Activity", dtype_formats={pl.Date: "dd/mm/yyyy"}, autofit=False
        )
    return Written([path], involved(clients, PARTNER, "Care Manager"))
