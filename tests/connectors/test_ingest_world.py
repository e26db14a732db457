"""Every partner of the world ingests through configuration alone, night after night."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import polars as pl
from worldfiles import SOURCES_FILE, TEST_WORLD, Loaded, extract, partner_environment, read_tsv

from connectors.config import load_sources
from connectors.ingest import ingest_source
from world.identifiers import is_valid_nhs_number
from world.police_api import BackgroundServer

NIGHTS = TEST_WORLD.night_dates()


def _ids(world: Path, night: int) -> dict[str, set[str]]:
    """Each source's person record ids as its extract shows them on a night."""
    asc = extract(world, night, "adult_social_care", "asc_export.xlsx")
    con = sqlite3.connect(extract(world, night, "housing", "housing.sqlite"))
    housing = {r[0] for r in con.execute("SELECT person_ref FROM person")}
    con.close()
    police = json.loads(extract(world, night, "police", "incidents.json").read_text())
    return {
        "childrens_social_care": set(
            pl.read_csv(
                extract(world, night, "childrens_social_care", "referrals.csv"), infer_schema=False
            )["Child ID"]
        ),
        "adult_social_care": set(pl.read_excel(asc, sheet_name="Clients")["Client No"]),
        "housing": housing,
        "police": {n["nominalId"] for i in police["incidents"] for n in i["nominals"]},
        "education": set(
            pl.read_csv(extract(world, night, "education", "pupils.csv"), infer_schema=False)[
                "PupilID"
            ]
        ),
        "health": set(
            pl.read_csv(extract(world, night, "health", "attendances.csv"), infer_schema=False)[
                "LOCAL_PATIENT_ID"
            ]
        ),
        "revenues_benefits": set(
            read_tsv(extract(world, night, "revenues_benefits", "ctax_accounts.tsv"))["PARTY_REF"]
        )
        | set(
            read_tsv(extract(world, night, "revenues_benefits", "benefit_claims.tsv"))[
                "CLAIMANT_REF"
            ]
        ),
    }


def _held(loaded: Loaded, source: str, on: dt.date) -> set[str]:
    rows = loaded.warehouse.run(
        "SELECT source_record_id FROM person_records WHERE source = ? AND valid_from <= ?"
        " AND (valid_to IS NULL OR valid_to > ?)",
        [source, on, on],
    )
    return {r[0] for r in rows}


def test_every_source_loads_every_night_and_reconciles(loaded: Loaded) -> None:
    for night, reports in loaded.reports.items():
        assert [r.source for r in reports] == list(load_sources_names())
        for r in reports:
            assert r.status == "complete", f"{night} {r.line()}"
            assert r.reconciles and r.rows_in > 0
    counted = loaded.warehouse.run(
        "SELECT count(*) FROM loads WHERE status = 'complete'"
        " AND rows_in = rows_staged + rows_quarantined"
    )
    assert counted[0][0] == len(NIGHTS) * 7


def load_sources_names() -> list[str]:
    with partner_environment(Path("."), "http://127.0.0.1", "x"):
        return list(load_sources(SOURCES_FILE))


def test_warehouse_holds_each_night_exactly_as_extracted(loaded: Loaded, world: Path) -> None:
    for n, night in enumerate(NIGHTS):
        shown = _ids(world, n)
        for source, ids in shown.items():
            assert _held(loaded, source, night) == ids, f"{source} on {night}"


def test_changes_are_what_differs_between_extracts(loaded: Loaded, world: Path) -> None:
    for n in range(1, len(NIGHTS)):
        before, after = _ids(world, n - 1), _ids(world, n)
        load_ids = {r.source: r.load_id for r in loaded.reports[NIGHTS[n]]}
        for source in before:
            rows = loaded.warehouse.run(
                "SELECT change, list(record_key) FROM changes WHERE load_id = ?"
                " AND contract = 'person_records' GROUP BY change",
                [load_ids[source]],
            )
            got = {change: set(keys) for change, keys in rows}
            assert got.get("new", set()) == after[source] - before[source], source
            assert got.get("deleted", set()) == before[source] - after[source], source


