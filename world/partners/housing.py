"""Housing: the housing management system's own SQLite database.

The same tables load into PostgreSQL: the schema uses only portable types, and
`copy_to` writes them through SQLAlchemy to any database URL.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl

from world.agencies import allocate
from world.extracts import Night, Written, address_line, involved, pick

PARTNER = "housing"

SCHEMA = """
CREATE TABLE officer (
    officer_id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, patch TEXT NOT NULL);
CREATE TABLE person (
    person_ref TEXT PRIMARY KEY, title TEXT, forenames TEXT, surname TEXT,
    date_of_birth TEXT, ni_number TEXT, created_on TEXT);
CREATE TABLE tenancy (
    tenancy_ref TEXT PRIMARY KEY, uprn BIGINT, address_line_1 TEXT, town TEXT, postcode TEXT,
    tenure TEXT, officer_id TEXT REFERENCES officer (officer_id));
CREATE TABLE tenancy_member (
    tenancy_ref TEXT NOT NULL REFERENCES tenancy (tenancy_ref),
    person_ref TEXT NOT NULL REFERENCES person (person_ref), relationship TEXT NOT NULL,
    PRIMARY KEY (tenancy_ref, person_ref));
CREATE TABLE rent_account (
    tenancy_ref TEXT PRIMARY KEY REFERENCES tenancy (tenancy_ref), balance NUMERIC(10, 2),
    arrears_stage TEXT);
CREATE TABLE arrears_action (
    action_ref TEXT PRIMARY KEY, tenancy_ref TEXT NOT NULL REFERENCES tenancy (tenancy_ref),
    person_ref TEXT NOT NULL REFERENCES person (person_ref), action_date TEXT, action_type TEXT);
CREATE TABLE asb_case (
    case_ref TEXT PRIMARY KEY, person_ref TEXT NOT NULL REFERENCES person (person_ref),
    reported_date TEXT, category TEXT, status TEXT);
CREATE TABLE homeless_application (
    application_ref TEXT PRIMARY KEY, person_ref TEXT NOT NULL REFERENCES person (person_ref),
    application_date TEXT, reason TEXT, decision TEXT);
