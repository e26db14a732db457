"""Households with relationships where a source knows them: explicit cases, and the world."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from worldfiles import SOURCES_FILE, TEST_WORLD, extract, load_truth, partner_environment

from connectors.config import ConfigError, load_sources
from connectors.ingest import ingest_night, ingest_source
from connectors.warehouse import CONTRACT_COLUMNS, Warehouse
from matching import link_night
from matching.households import Rehoused, households, rehouse
from matching.link import train
from world.police_api import BackgroundServer

NIGHT = dt.date(2026, 11, 1)
LATER = dt.date(2026, 11, 2)
RECORD_COLUMNS = {
    "unique_id": pl.String,
    "source": pl.String,
    "uprn": pl.String,
    "address": pl.String,
    "postcode": pl.String,
    "valid_from": pl.Date,
    "household_ref": pl.String,
    "relationship": pl.String,
}


def _records(*rows: tuple[object, ...]) -> pl.DataFrame:
    """Records from rows of unique_id, uprn, address, postcode, valid_from, household_ref and
    relationship; the source is the unique id's prefix."""
    return pl.DataFrame(
        [(r[0], str(r[0]).split(":")[0], *r[1:]) for r in rows],
        schema=RECORD_COLUMNS,
        orient="row",
    )


def _persons(**members: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        [(uid, pid) for pid, uids in members.items() for uid in uids],
        schema={"unique_id": pl.String, "person_id": pl.String},
        orient="row",
    )


def _by_person(homes: pl.DataFrame) -> dict[str, tuple[str, str, str | None]]:
    return {r[0]: (r[1], r[2], r[4]) for r in homes.iter_rows()}


def _id(key: str) -> str:
    return "H" + hashlib.sha256(key.encode()).hexdigest()[:12]


# A tenancy of three: mother (lead), partner and son. Other agencies hold the partner at his
# old flat (two records to housing's one) and the son at a stale line with no property.
TENANCY = _records(
    ("housing:HP1", "1001", "12 Station Road, Millbrook", "JU1 1AA", NIGHT, "TEN7", "lead_tenant"),
    ("housing:HP2", "1001", "12 Station Road, Millbrook", "JU1 1AA", NIGHT, "TEN7", "joint_tenant"),
    ("police:N2", None, "Flat 4, 80 Mill Lane", "JU2 9ZZ", NIGHT, None, None),
    ("health:L2", None, "FLAT 4 80 MILL LANE", "JU2 9ZZ", NIGHT, None, None),
    (
        "housing:HP3",
        "1001",
        "12 Station Road, Millbrook",
        "JU1 1AA",
        NIGHT,
        "TEN7",
        "household_member",
    ),
    ("education:P3", None, "3 Old Road", "JU1 5QQ", NIGHT, None, None),
    ("health:L3", None, "3 OLD ROAD", "JU1 5QQ", NIGHT, None, None),
    # The daughter is known only to health, at the tenancy's address.
    ("health:L4", None, "12 STATION ROAD", "JU1 1AA", NIGHT, None, None),
    # A neighbour in Mill Lane: the partner's old flat, someone else's home now.
    ("ctax:C9", "2002", "FLAT 4, 80 MILL LANE", "JU2 9ZZ", NIGHT, None, None),
)
TENANCY_PERSONS = _persons(
    P1=["housing:HP1"],
    P2=["housing:HP2", "police:N2", "health:L2"],
    P3=["housing:HP3", "education:P3", "health:L3"],
    P4=["health:L4"],
    P9=["ctax:C9"],
)


def test_tenancy_members_are_one_household_whatever_their_addresses() -> None:
    homes = _by_person(households(TENANCY_PERSONS, TENANCY))
    tenancy = _id("T|housing:TEN7")
    assert homes["P1"] == (tenancy, "tenancy", "lead_tenant")
    assert homes["P2"] == (tenancy, "tenancy", "joint_tenant")
    assert homes["P3"] == (tenancy, "tenancy", "household_member")


