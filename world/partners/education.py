"""Education: the schools' census-style CSVs of pupils and suspensions, yyyy-mm-dd dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from world.extracts import ETHNICITY_DFE, Night, Written, address_line, blank_empty, involved, pick

PARTNER = "education"


def school_of(pupils: pl.DataFrame, schools: pl.DataFrame, on: dt.date) -> pl.DataFrame:
    """Each pupil's school: a primary in their locality before 11, else one of the academies."""
    age = (pl.lit(on) - pl.col("dob")).dt.total_days() / 365.25
    prim = schools.filter(pl.col("phase") == "primary").with_columns(
        pl.col("urn").rank("ordinal").over("locality").sub(1).alias("k")
    )
    sec = (
        schools.filter(pl.col("phase") == "secondary")
        .with_row_index("k")
        .with_columns(pl.col("k").cast(pl.Int64))
    )
    n_prim = prim.group_by("locality").agg(pl.len().alias("n"))
    mix = pl.col("person_id") * 2_654_435_761 % 4_294_967_291
    p = pupils.with_columns(age.alias("age")).join(n_prim, on="locality", how="left")
    p = p.with_columns(
        pl.when(pl.col("age") < 11)
        .then(pl.lit("primary"))
        .otherwise(pl.lit("secondary"))
        .alias("phase"),
        (mix % pl.col("n").fill_null(1)).cast(pl.Int64).alias("kp"),
        (mix % sec.height).cast(pl.Int64).alias("ks"),
    )
    a = p.filter(pl.col("phase") == "primary").join(
        prim.drop("phase"),
        left_on=["locality", "kp"],
        right_on=["locality", "k"],
        how="left",
        suffix="_s",
    )
    b = p.filter(pl.col("phase") == "secondary").join(
        sec.drop("phase", "locality"), left_on="ks", right_on="k", how="left"
    )
    return pl.concat(
        [
            a.drop("kp", "ks", "n", "locality_s", strict=False),
            b.drop("kp", "ks", "n", strict=False),
        ],
        how="diagonal_relaxed",
    )


def write(night: Night, folder: Path) -> Written:
    """Write pupils.csv and suspensions.csv."""
    pupils = school_of(night.registers["pupils"], night.directory.schools, night.date)
    # Attendance follows the pupil's latent risk as it is on the night (after a shift only
    # once it has happened), with a lasting difference of the pupil's own.
    pupils = pupils.join(
        night.latent.select("person_id", "z_start", "risk_shift", "shift_date", "attendance_noise"),
        on="person_id",
        how="left",
    )
    shifted = pl.col("shift_date").is_not_null() & (pl.col("shift_date") <= pl.lit(night.date))
    z_now = pl.col("z_start") + pl.when(shifted).then(pl.col("risk_shift")).otherwise(0.0)
    attendance = (
        (97.0 - 3.5 * (z_now * 0.8).exp() + pl.col("attendance_noise")).clip(35.0, 100.0).round(1)
    )
    out = pupils.sort("source_record_id").select(
        pl.col("source_record_id").alias("PupilID"),
        pl.col("identifier").fill_null("").alias("UPN"),
        pl.col("last_name").alias("LegalSurname"),
        pl.col("first_name").alias("LegalForename"),
        pl.col("middle_name").fill_null("").alias("MiddleNames"),
        pl.col("recorded_dob").dt.strftime("%Y-%m-%d").fill_null("").alias("DOB"),
        pl.col("sex").alias("Sex"),
        pl.col("ethnicity").replace_strict(ETHNICITY_DFE).alias("EthnicityCode"),
        pick(pl.col("param_b"), ["N", "K", "E"], [84, 13, 3]).alias("SENProvision"),
        attendance.alias("AttendancePct"),
        pl.col("since").dt.strftime("%Y-%m-%d").alias("EntryDate"),
        pl.col("urn").alias("SchoolURN"),
        pl.col("school").alias("SchoolName"),
        pl.col("dsl_name").alias("DSLName"),
        pl.col("dsl_email").alias("DSLEmail"),
        address_line().alias("AddressLine1"),
        pl.col("postcode").alias("Postcode"),
    )
    ev = night.events.filter(pl.col("register") == "pupils").join(
        pupils.select("source_record_id", "urn"), on="source_record_id", how="inner"
    )
    susp = ev.sort("event_id").select(
        pl.format("EX{}", pl.col("event_id")).alias("ExclusionID"),
        pl.col("source_record_id").alias("PupilID"),
        pl.col("urn").alias("SchoolURN"),
        pl.col("date").dt.strftime("%Y-%m-%d").alias("StartDate"),
        pl.when((pl.col("severity") == 3) & (pl.col("u1") < 0.15))
        .then(pl.lit("PERM"))
        .otherwise(pl.lit("SUSP"))
        .alias("Category"),
        (pl.col("severity") * 2 + (pl.col("u2") * 4).cast(pl.Int64)).alias("Sessions"),
        pick(
            pl.col("u1"), ["PP", "PA", "VP", "DB", "DM", "DA", "OT"], [35, 10, 8, 20, 10, 7, 10]
        ).alias("ReasonCode"),
    )
    paths = [folder / "pupils.csv", folder / "suspensions.csv"]
    blank_empty(out).write_csv(paths[0])
    blank_empty(susp).write_csv(paths[1])
    leads = involved(pupils, PARTNER, "Designated Safeguarding Lead", "dsl_name", "dsl_email")
    return Written(paths, leads)
