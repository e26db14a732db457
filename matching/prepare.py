"""Person records made ready for linkage: one row a record, with the columns the model compares.

Input is the `person_records` contract (already standardised by the connectors). Output
adds what comparisons need: a unique id per record, the date of birth as text, postcode
sector and district, the house number and street of the address line (together and apart),
the unit (flat, apartment, suite) where the address names one, the town as written (upper
case, spaces collapsed), surname parts, and each given name's group (Bob, Robert, Rob are
one group; Mohammed, Muhammad are one group).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl

REFERENCE = Path(__file__).parent / "reference"
LINKAGE_COLUMNS = (
    "unique_id",
    "source",
    "source_record_id",
    "first_name",
    "first_name_group",
    "middle_name",
    "last_name",
    "surname_parts",
    "dob",
    "sex",
    "postcode",
    "postcode_sector",
    "postcode_district",
    "address_line",
    "house_number",
    "street",
    "unit",
    "dwelling",
    "town",
    "uprn",
    "nhs_number",
    "upn",
    "ni_number",
)


# What a form says where a name was not given: evidence of nothing, so blank for linkage (the
# record keeps what was written). A lone letter is an initial, not a name.
PLACEHOLDER_NAMES = (
    "UNKNOWN",
    "NOT KNOWN",
    "NOTKNOWN",
    "NK",
    "NA",
    "N A",
    "NONE",
    "NULL",
    "REFUSED",
    "DECLINED",
    "WITHHELD",
    "NOT GIVEN",
    "ANONYMOUS",
    "PERSON",
    "TEST",
    "BABY",
    "INFANT",
    "UNBORN",
)


def real_name(name: pl.Expr) -> pl.Expr:
    """The name, or null where it is a placeholder or a lone initial."""
    return (
        pl.when(name.is_in(PLACEHOLDER_NAMES) | (name.str.len_chars() < 2))
        .then(pl.lit(None, pl.String))
        .otherwise(name)
    )


@cache
def name_groups(path: Path = REFERENCE / "name_groups.csv") -> pl.DataFrame:
    """Given name (as standardised) to the id of its group of nicknames and spellings."""
    return pl.read_csv(path, schema={"name": pl.String, "group_id": pl.Int64})


# A unit within a building, as partners here and abroad write it: the word (or #), an
# optional "No", then the unit's own id, with a letter after a number kept ("aprt no 41 b").
_UNIT = (
    r"(?:^|[ ,])(?:FLAT|APT|APRT|APARTMENT|UNIT|SUITE|STE|ROOM|RM|#)\.?"
    r"(?: ?#| NO\.?)? ?([0-9]+[A-Z]?(?: [A-Z]\b)?|[A-Z][0-9]*\b)"
)


def unit(address: pl.Expr) -> pl.Expr:
    """The flat, apartment, unit or suite an address names, compacted: "Flat 1, 14 Wren
    View" gives `1`, "123 Main St Apt 4B" `4B`, "5112, 145th st, unit d13" `D13`, "aprt no
    41 b" `41B`. Null where the address names none."""
    upper = address.str.to_uppercase().str.replace_all(r"\s+", " ")
    return upper.str.extract(_UNIT, 1).str.replace_all(" ", "")


def address_line(address: pl.Expr) -> pl.Expr:
    """The house number and street of an address, however a partner lays it out.

    "Flat 1, 14 Wren View" and "FLAT 1 14 WREN VIEW, TOWN" give "14 WREN VIEW"; an address
    kept in parts ("8, stanley street, miami") gives "8 STANLEY STREET"; a unit after the
    street is not part of it ("123 Main St Apt 4" gives "123 MAIN ST"). Null where there
    is no number followed by a street.
    """
    text = (
        address.str.to_uppercase()
        .str.replace_all(r"\s+", " ")
        .str.replace_all(_UNIT, ",")
        .str.replace_all(r"[^A-Z0-9, ]", " ")
        .str.replace_all(r" +", " ")
        .str.replace_all(r" ?, ?", ",")
        .str.strip_chars(" ,")
    )
    in_parts = text.str.extract(r"^([0-9]+[A-Z]?),([A-Z0-9][A-Z0-9 ]*[A-Z][A-Z0-9 ]*)", 0)
    in_one = text.str.extract(r"(?:^|[ ,])([0-9]+[A-Z]? [A-Z][A-Z0-9 ]*)", 1)
    return pl.coalesce(in_parts.str.replace(",", " "), in_one).str.strip_chars()