def test_a_person_no_source_relates_joins_by_address_with_no_relationship() -> None:
    homes = households(TENANCY_PERSONS, TENANCY)
    by = _by_person(homes)
    assert by["P4"] == (_id("T|housing:TEN7"), "uprn", None)
    # The Mill Lane flat is the neighbour's household alone: the partner's stale records
    # there do not take him out of the tenancy, nor bring the neighbour into it.
    assert by["P9"] == (_id("U2002"), "uprn", None)
    assert homes.filter(pl.col("person_id") == "P1")["address_key"].item() == "U1001"


def test_records_without_household_fields_are_grouped_as_before() -> None:
    plain = TENANCY.drop("source", "household_ref", "relationship")
    homes = households(TENANCY_PERSONS, plain)
    # The address rule alone: the partner goes with his (stale) majority address, which a
    # council-tax record ties to the neighbour's property.
    assert homes.rows() == [
        ("P1", _id("U1001"), "uprn", "U1001", None),
        ("P2", _id("U2002"), "uprn", "U2002", None),
        ("P3", _id("U1001"), "uprn", "U1001", None),
        ("P4", _id("U1001"), "uprn", "U1001", None),
        ("P9", _id("U2002"), "uprn", "U2002", None),
    ]
    blank = TENANCY.with_columns(
        pl.lit(None, pl.String).alias("household_ref"),
        pl.lit(None, pl.String).alias("relationship"),
    )
    assert households(TENANCY_PERSONS, blank).equals(homes)


def test_a_person_on_two_tenancies_is_placed_by_the_newest_record() -> None:
    records = _records(
        ("housing:HP1", "1001", "12 Station Road", "JU1 1AA", NIGHT, "TEN7", "lead_tenant"),
        ("housing:HP5", "3003", "5 New Street", "JU3 3CC", LATER, "TEN8", "joint_tenant"),
        ("housing:HP6", "3003", "5 New Street", "JU3 3CC", NIGHT, "TEN8", "lead_tenant"),
    )
    persons = _persons(P1=["housing:HP1", "housing:HP5"], P6=["housing:HP6"])
    by = _by_person(households(persons, records))
    assert by["P1"] == (_id("T|housing:TEN8"), "tenancy", "joint_tenant")
    assert by["P6"] == (_id("T|housing:TEN8"), "tenancy", "lead_tenant")


def test_one_person_held_twice_in_a_tenancy_takes_the_more_specific_relationship() -> None:
    records = _records(
        ("housing:HP1", "1001", "12 Station Road", "JU1 1AA", NIGHT, "TEN7", "joint_tenant"),
        ("housing:HP2", "1001", "12 Station Road", "JU1 1AA", NIGHT, "TEN7", "lead_tenant"),
        ("housing:HP3", "1001", "12 Station Road", "JU1 1AA", NIGHT, "TEN7", "household_member"),
        ("housing:HP4", "1001", "12 Station Road", "JU1 1AA", NIGHT, "TEN7", "joint_tenant"),
    )
    persons = _persons(P1=["housing:HP1", "housing:HP2"], P3=["housing:HP3", "housing:HP4"])
    by = _by_person(households(persons, records))
    assert (by["P1"][2], by["P3"][2]) == ("lead_tenant", "joint_tenant")


def test_tenancy_ids_are_stable_and_namespaced_by_source() -> None:
    first = households(TENANCY_PERSONS, TENANCY)
    # Next night the lead tenant's record changes (a corrected address line): same household.
    moved = TENANCY.with_columns(
        pl.when(pl.col("unique_id") == "housing:HP1")
        .then(pl.lit(LATER))
        .otherwise(pl.col("valid_from"))
        .alias("valid_from"),
        pl.when(pl.col("unique_id") == "housing:HP1")
        .then(pl.lit("12a Station Road"))
        .otherwise(pl.col("address"))
        .alias("address"),
    )
    assert households(TENANCY_PERSONS, moved)["household_id"].equals(first["household_id"])
    # Another partner's family reference that happens to read TEN7 is another household.
    other = _records(
        ("csc:C1", None, "9 Far Lane", "JU9 9XX", NIGHT, "TEN7", "child"),
        ("housing:HP1", "1001", "12 Station Road", "JU1 1AA", NIGHT, "TEN7", "lead_tenant"),
    )
    homes = households(_persons(A=["csc:C1"], B=["housing:HP1"]), other)
    assert homes["household_id"].n_unique() == 2


