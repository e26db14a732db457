"""Households: the persons who live together on a night, and how they are related.

A partner that keeps tenancies or families (housing's tenancy members) says who lives
together, whatever address other agencies hold for them. So a person on such a record
is placed in that tenancy: its members are one household even where another agency's
record of one of them carries a stale or different address line, and each member's
relationship is the one the partner states (lead_tenant, joint_tenant, ...). A tenancy
reference is the partner's own, so it is namespaced by source (`housing:TEN104729`).

A person on two tenancies (two records, or two people linked into one) is placed in the
one on their newest record, by the night the record last changed; then in the tenancy
more of their records name; then in the first by reference. Their relationship is the
one that tenancy's newest record of them gives; where records of one night disagree (a
partner holding one person twice), the most specific code: lead_tenant before joint_tenant,
and household_member, which says least, last.

Everyone else is placed at an address taken from their records. The registers that hold
property references (council tax, benefits, tenancies) bill or let that property, so a
UPRN comes first, and an address line that such a register ties to a UPRN names that
property too. Otherwise the address most of their records give is used, the newest
record breaking a tie. Persons at one property, or failing that at one address, are one
household; where a tenancy is at that address they join it, with no relationship, since
no source states one.

A household's id is made from its tenancy, or else from its address: it is the same
every night the tenancy lasts or the household stays at the address, and a move (out of
a tenancy, or to an address) makes a new one. `basis` says how each person was placed:
tenancy, uprn or address.
"""

from __future__ import annotations

import hashlib

import polars as pl

# The person_records contract's relationship codes (docs/connectors.md), most specific first.
_RELATIONSHIP_ORDER = (
    "lead_tenant",
    "joint_tenant",
    "partner",
    "child",
    "parent_carer",
    "other_adult",
    "household_member",
)


def _line_key() -> pl.Expr:
    # Partners write an address line each their own way ("Flat 2, 12 Station Road",
    # "FLAT 2 12 STATION ROAD, MILLBROOK"); its numbers and the postcode agree.
    numbers = pl.col("address").str.extract_all(r"[0-9]+[A-Za-z]?").list.join(" ")
    return pl.concat_str([pl.col("postcode"), numbers], separator="|")


def _most_common(rec: pl.DataFrame, by: str, key: str) -> pl.DataFrame:
    """For each `by`, the `key` most of its records give; the newest, then the least, wins ties."""
    return (
        rec.filter(pl.col(key).is_not_null())
        .group_by(by, key)
        .agg(pl.len().alias("n"), pl.col("valid_from").max().alias("latest"))
        .sort([by, "n", "latest", key], descending=[False, True, True, False])
        .group_by(by, maintain_order=True)
        .first()
    )


def _tenancies(rec: pl.DataFrame) -> pl.DataFrame:
    """Each person on a tenancy: the one they are placed in, and their relationship there."""
    on = rec.filter(pl.col("tenancy").is_not_null())
    chosen = (
        on.group_by("person_id", "tenancy")
        .agg(pl.col("valid_from").max().alias("latest"), pl.len().alias("n"))
        .sort(["person_id", "latest", "n", "tenancy"], descending=[False, True, True, False])
        .group_by("person_id", maintain_order=True)
        .first()
        .select("person_id", "tenancy")
    )
    specific = pl.col("relationship").replace_strict(
        _RELATIONSHIP_ORDER,
        list(range(len(_RELATIONSHIP_ORDER))),
        default=len(_RELATIONSHIP_ORDER),
        return_dtype=pl.Int64,
    )
    related = (
        on.join(chosen, on=["person_id", "tenancy"])
        .filter(pl.col("relationship").is_not_null())
        .with_columns(specific.alias("specific"))
        .sort(
            ["person_id", "valid_from", "specific", "relationship"],
            descending=[False, True, False, False],
        )
        .group_by("person_id", maintain_order=True)
        .first()
        .select("person_id", "relationship")
    )
    return chosen.join(related, on="person_id", how="left")


def households(persons: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """Group persons into households, by tenancy where a source knows one, else by address.

    Args:
        persons: `unique_id`, `person_id` for every record.
        records: the records, with `unique_id`, `uprn`, `address`, `postcode`, `valid_from`;
            and, where a partner knows tenancies, `source`, `household_ref` and
            `relationship` (records without them are placed by address alone).

    Returns:
        `person_id`, `household_id`, `basis` (tenancy, uprn or address), `address_key`
        (the household's address), `relationship` (null where no source states one).
    """
    records = records.with_columns(
        pl.lit(None, pl.String).alias(c)
        for c in ("source", "household_ref", "relationship")
        if c not in records.columns
    )
    rec = (
        persons.select("unique_id", "person_id")
        .join(
            records.select(
                "unique_id",
                "uprn",
                "address",
                "postcode",
                "valid_from",
                pl.concat_str(["source", "household_ref"], separator=":").alias("tenancy"),
                pl.col("relationship").cast(pl.String),
            ),
            on="unique_id",
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
    tenancies = _tenancies(rec)
    # Where a tenancy is: the address its own records give.
    where = _most_common(
        rec.filter(pl.col("tenancy").is_not_null()).with_columns(
            pl.coalesce(pl.concat_str([pl.lit("U"), pl.col("uprn")]), "line_key").alias("at")
        ),
        "tenancy",
        "at",
    ).select("tenancy", "at")
    by_tenancy = tenancies.join(where, on="tenancy", how="left").select(
        "person_id",
        pl.lit("tenancy").alias("basis"),
        pl.coalesce("at", pl.concat_str([pl.lit("T|"), pl.col("tenancy")])).alias("address_key"),
        pl.concat_str([pl.lit("T|"), pl.col("tenancy")]).alias("home_key"),
        "relationship",
    )
    rest = rec.join(by_tenancy, on="person_id", how="anti")
    by_uprn = _most_common(rest, "person_id", "uprn").select(
        "person_id",
        pl.lit("uprn").alias("basis"),
        pl.concat_str([pl.lit("U"), pl.col("uprn")]).alias("address_key"),
    )
    by_line = _most_common(
        rest.join(by_uprn, on="person_id", how="anti"), "person_id", "line_key"
    ).select("person_id", pl.lit("address").alias("basis"), pl.col("line_key").alias("address_key"))
    # A person at a tenancy's address joins it; at an address of two, the larger, then the first.
    tenancy_at = (
        by_tenancy.group_by("address_key", "home_key")
        .len()
        .sort(["address_key", "len", "home_key"], descending=[False, True, False])
        .group_by("address_key", maintain_order=True)
        .first()
        .select("address_key", pl.col("home_key").alias("tenancy_home"))
    )
    by_address = (
        pl.concat([by_uprn, by_line])
        .join(tenancy_at, on="address_key", how="left")
        .select(
            "person_id",
            "basis",
            "address_key",
            pl.coalesce("tenancy_home", "address_key").alias("home_key"),
            pl.lit(None, pl.String).alias("relationship"),
        )
    )
    placed = pl.concat([by_tenancy, by_address])
    ids = {
        k: "H" + hashlib.sha256(k.encode()).hexdigest()[:12]
        for k in placed["home_key"].unique().to_list()
    }
    return (
        placed.with_columns(
            pl.col("home_key").replace_strict(ids, return_dtype=pl.String).alias("household_id")
        )
        .select("person_id", "household_id", "basis", "address_key", "relationship")
        .sort("person_id")
    )