def test_standardised_values(loaded: Loaded) -> None:
    people = loaded.warehouse.frame("SELECT * FROM person_records WHERE valid_to IS NULL")
    nhs = people["nhs_number"].drop_nulls()
    assert nhs.len() > 1000 and all(is_valid_nhs_number(v) for v in nhs)
    names = pl.concat([people["first_name"], people["last_name"]]).drop_nulls()
    assert (names == names.str.to_uppercase()).all()
    assert not names.str.contains(r"[^A-Z ]").any()
    assert (
        people["postcode"]
        .drop_nulls()
        .str.contains(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$")
        .all()
    )
    assert set(people["sex"].drop_nulls()) <= {"M", "F", "U"}
    revs = people.filter(pl.col("source") == "revenues_benefits")
    assert revs["last_name"].null_count() == 0 and revs["first_name"].null_count() == 0
    events = loaded.warehouse.frame("SELECT * FROM events WHERE valid_to IS NULL")
    assert events["date"].max() <= NIGHTS[-1]
    assert events["type"].null_count() == 0
    assert {
        "referral",
        "domestic_abuse",
        "suspension",
        "emergency_attendance",
        "rent_arrears_action",
        "council_tax_reminder",
        "safeguarding_concern",
    } <= set(events["type"])
    involvements = loaded.warehouse.frame("SELECT * FROM involvements WHERE valid_to IS NULL")
    assert set(involvements["role"]) == {
        "Social Worker",
        "Care Manager",
        "Housing Officer",
        "Officer in Charge",
        "Designated Safeguarding Lead",
        "Care Coordinator",
    }


def test_soft_issues_keep_the_row(loaded: Loaded) -> None:
    issues = loaded.warehouse.frame("SELECT * FROM field_issues")
    assert issues.height > 0
    assert set(issues["field"]) <= {"dob", "postcode", "nhs_number", "upn", "ni_number", "phone"}
    sample = issues.row(0, named=True)
    assert sample["file"] and sample["row"] >= 1


def test_a_night_loaded_again_changes_nothing(loaded: Loaded, world: Path) -> None:
    def snapshot() -> list[tuple[object, ...]]:
        return loaded.warehouse.run(
            "SELECT (SELECT count(*) FROM person_records), (SELECT count(*) FROM events),"
            " (SELECT count(*) FROM involvements), (SELECT count(*) FROM changes),"
            " (SELECT count(*) FROM loads WHERE status <> 'already loaded'),"
            " (SELECT count(*) FROM quarantine)"
        )

    before = snapshot()
    with (
        BackgroundServer(world, "t0ken") as server,
        partner_environment(world, server.url, "t0ken"),
    ):
        sources = load_sources(SOURCES_FILE)
        reports = [ingest_source(loaded.warehouse, n, s, NIGHTS[-1]) for n, s in sources.items()]
    assert {r.status for r in reports} == {"already loaded"}
    assert snapshot() == before
    # Each re-run is recorded, with the counts of the load it found, and says so.
    recorded = loaded.warehouse.frame(
        "SELECT a.source, a.rows_in, l.rows_in AS loaded_rows_in FROM loads a JOIN loads l"
        " ON a.source = l.source AND a.night = l.night AND l.status IN ('complete', 'unchanged')"
        " WHERE a.load_id IN (SELECT unnest(?))",
        [[r.load_id for r in reports]],
    )
    assert recorded.height == len(reports)
    assert (recorded["rows_in"] == recorded["loaded_rows_in"]).all()
    assert all(r.rows_in > 0 and "already loaded" in r.line() for r in reports)


def test_the_referral_source_is_kept_on_each_referral(loaded: Loaded, world: Path) -> None:
    last = len(NIGHTS) - 1
    native = pl.read_csv(
        extract(world, last, "childrens_social_care", "referrals.csv"), infer_schema=False
    ).select(pl.col("Referral ID").alias("event_id"), pl.col("Referral Source").alias("said"))
    kept = loaded.warehouse.frame(
        "SELECT source, event_id, referral_source FROM events WHERE valid_to IS NULL"
    )
    csc = kept.filter(pl.col("source") == "childrens_social_care").join(native, on="event_id")
    assert csc.height == native.height > 100
    assert (csc["referral_source"] == csc["said"]).all()
    assert {"Police", "School", "Family member"} <= set(csc["referral_source"])
    # No other partner's extract says who referred: their events leave it empty.
    others = kept.filter(pl.col("source") != "childrens_social_care")
    assert others.height > 1000 and others["referral_source"].is_null().all()