# An incremental night: `rehouse` places again only whom the changes reach, and everyone
# ends up where a full `households` puts them.
def _rehouse_against_full(
    persons: pl.DataFrame, records: pl.DataFrame, after: pl.DataFrame, after_records: pl.DataFrame
) -> Rehoused:
    earlier = households(persons, records)
    old = persons.join(records, on="unique_id")
    new = after.join(after_records, on="unique_id")
    differ = pl.concat(
        [
            old.join(new, on=old.columns, how="anti", nulls_equal=True).select("unique_id"),
            new.join(old, on=old.columns, how="anti", nulls_equal=True).select("unique_id"),
        ]
    )
    touched = pl.concat(
        [
            f.join(differ, on="unique_id", how="semi").select("unique_id", "person_id")
            for f in (old, new)
        ]
    ).unique()
    done = rehouse(
        after, after_records, earlier, touched, records.join(differ, on="unique_id", how="semi")
    )
    kept = earlier.join(done.redone, on="person_id", how="anti")
    assert pl.concat([kept, done.rows]).sort("person_id").equals(households(after, after_records))
    return done


def _set(records: pl.DataFrame, uid: str, **values: object) -> pl.DataFrame:
    return records.with_columns(
        pl.when(pl.col("unique_id") == uid).then(pl.lit(v)).otherwise(pl.col(c)).alias(c)
        for c, v in values.items()
    )


# The neighbour in Mill Lane, and someone health knows on the same line without a UPRN;
# and a council-tax payer whose line carries a slip in the postcode but whose UPRN is the
# tenancy's.
STREET = pl.concat(
    [
        TENANCY,
        _records(
            ("health:L5", None, "FLAT 4 80 MILL LANE", "JU2 9ZZ", NIGHT, None, None),
            ("ctax:C6", "1001", "12 STATION RD", "JU1 1AB", NIGHT, None, None),
        ),
    ]
)
STREET_PERSONS = pl.concat([TENANCY_PERSONS, _persons(P5=["health:L5"], P6=["ctax:C6"])])


def test_a_register_changing_a_property_moves_a_neighbour_whose_records_did_not_change() -> None:
    corrected = _set(STREET, "ctax:C9", uprn="2003", valid_from=LATER)
    done = _rehouse_against_full(STREET_PERSONS, STREET, STREET_PERSONS, corrected)
    by = _by_person(done.rows)
    assert by["P5"] == (_id("U2003"), "uprn", None)
    # The tenancy's other members were not placed again (the partner, whose stale records
    # are on that line, was; and the persons at his household's address had their
    # household looked up again).
    redone = set(done.redone["person_id"])
    assert {"P2", "P5", "P9"} <= redone and not {"P1", "P3"} & redone


def test_a_tenancy_ending_leaves_a_neighbour_at_its_property_a_household_of_their_own() -> None:
    before = _by_person(households(STREET_PERSONS, STREET))
    assert before["P6"] == (_id("T|housing:TEN7"), "uprn", None)
    ended = STREET.filter(~pl.col("unique_id").str.starts_with("housing:"))
    done = _rehouse_against_full(STREET_PERSONS, STREET, STREET_PERSONS, ended)
    assert _by_person(done.rows)["P6"] == (_id("U1001"), "uprn", None)


def test_merges_splits_and_records_gone_are_placed_as_a_full_night_places_them() -> None:
    merged = _persons(
        P1=["housing:HP1", "health:L4"],
        P2=["housing:HP2", "police:N2", "health:L2"],
        P3=["housing:HP3", "education:P3"],
        P7=["health:L3"],
        P5=["health:L5"],
        P6=["ctax:C6"],
    )
    done = _rehouse_against_full(
        STREET_PERSONS, STREET, merged, STREET.filter(pl.col("unique_id") != "ctax:C9")
    )
    assert "P4" in set(done.redone["person_id"]) and "P4" not in set(done.rows["person_id"])
    assert _by_person(done.rows)["P7"] == (_id("JU1 5QQ|3"), "address", None)
    assert "P9" not in set(done.rows["person_id"])


