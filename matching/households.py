"""Households: the persons who live at one address on a night.

Each person's address is taken from their records. The registers that hold property
references (council tax, benefits, tenancies) bill or let that property, so a UPRN comes
first, and an address line that such a register ties to a UPRN names that property too.
Otherwise the address most of their records give is used, the newest record breaking a
tie. Persons at one property, or failing that at one address, are one household. A
household's id is made from its address: it is the same every night the household stays
there, and a move makes a new one.
"""

from __future__ import annotations

import hashlib

import polars as pl


def _line_key() -> pl.Expr:
    # Partners write an address line each their own way ("Flat 2, 12 Station Road",
    # "FLAT 2 12 STATION ROAD, MILLBROOK"); its numbers and the postcode agree.
    numbers = pl.col("address").str.extract_all(r"[0-9]+[A-Za-z]?").list.join(" ")
    return pl.concat_str([pl.col("postcode"), numbers], separator="|")


def _most_common(rec: pl.DataFrame, key: str) -> pl.DataFrame:
    return (
        rec.filter(pl.col(key).is_not_null())
        .group_by("person_id", key)
        .agg(pl.len().alias("n"), pl.col("valid_from").max().alias("latest"))
        .sort(["person_id", "n", "latest", key], descending=[False, True, True, False])
        .group_by("person_id", maintain_order=True)
        .first()
    )


def households(persons: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """Group persons into households.

    Args:
        persons: `unique_id`, `person_id` for every record.
        records: the records, with `unique_id`, `uprn`, `address`, `postcode`, `valid_from`.

    Returns:
        `person_id`, `household_id`, `basis` (uprn or address), `address_key`.
    """
    rec = (
        persons.select("unique_id", "person_id")
        .join(
            records.select("unique_id", "uprn", "address", "postcode", "valid_from"), on="unique_id"
        )
        .with_columns(_line_key().alias("line_key"), pl.col("uprn").cast(pl.String))
    )
    line_to_uprn = (
        rec.filter(pl.col("uprn").is_not_null() & pl.col("line_key").is_not_null())
        .group_by("line_key", "uprn")
        .len()
        .sort(["line_key", "len", "uprn"], descending=[False, True, False])
        .group_by("line_key", maintain_order=True)
        .first()
        .select("line_key", pl.col("uprn").alias("line_uprn"))
    )
    rec = rec.join(line_to_uprn, on="line_key", how="left").with_columns(
        pl.coalesce("uprn", "line_uprn").alias("uprn")
    )
    by_uprn = _most_common(rec, "uprn").select(
        "person_id",
        pl.lit("uprn").alias("basis"),
        pl.concat_str([pl.lit("U"), pl.col("uprn")]).alias("address_key"),
    )
    by_line = _most_common(rec.join(by_uprn, on="person_id", how="anti"), "line_key").select(
        "person_id", pl.lit("address").alias("basis"), pl.col("line_key").alias("address_key")
    )
    placed = pl.concat([by_uprn, by_line])
    ids = {
        k: "H" + hashlib.sha256(k.encode()).hexdigest()[:12]
        for k in placed["address_key"].unique().to_list()
    }
    return (
        placed.with_columns(
            pl.col("address_key").replace_strict(ids, return_dtype=pl.String).alias("household_id")
        )
        .select("person_id", "household_id", "basis", "address_key")
        .sort("person_id")
    )
