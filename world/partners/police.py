"""Police: incidents with their nominals, as the force's records system serves them.

The night's incidents are written as one JSON document, which `world.police_api` serves
page by page behind a bearer token, as the force's REST API does.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from world.agencies import allocate
from world.errors import plain
from world.extracts import ETHNICITY_POLICE, Night, Written, address_line, involved

PARTNER = "police"
CATEGORY = {
    "domestic_abuse": "DA",
    "missing_episode": "MISSING",
    "asb": "ASB",
    "crime_victim": "CRIME",
    "serious_incident": "SERIOUS",
}


def write(night: Night, folder: Path) -> Written:
    """Write incidents.json: the incidents the API will serve for this night."""
    noms = night.registers["police_nominals"]
    ev = night.events.filter(pl.col("register") == "police_nominals").join(
        noms, on="source_record_id", how="inner", suffix="_rec"
    )
    oic = allocate(
        ev.select(pl.col("event_id").alias("person_id"), "locality"),
        night.directory.professionals,
        night.directory.teams,
        PARTNER,
        kind_index=(pl.col("person_id") % 2),
    )
    ev = ev.join(
        oic.select(pl.col("person_id").alias("event_id"), "professional_id", "name", "email"),
        on="event_id",
        how="left",
    )
    role = (
        pl.when(pl.col("kind") == "missing_episode")
        .then(pl.lit("MISSING PERSON"))
        .when(pl.col("kind") == "asb")
        .then(pl.lit("SUSPECT"))
        .when((pl.col("kind") == "domestic_abuse") & (pl.col("u1") >= 0.65))
        .then(pl.lit("SUSPECT"))
        .otherwise(pl.lit("VICTIM"))
    )
    seconds = (pl.col("u2") * 86_399).cast(pl.Int64)
    occurred = pl.col("date").cast(pl.Datetime("ms")) + pl.duration(seconds=seconds)
    rows = ev.sort("event_id").select(
        pl.format(
            "INC-{}-{}", pl.col("date").dt.year(), pl.col("event_id").cast(pl.String).str.zfill(8)
        ).alias("incidentRef"),
        occurred.dt.strftime("%Y-%m-%dT%H:%M:%S").alias("occurredAt"),
        pl.col("kind").replace_strict(CATEGORY).alias("category"),
        pl.col("severity")
        .replace_strict({1: "STANDARD", 2: "MEDIUM", 3: "HIGH"})
        .alias("riskGrading"),
        pl.col("professional_id"),
        pl.col("name"),
        pl.col("email"),
        pl.col("source_record_id"),
        role.alias("role"),
        pl.col("last_name"),
        pl.concat_str(["first_name", "middle_name"], separator=" ", ignore_nulls=True).alias(
            "forenames"
        ),
        pl.col("recorded_dob").dt.strftime("%Y-%m-%d").alias("dob"),
        pl.col("sex"),
        pl.col("ethnicity").replace_strict(ETHNICITY_POLICE).alias("eth"),
        address_line(upper=True).alias("addr"),
        pl.col("locality"),
        pl.col("postcode"),
    )
    incidents = [
        {
            "incidentRef": r["incidentRef"],
            "occurredAt": r["occurredAt"],
            "category": r["category"],
            "riskGrading": r["riskGrading"],
            "officerInCharge": {
                "collarNumber": r["professional_id"],
                "name": r["name"],
                "email": r["email"],
            },
            "nominals": [
                {
                    "nominalId": r["source_record_id"],
                    "role": r["role"],
                    # The force's system holds names in capitals, without accents.
                    "surname": plain(r["last_name"]).upper(),
                    "forenames": plain(r["forenames"]).upper(),
                    "dateOfBirth": r["dob"],
                    "gender": r["sex"],
                    "ethnicityCode": r["eth"],
                    "address": f"{r['addr']}, {r['locality'].upper()}",
                    "postcode": r["postcode"],
                }
            ],
        }
        for r in rows.iter_rows(named=True)
    ]
    path = folder / "incidents.json"
    path.write_text(
        json.dumps(
            {"extractDate": night.date.isoformat(), "incidents": incidents},
            ensure_ascii=False,
            separators=(",", ":"),
        ),
        encoding="utf-8",
    )
    return Written([path], involved(ev, PARTNER, "Officer in Charge"))