"""
TABLES = (
    "officer",
    "person",
    "tenancy",
    "tenancy_member",
    "rent_account",
    "arrears_action",
    "asb_case",
    "homeless_application",
)


def _insert(con: sqlite3.Connection, table: str, frame: pl.DataFrame) -> None:
    marks = ", ".join("?" * frame.width)
    con.executemany(
        f"INSERT INTO {table} ({', '.join(frame.columns)}) VALUES ({marks})", frame.iter_rows()
    )


def write(night: Night, folder: Path) -> Written:
    """Write housing.sqlite with the night's tenancies, people and cases."""
    people = night.registers["housing_people"]
    # A tenancy is the household at the address the system holds for its lead member.
    members = people.filter(pl.col("tenant")).with_columns(
        pl.col("person_id").rank("ordinal").over("tenancy_key").alias("pos")
    )
    leads = members.filter(pl.col("pos") == 1)
    officers = allocate(
        leads.select(pl.col("tenancy_key").alias("person_id"), "locality"),
        night.directory.professionals,
        night.directory.teams,
        PARTNER,
    )
    tenancy_ref = pl.format("TEN{}", (pl.col("tenancy_key") * 7919 % 1_000_003 + 100_000))
    tenancy = (
        leads.join(
            officers.select(pl.col("person_id").alias("tenancy_key"), "professional_id"),
            on="tenancy_key",
            how="left",
        )
        .select(
            tenancy_ref.alias("tenancy_ref"),
            pl.col("uprn"),
            address_line().alias("address_line_1"),
            pl.col("locality").alias("town"),
            pl.col("postcode"),
            pick(pl.col("param_a"), ["Secure", "Introductory", "Flexible"], [85, 8, 7]).alias(
                "tenure"
            ),
            pl.col("professional_id").alias("officer_id"),
        )
        .unique("tenancy_ref", keep="first")
        .sort("tenancy_ref")
    )
    member_rows = (
        members.select(
            tenancy_ref.alias("tenancy_ref"),
            pl.col("source_record_id").alias("person_ref"),
            pl.when(pl.col("pos") == 1)
            .then(pl.lit("Lead tenant"))
            .when((pl.col("pos") == 2) & (pl.col("role") == "adult"))
            .then(pl.lit("Joint tenant"))
            .otherwise(pl.lit("Household member"))
            .alias("relationship"),
        )
        .unique(["tenancy_ref", "person_ref"], keep="first")
        .sort("tenancy_ref", "person_ref")
    )
    person = people.sort("source_record_id").select(
        pl.col("source_record_id").alias("person_ref"),
        pl.when(pl.col("sex") == "M").then(pl.lit("Mr")).otherwise(pl.lit("Ms")).alias("title"),
        pl.concat_str(["first_name", "middle_name"], separator=" ", ignore_nulls=True).alias(
            "forenames"
        ),
        pl.col("last_name").alias("surname"),
        pl.col("recorded_dob").dt.strftime("%Y-%m-%d").alias("date_of_birth"),
        pl.col("identifier").alias("ni_number"),
        pl.col("since").dt.strftime("%Y-%m-%d").alias("created_on"),
    )
    ev = (
        night.events.filter(pl.col("register") == "housing_people")
        .join(people.select("source_record_id", "tenancy_key"), on="source_record_id", how="inner")
        .with_columns(
            tenancy_ref.alias("tenancy_ref"), pl.col("date").dt.strftime("%Y-%m-%d").alias("d")
        )
    )
    ev = ev.join(
        tenancy.select("tenancy_ref"), on="tenancy_ref", how="left", coalesce=False, suffix="_t"
    )
    arrears = ev.filter(
        (pl.col("kind") == "rent_arrears_action") & pl.col("tenancy_ref_t").is_not_null()
    )
    actions = arrears.select(
        pl.format("ARA{}", pl.col("event_id")).alias("action_ref"),
        "tenancy_ref",
        pl.col("source_record_id").alias("person_ref"),
        pl.col("d").alias("action_date"),
        pl.col("severity")
        .replace_strict(
            {1: "Arrears letter", 2: "Notice of Seeking Possession", 3: "Court application"}
        )
        .alias("action_type"),
    )
    rent = (
        tenancy.select("tenancy_ref")
        .join(
            arrears.group_by("tenancy_ref").agg(pl.len().alias("n"), pl.col("severity").max()),
            on="tenancy_ref",
            how="left",
        )
        .select(
            "tenancy_ref",
            (pl.col("n").fill_null(0) * 312.5 - 40).round(2).alias("balance"),
            pl.col("severity")
            .replace_strict({1: "Stage 1", 2: "NOSP served", 3: "Court"}, default="Clear")
            .alias("arrears_stage"),
        )
    )
    asb = ev.filter(pl.col("kind") == "asb_complaint").select(
        pl.format("ASB{}", pl.col("event_id")).alias("case_ref"),
        pl.col("source_record_id").alias("person_ref"),
        pl.col("d").alias("reported_date"),
        pick(
            pl.col("u1"),
            ["Noise", "Verbal abuse", "Vandalism", "Drugs", "Harassment"],
            [40, 20, 15, 15, 10],
        ).alias("category"),
        pl.when(pl.col("u2") < 0.7)
        .then(pl.lit("Closed"))
        .otherwise(pl.lit("Open"))
        .alias("status"),
    )
    homeless = ev.filter(pl.col("kind") == "homelessness_application").select(
        pl.format("HOM{}", pl.col("event_id")).alias("application_ref"),
        pl.col("source_record_id").alias("person_ref"),
        pl.col("d").alias("application_date"),
        pick(
            pl.col("u1"),
            [
                "Family or friends no longer willing",
                "End of private tenancy",
                "Domestic abuse",
                "Relationship breakdown",
                "Leaving institution",
            ],
            [30, 30, 15, 15, 10],
        ).alias("reason"),
        pick(
            pl.col("u2"),
            ["Main duty accepted", "Relief duty", "Prevention duty", "Not homeless"],
            [30, 30, 25, 15],
        ).alias("decision"),
    )
    staff = (
        night.directory.professionals.filter(pl.col("agency") == PARTNER)
        .join(night.directory.teams.select("team_id", "locality"), on="team_id")
        .select(
            pl.col("professional_id").alias("officer_id"),
            "name",
            "email",
            pl.col("locality").alias("patch"),
        )
    )
    frames = {
        "officer": staff,
        "person": person,
        "tenancy": tenancy,
        "tenancy_member": member_rows,
        "rent_account": rent,
        "arrears_action": actions,
        "asb_case": asb,
        "homeless_application": homeless,
    }
    path = folder / "housing.sqlite"
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA)
        for table in TABLES:
            _insert(con, table, frames[table])
        con.commit()
    finally:
        con.close()
    by_officer = members.join(
        officers.select(pl.col("person_id").alias("tenancy_key"), "name", "email"), on="tenancy_key"
    )
    return Written([path], involved(by_officer, PARTNER, "Housing Officer"))


def copy_to(sqlite_path: Path, url: str) -> dict[str, int]:
    """Load a housing.sqlite into another database (PostgreSQL in production) by URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    counts: dict[str, int] = {}
    src = sqlite3.connect(sqlite_path)
    try:
        with engine.begin() as con:
            for table in reversed(TABLES):
                con.execute(sa.text(f"DROP TABLE IF EXISTS {table} CASCADE"))
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    con.execute(sa.text(stmt))
            for table in TABLES:
                cur = src.execute(f"SELECT * FROM {table}")
                cols = [c[0] for c in cur.description]
                rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
                if rows:
                    params = ", ".join(f":{c}" for c in cols)
                    con.execute(
                        sa.text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({params})"), rows
                    )
                counts[table] = len(rows)
    finally:
        src.close()
        engine.dispose()
    return counts