def street_only(address: pl.Expr) -> pl.Expr:
    """The first part of an address that has no number in it: a street named alone."""
    first = address.str.to_uppercase().str.replace_all(r"[^A-Z0-9, ]", " ").str.split(",")
    part = first.list.first().str.replace_all(r" +", " ").str.strip_chars()
    return pl.when(part.str.contains(r"^[A-Z][A-Z ]*[A-Z]$")).then(part)


def address_numbers(address: pl.Expr) -> pl.Expr:
    """The numbers of an address, flat and house, in the order written ("Flat 2, 12 Station
    Road" gives `2 12`): partners write the words their own way, and the numbers alike."""
    return address.str.extract_all(r"[0-9]+[A-Za-z]?").list.join(" ")


def dwelling(address: pl.Expr, street: pl.Expr) -> pl.Expr:
    """One dwelling, as the numbers of its address and its street: "Flat 1, 14 Wren View"
    gives `1 14|WREN VIEW`, another flat of the block `2 14|WREN VIEW`, and the house
    without a flat `14|WREN VIEW`. Null without a number or a street."""
    numbers = address_numbers(address.str.to_uppercase())
    return pl.when((numbers != "") & street.is_not_null()).then(
        pl.concat_str([numbers, street], separator="|")
    )


def unique_id() -> pl.Expr:
    """A record's id across sources: `source:source_record_id`."""
    return pl.concat_str([pl.col("source"), pl.col("source_record_id")], separator=":").alias(
        "unique_id"
    )


def present_columns(prepared: pl.DataFrame) -> frozenset[str]:
    """The columns that hold a value in at least one record."""
    return frozenset(c for c in prepared.columns if prepared[c].null_count() < prepared.height)


def prepare(records: pl.DataFrame) -> pl.DataFrame:
    """Add the comparison columns to standardised person records."""
    groups = name_groups()
    blank = pl.lit(None, pl.String)
    address = pl.col("address") if "address" in records.columns else blank
    records = records.with_columns(
        real_name(pl.col(c)).alias(c) for c in ("first_name", "last_name")
    )
    out = records.with_columns(
        unique_id(),
        pl.col("dob").cast(pl.String).alias("dob"),
        pl.col("postcode")
        .str.slice(0, pl.col("postcode").str.len_chars() - 2)
        .alias("postcode_sector"),
        pl.col("postcode").str.split(" ").list.first().alias("postcode_district"),
        address_line(address).alias("address_line"),
        (pl.col("town") if "town" in records.columns else blank).alias("town"),
        pl.col("last_name").str.split(" ").alias("surname_parts"),
        pl.col("uprn").cast(pl.String),
    ).join(
        groups.rename({"name": "first_name", "group_id": "first_name_group"}),
        on="first_name",
        how="left",
    )
    return (
        out.with_columns(
            # A name in no group is its own group.
            pl.coalesce(pl.col("first_name_group").cast(pl.String), pl.col("first_name")).alias(
                "first_name_group"
            ),
            pl.col("address_line").str.extract(r"^(\S+) ", 1).alias("house_number"),
            # The street, and where no house number is given, the address's first part if it
            # names a street ("delacorte dr"), so a missing number still leaves the street.
            pl.coalesce(
                pl.col("address_line").str.extract(r"^\S+ (.+)$", 1),
                street_only(address),
            ).alias("street"),
        )
        .with_columns(
            dwelling(address, pl.col("street")).alias("dwelling"),
            unit(address).alias("unit"),
        )
        .select(LINKAGE_COLUMNS)
    )
