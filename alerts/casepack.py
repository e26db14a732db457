"""Case packs: for each alerted person, the least of their cross-agency picture needed to
act on the alert, written to the operational store for the inbox.

A case pack holds: who the person is (as their records most often give it) and the
records each agency holds of them, so a professional can open their own system; why they
were flagged (the score's reasons and indicators); the agencies involved and the lead
professional of each; recent events (date, agency, type, severity: no event's free
text); and the household (members' names, ages and relationships, no dates of birth).
Only alerted persons get one.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb
import polars as pl

from alerts.config import CasePack
from alerts.people import AS_OF

_IDENTITY = ("first_name", "last_name", "dob", "sex", "address", "postcode")


def _records(con: duckdb.DuckDBPyConnection, night: dt.date, ids: list[str]) -> pl.DataFrame:
    con.register("_who", pl.DataFrame({"person_id": ids}, schema={"person_id": pl.String}))
    try:
        found: pl.DataFrame = con.sql(
            f"""SELECT p.person_id, r.source, r.source_record_id, r.valid_from,
                   {", ".join(f"r.{c}" for c in _IDENTITY)}
            FROM (SELECT * FROM persons WHERE {AS_OF}) p JOIN _who USING (person_id)
            JOIN (SELECT * FROM person_records WHERE {AS_OF}) r
              ON r.source = p.source AND r.source_record_id = p.source_record_id""",
            params={"night": night},
        ).pl()
    finally:
        con.unregister("_who")
    return found


def _identities(records: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """Each field as most of a person's records give it (the newest record breaks a tie)."""
    out: dict[str, dict[str, Any]] = {}
    for column in _IDENTITY:
        best = (
            records.filter(pl.col(column).is_not_null())
            .group_by("person_id", column)
            .agg(pl.len().alias("n"), pl.col("valid_from").max().alias("newest"))
            .sort(["person_id", "n", "newest"], descending=[False, True, True])
            .unique("person_id", keep="first", maintain_order=True)
        )
        for pid, value in best.select("person_id", column).iter_rows():
            out.setdefault(pid, {})[column] = value.isoformat() if column == "dob" else value
    held = records.group_by("person_id").agg(
        pl.struct(pl.col("source").alias("agency"), pl.col("source_record_id").alias("record_id"))
        .unique()
        .sort()
        .alias("records")
    )
    for pid, recs in held.iter_rows():
        out.setdefault(pid, {})["records"] = recs
    return out


def _age(dob: str | None, night: dt.date) -> int | None:
    if dob is None:
        return None
    born = dt.date.fromisoformat(dob)
    return night.year - born.year - ((night.month, night.day) < (born.month, born.day))