# The connectors: the fields come through from config, and older warehouses still open.
PARTNER = """
sources:
  family_hub:
    agency: family_hub
    kind: csv
    location: {folder}
    tables:
      - name: members
        file: members.csv
        person_records:
          source_record_id: ID
          first_name: Name
          household_ref: Family
          relationship: {column: Role, map: {Mum: parent_carer, Kid: child}}
"""


def _partner(tmp_path: Path, rows: list[str], mapping: str = PARTNER) -> Warehouse:
    (tmp_path / "members.csv").write_text("\n".join(["ID,Name,Family,Role", *rows]) + "\n")
    (tmp_path / "sources.yaml").write_text(mapping.replace("{folder}", str(tmp_path)))
    source = load_sources(tmp_path / "sources.yaml")["family_hub"]
    wh = Warehouse(tmp_path / "wh.duckdb")
    report = ingest_source(wh, "family_hub", source, NIGHT)
    assert report.status == "complete", report.line()
    return wh


def test_relationships_are_mapped_and_an_unknown_code_loses_no_one(tmp_path: Path) -> None:
    wh = _partner(tmp_path, ["1,Ann,F1,Mum", "2,Bo,F1,Kid", "3,Cy,F1,Lodger", "4,Di,,"])
    try:
        rows = wh.run(
            "SELECT source_record_id, household_ref, relationship FROM person_records ORDER BY 1"
        )
        assert rows == [
            ("1", "F1", "parent_carer"),
            ("2", "F1", "child"),
            ("3", "F1", None),
            ("4", None, None),
        ]
        issues = wh.run("SELECT row, field, issue FROM field_issues")
        assert issues == [
            (
                4,  # the file's fourth line: the header is line 1
                "relationship",
                "relationship in column 'Role' is not a code the map knows; left empty",
            )
        ]
        assert wh.run("SELECT count(*) FROM quarantine") == [(0,)]
    finally:
        wh.close()


@pytest.mark.parametrize(
    ("role", "message"),
    [
        ("Role", "relationship needs a map from the partner's codes to ours"),
        ("{column: Role, map: {Mum: mother}}", "relationship maps to ['mother']; use one of"),
        ("{column: Role, map: {Mum: parent_carer}, default: anyone}", "maps to ['anyone']"),
    ],
)
def test_a_relationship_outside_the_vocabulary_is_refused(
    tmp_path: Path, role: str, message: str
) -> None:
    text = PARTNER.replace("{column: Role, map: {Mum: parent_carer, Kid: child}}", role)
    (tmp_path / "sources.yaml").write_text(text.replace("{folder}", str(tmp_path)))
    with pytest.raises(ConfigError, match="person_records") as err:
        load_sources(tmp_path / "sources.yaml")
    assert message in str(err.value)


def test_an_older_warehouse_opens_and_its_records_do_not_look_changed(tmp_path: Path) -> None:
    wh = _partner(tmp_path, ["1,Ann,,", "2,Bo,F1,Kid"])
    # Make it what a warehouse from before the household fields looked like.
    wh.run("ALTER TABLE person_records DROP COLUMN household_ref")
    wh.run("ALTER TABLE person_records DROP COLUMN relationship")
    wh.run("ALTER TABLE person_records DROP COLUMN town")
    wh.run("ALTER TABLE person_records DROP COLUMN known_since")
    wh.close()
    wh = Warehouse(tmp_path / "wh.duckdb")
    try:
        have = {r[0] for r in wh.run("SELECT column_name FROM (DESCRIBE person_records)")}
        assert {"household_ref", "relationship", "town", "known_since"} <= have
        # A record with none of the added fields hashes as it did before they existed.
        before = list(CONTRACT_COLUMNS["person_records"])[:-4]
        assert before[-1] == "ethnicity"
        old_digest = (
            "md5(concat_ws(chr(31), "
            + ", ".join(f'coalesce(CAST("{c}" AS VARCHAR), chr(0))' for c in before)
            + "))"
        )
        same = wh.run(f"SELECT source_record_id, row_hash = {old_digest} FROM person_records")
        assert sorted(same) == [("1", True), ("2", False)]
    finally:
        wh.close()


