"""Health: a CSV of attendances (A&E, mental-health contacts, birth notifications)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from world.agencies import allocate
from world.extracts import ETHNICITY_NHS, Night, Written, address_line, blank_empty, involved, pick

PARTNER = "health"


def write(night: Night, folder: Path) -> Written:
    """Write attendances.csv: one row an attendance, with the patient's details on each."""
    patients = night.registers["patients"]
    coord = allocate(
        patients.select("person_id", "locality"),
        night.directory.professionals,
        night.directory.teams,
        PARTNER,
    )
    patients = patients.join(
        coord.select("person_id", "name", "email").unique("person_id"), on="person_id", how="left"
    )
    ev = night.events.filter(pl.col("register") == "patients").join(
        patients, on="source_record_id", how="inner", suffix="_rec"
    )
    service = pl.col("kind").replace_strict(
        {
            "ae_attendance": "ED",
            "self_harm": "ED",
            "mental_health_contact": "CMHT",
            "birth_notification": "MATERNITY",
        }
    )
    complaint = (
        pl.when(pl.col("kind") == "self_harm")
        .then(pick(pl.col("u1"), ["Self-harm", "Overdose"], [60, 40]))
        .when(pl.col("kind") == "birth_notification")
        .then(pl.lit("Birth notification"))
        .when(pl.col("kind") == "mental_health_contact")
        .then(pick(pl.col("u1"), ["Routine review", "Crisis contact", "Assessment"], [60, 15, 25]))
        .when(pl.col("severity") == 3)
        .then(pick(pl.col("u1"), ["Assault", "Head injury", "Fracture"], [40, 30, 30]))
        .otherwise(
            pick(
                pl.col("u1"),
                [
                    "Minor injury",
                    "Abdominal pain",
                    "Breathing difficulty",
                    "Chest pain",
                    "Fever",
                    "Fall",
                ],
                [30, 15, 15, 10, 15, 15],
            )
        )
    )
    mh = pl.col("kind") == "mental_health_contact"
    out = ev.sort("event_id").select(
        pl.col("source_record_id").alias("LOCAL_PATIENT_ID"),
        pl.col("identifier").fill_null("").alias("NHS_NUMBER"),
        pl.col("first_name").str.to_uppercase().alias("FORENAME"),
        pl.col("last_name").str.to_uppercase().alias("SURNAME"),
        pl.col("recorded_dob")
        .dt.strftime("%d-%b-%Y")
        .str.to_uppercase()
        .fill_null("")
        .alias("DATE_OF_BIRTH"),
        pl.col("sex").replace_strict({"M": "1", "F": "2"}).alias("SEX"),
        pl.col("ethnicity").replace_strict(ETHNICITY_NHS).alias("ETHNIC_CATEGORY"),
        address_line(upper=True).alias("ADDRESS_LINE_1"),
        pl.col("postcode").str.replace_all(" ", "").alias("POSTCODE"),
        pl.format("ATT{}", pl.col("event_id")).alias("ATTENDANCE_ID"),
        pl.col("date").dt.strftime("%d-%b-%Y").str.to_uppercase().alias("ATTENDANCE_DATE"),
        service.alias("SERVICE"),
        complaint.alias("PRESENTING_COMPLAINT"),
        pl.when(mh).then(pl.col("name")).otherwise(pl.lit("")).alias("CARE_COORDINATOR"),
        pl.when(mh).then(pl.col("email")).otherwise(pl.lit("")).alias("CARE_COORDINATOR_EMAIL"),
    )
    path = folder / "attendances.csv"
    blank_empty(out).write_csv(path)
    coordinated = ev.filter(mh)
    return Written([path], involved(coordinated, PARTNER, "Care Coordinator"))