def _events(
    con: duckdb.DuckDBPyConnection, night: dt.date, ids: list[str], settings: CasePack
) -> dict[str, list[dict[str, Any]]]:
    con.register("_who", pl.DataFrame({"person_id": ids}, schema={"person_id": pl.String}))
    try:
        found: pl.DataFrame = con.sql(
            f"""SELECT DISTINCT p.person_id, e.source AS agency, e.event_id, e.date, e.type,
                   e.severity
            FROM (SELECT * FROM persons WHERE {AS_OF}) p JOIN _who USING (person_id)
            JOIN (SELECT * FROM events WHERE {AS_OF}) e
              ON e.source = p.source AND e.source_record_id = p.source_record_id
            WHERE e.date <= $night AND e.date > $night - to_days(CAST($days AS INTEGER))""",
            params={"night": night, "days": settings.events_days},
        ).pl()
    finally:
        con.unregister("_who")
    top = (
        found.sort(
            ["person_id", "date", "agency", "event_id"], descending=[False, True, False, False]
        )
        .with_columns(pl.int_range(pl.len()).over("person_id").alias("_n"))
        .filter(pl.col("_n") < settings.max_events)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in top.iter_rows(named=True):
        out.setdefault(row["person_id"], []).append(
            {
                "date": row["date"].isoformat(),
                "agency": row["agency"],
                "type": row["type"],
                "what": (row["type"] or "").replace("_", " "),
                "severity": row["severity"],
            }
        )
    return out


def _households(
    con: duckdb.DuckDBPyConnection, night: dt.date, ids: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(each alerted person's household row, the members of those households)."""
    have = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    empty = pl.DataFrame(
        schema={
            "person_id": pl.String,
            "household_id": pl.String,
            "basis": pl.String,
            "relationship": pl.String,
        }
    )
    if "households" not in have:
        return empty, empty
    con.register("_who", pl.DataFrame({"person_id": ids}, schema={"person_id": pl.String}))
    try:
        # The rows as the night's linkage left them (or the last linkage before it).
        latest = "h.valid_from <= $night AND (h.valid_to IS NULL OR h.valid_to > $night)"
        mine: pl.DataFrame = con.sql(
            f"""SELECT h.person_id, h.household_id, h.basis, h.relationship FROM households h
            JOIN _who USING (person_id) WHERE {latest}""",
            params={"night": night},
        ).pl()
        con.register("_homes", mine.select("household_id").unique())
        members: pl.DataFrame = con.sql(
            f"""SELECT h.person_id, h.household_id, h.basis, h.relationship FROM households h
            JOIN _homes USING (household_id) WHERE {latest}""",
            params={"night": night},
        ).pl()
        con.unregister("_homes")
    finally:
        con.unregister("_who")
    return mine, members


def _household(
    home: dict[str, Any] | None,
    by_home: dict[str, list[dict[str, Any]]],
    who: dict[str, dict[str, Any]],
    known: dict[str, list[str]],
    pid: str,
    night: dt.date,
) -> dict[str, Any] | None:
    """The person's household: its members' names, ages, relationships; no dates of birth."""
    if home is None:
        return None
    return {
        "household_id": home["household_id"],
        "basis": home["basis"],
        "relationship": home["relationship"],
        "members": [
            {
                "person_id": m["person_id"],
                "first_name": who.get(m["person_id"], {}).get("first_name"),
                "last_name": who.get(m["person_id"], {}).get("last_name"),
                "age": _age(who.get(m["person_id"], {}).get("dob"), night),
                "relationship": m["relationship"],
                "known_to": known.get(m["person_id"], []),
            }
            for m in by_home.get(home["household_id"], [])
            if m["person_id"] != pid
        ],
    }


def build_case_packs(
    con: duckdb.DuckDBPyConnection,
    night: dt.date,
    alerted: pl.DataFrame,
    involved: pl.DataFrame,
    settings: CasePack,
) -> dict[str, dict[str, Any]]:
    """A case pack for each alerted person, keyed by person_id.

    Args:
        con: the warehouse.
        night: the night scored.
        alerted: one row per alerted person: person_id, score, band, change,
            model_version, reasons and indicators (JSON text, as in `scores`).
        involved: `people.involvements` for these persons.
        settings: how many recent events, over how many days.
    """
    ids = alerted["person_id"].unique().sort().to_list()
    mine, members = _households(con, night, ids)
    member_ids = sorted(set(members["person_id"].to_list()) | set(ids))
    records = _records(con, night, member_ids)
    who = _identities(records)
    known: dict[str, list[str]] = dict(
        records.group_by("person_id").agg(pl.col("source").unique().sort()).iter_rows()
    )
    events = _events(con, night, ids, settings)
    homes = {r["person_id"]: r for r in mine.iter_rows(named=True)}
    by_home: dict[str, list[dict[str, Any]]] = {}
    for r in members.iter_rows(named=True):
        by_home.setdefault(r["household_id"], []).append(r)
    staff: dict[str, list[dict[str, Any]]] = {}
    for r in involved.iter_rows(named=True):
        staff.setdefault(r["person_id"], []).append(r)
    packs: dict[str, dict[str, Any]] = {}
    for row in alerted.iter_rows(named=True):
        pid = row["person_id"]
        me = who.get(pid, {})
        agencies: dict[str, dict[str, Any]] = {}
        for inv in staff.get(pid, []):
            entry = agencies.setdefault(
                inv["agency"], {"agency": inv["agency"], "professionals": []}
            )
            entry["professionals"].append(
                {k: inv[k] for k in ("professional", "email", "team", "role")}
                | {"lead": inv["lead"]}
            )
        household = _household(homes.get(pid), by_home, who, known, pid, night)
        packs[pid] = {
            "person": {
                "person_id": pid,
                **{k: me.get(k) for k in _IDENTITY},
                "age": _age(me.get("dob"), night),
                "records": me.get("records", []),
            },
            "night": night.isoformat(),
            "score": row["score"],
            "band": row["band"],
            "change": row["change"],
            "model_version": row["model_version"],
            "reasons": json.loads(row["reasons"] or "[]"),
            "indicators": json.loads(row["indicators"] or "[]"),
            "agencies_involved": sorted(agencies.values(), key=lambda a: str(a["agency"])),
            "known_to": known.get(pid, []),
            "lead_professionals": [
                {k: p[k] for k in ("professional", "email", "team", "role")} | {"agency": a}
                for a, entry in sorted(agencies.items())
                for p in entry["professionals"]
                if p["lead"]
            ],
            "recent_events": events.get(pid, []),
            "household": household,
        }
    return packs