# The world: households and relationships after a real ingest and link, against the truth.
HOUSING_WORDS = {
    "Lead tenant": "lead_tenant",
    "Joint tenant": "joint_tenant",
    "Household member": "household_member",
}


@pytest.fixture(scope="module")
def linked_night(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The test world's last night ingested and linked: the warehouse file."""
    root = tmp_path_factory.mktemp("households")
    night = TEST_WORLD.night_dates()[-1]
    wh = Warehouse(root / "warehouse.duckdb")
    with (
        BackgroundServer(world, "t0ken") as server,
        partner_environment(world, server.url, "t0ken"),
    ):
        reports = ingest_night(wh, load_sources(SOURCES_FILE), night)
    assert all(r.status == "complete" for r in reports), [r.line() for r in reports]
    records = wh.frame("SELECT * FROM person_records WHERE valid_to IS NULL")
    wh.close()
    # A smaller sample of random pairs than `joinedup link train` takes: enough for this world.
    model = root / "linkage-v1.json"
    model.write_text(json.dumps({"splink_model": train(records, max_pairs=1e6).model}, default=str))
    assert link_night(root / "warehouse.duckdb", night, model, 0.9).status == "linked"
    yield root / "warehouse.duckdb"


@pytest.mark.slow
def test_housing_households_and_relationships_agree_with_the_world(
    world: Path, linked_night: Path
) -> None:
    con = duckdb.connect(str(linked_night), read_only=True)
    try:
        homes = con.sql("SELECT * FROM households").pl()
        persons = con.sql(
            "SELECT source_record_id, person_id FROM persons"
            " WHERE valid_to IS NULL AND source = 'housing'"
        ).pl()
    finally:
        con.close()
    last = TEST_WORLD.nights - 1
    # What the housing system itself says of each of its people, read from its own file.
    with sqlite3.connect(extract(world, last, "housing", "housing.sqlite")) as db:
        stated = pl.DataFrame(
            db.execute("SELECT person_ref, relationship FROM tenancy_member").fetchall(),
            schema={"source_record_id": pl.String, "stated": pl.String},
            orient="row",
        ).with_columns(pl.col("stated").replace_strict(HOUSING_WORDS))
    truth = load_truth(world)
    known = (
        stated.join(
            truth.records.select("source_record_id", pl.col("person_id").alias("true_id")),
            on="source_record_id",
        )
        .join(persons, on="source_record_id")
        .join(homes.select("person_id", "household_id", "basis", "relationship"), on="person_id")
        .join(
            truth.state(last).select(
                pl.col("person_id").alias("true_id"), pl.col("household_id").alias("true_home")
            ),
            on="true_id",
        )
    )
    assert known["true_id"].n_unique() > 1000
    # Each housing-known person's household holds the same housing-known people as their
    # true household, and gives them a relationship housing states for them (housing holds
    # a few people twice, once as lead tenant and once as joint tenant).
    together = known.group_by("household_id").agg(pl.col("true_id").unique().sort().alias("found"))
    truly = known.group_by("true_home").agg(pl.col("true_id").unique().sort().alias("true"))
    said = known.group_by("true_id").agg(pl.col("stated").unique().alias("said"))
    agree = (
        known.join(together, on="household_id")
        .join(truly, on="true_home")
        .join(said, on="true_id")
        .group_by("true_id")
        .agg(
            (pl.col("found") == pl.col("true")).all().alias("home"),
            pl.col("said")
            .list.contains(pl.col("relationship"))
            .fill_null(False)
            .all()
            .alias("relationship"),
            (pl.col("basis") == "tenancy").all().alias("basis"),
        )
    )
    shares = agree.drop("true_id").mean().row(0, named=True)
    assert shares["home"] >= 0.95, shares
    assert shares["relationship"] >= 0.95, shares
    assert shares["basis"] == 1.0, shares
    # Nobody else is given a relationship: no other partner states one.
    others = homes.join(persons, on="person_id", how="anti")
    assert others["relationship"].null_count() == others.height
    assert set(homes["basis"]) == {"tenancy", "uprn", "address"}
