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

An incremental night (`rehouse`) places again only the persons that what changed can
reach, and gives them what `households` would give them, since each step below reads,
for every key it decides (a person, an address line, a tenancy, a household's address),
all the records or persons with that key.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from matching.prepare import address_numbers

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
    return pl.concat_str([pl.col("postcode"), address_numbers(pl.col("address"))], separator="|")


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


HOUSEHOLD_COLUMNS = ("person_id", "household_id", "basis", "address_key", "relationship")
_HOUSEHOLD_FIELDS = ("source", "household_ref", "relationship")
_NO_TENANTS = pl.DataFrame(schema={"address_key": pl.String, "household_id": pl.String})


def _rec(persons: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """Each record with its person, address line key, tenancy and relationship."""
    return persons.select("unique_id", "person_id").join(_keys(records), on="unique_id")


def _keys(records: pl.DataFrame) -> pl.DataFrame:
    """Each record's UPRN, address line key, tenancy, relationship and night."""
    records = records.with_columns(
        pl.lit(None, pl.String).alias(c) for c in _HOUSEHOLD_FIELDS if c not in records.columns
    )
    return records.select(
        "unique_id",
        pl.col("uprn").cast(pl.String),
        "valid_from",
        pl.concat_str(["source", "household_ref"], separator=":").alias("tenancy"),
        pl.col("relationship").cast(pl.String),
        _line_key().alias("line_key"),
    )


def _with_uprns(rec: pl.DataFrame, pool: pl.DataFrame) -> pl.DataFrame:
    """`rec` with a UPRN where the register records in `pool` tie its address line to one.

    `pool` must hold every record with any of `rec`'s address lines.
    """
    line_to_uprn = (
        pool.filter(pl.col("uprn").is_not_null() & pl.col("line_key").is_not_null())
        .group_by("line_key", "uprn")
        .len()
        .sort(["line_key", "len", "uprn"], descending=[False, True, False])
        .group_by("line_key", maintain_order=True)
        .first()
        .select("line_key", pl.col("uprn").alias("line_uprn"))
    )
    return (
        rec.join(line_to_uprn, on="line_key", how="left")
        .with_columns(pl.coalesce("uprn", "line_uprn").alias("uprn"))
        .drop("line_uprn")
    )


def _placements(rec: pl.DataFrame, tenancy_rec: pl.DataFrame) -> pl.DataFrame:
    """Where each person of `rec` lives: `person_id`, `basis`, `address_key`, `relationship`,
    and `home_key` for a tenancy.

    Args:
        rec: every record of the persons to place (`_with_uprns`).
        tenancy_rec: every record of the tenancies those persons are on (`_with_uprns`).
    """
    tenancies = _tenancies(rec)
    # Where a tenancy is: the address its own records give.
    where = _most_common(
        tenancy_rec.filter(pl.col("tenancy").is_not_null()).with_columns(
            pl.coalesce(pl.concat_str([pl.lit("U"), pl.col("uprn")]), "line_key").alias("at")
        ),
        "tenancy",
        "at",
    ).select("tenancy", "at")
    home = pl.concat_str([pl.lit("T|"), pl.col("tenancy")])
    by_tenancy = tenancies.join(where, on="tenancy", how="left").select(
        "person_id",
        pl.lit("tenancy").alias("basis"),
        pl.coalesce("at", home).alias("address_key"),
        "relationship",
        home.alias("home_key"),
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
    by_address = pl.concat([by_uprn, by_line]).with_columns(
        pl.lit(None, pl.String).alias("relationship"), pl.lit(None, pl.String).alias("home_key")
    )
    return pl.concat([by_tenancy, by_address])


def _ids(keys: pl.Series) -> pl.DataFrame:
    """`key` and its household id, "H" and the first 12 hex digits of its SHA-256."""
    con = duckdb.connect()
    try:
        con.register("keys", keys.unique().to_frame("key"))
        ids: pl.DataFrame = con.sql(
            "SELECT key, 'H' || left(sha256(key), 12) AS household_id FROM keys"
        ).pl()
    finally:
        con.close()
    return ids


def _homes(placed: pl.DataFrame, tenants: pl.DataFrame) -> pl.DataFrame:
    """Household ids for placed persons.

    A tenancy's members are its household. A person placed by address joins the tenancy
    at that address, the one with most members there (then the first by id), or else is
    one household with everyone else at the address.

    Args:
        placed: `_placements` rows of the persons to give a household.
        tenants: `address_key`, `household_id` of every person placed by tenancy at the
            addresses of `placed`.
    """
    tenancy_at = (
        tenants.group_by("address_key", "household_id")
        .len()
        .sort(["address_key", "len", "household_id"], descending=[False, True, False])
        .group_by("address_key", maintain_order=True)
        .first()
        .select("address_key", pl.col("household_id").alias("tenancy_home"))
    )
    keyed = placed.with_columns(pl.coalesce("home_key", "address_key").alias("key"))
    return (
        keyed.join(_ids(keyed["key"]), on="key", how="left")
        .join(tenancy_at, on="address_key", how="left")
        .select(
            "person_id",
            pl.when(pl.col("home_key").is_null())
            .then(pl.coalesce("tenancy_home", "household_id"))
            .otherwise("household_id")
            .alias("household_id"),
            "basis",
            "address_key",
            "relationship",
        )
    )


def _tenants(placed: pl.DataFrame) -> pl.DataFrame:
    """`address_key`, `household_id` of the persons of `placed` placed by tenancy."""
    homes = _homes(placed.filter(pl.col("basis") == "tenancy"), _NO_TENANTS)
    return homes.select("address_key", "household_id")


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
    rec = _rec(persons, records)
    rec = _with_uprns(rec, rec)
    placed = _placements(rec, rec)
    return _homes(placed, _tenants(placed)).sort("person_id")


@dataclass
class Rehoused:
    """An incremental night's households: the persons placed again, and their rows."""

    redone: pl.DataFrame  # person_id: every person whose row may differ from last night's
    rows: pl.DataFrame  # the households rows of those of them who are persons tonight


def _keyed(rec: pl.DataFrame, column: str, keys: pl.DataFrame) -> pl.DataFrame:
    return rec.join(keys.select(column).drop_nulls().unique(), on=column, how="semi")


class _Finder:
    """Tonight's records (as `_rec` gives them) by record, person, address line or tenancy.

    Every record's keys are made once; persons are joined only to the records found.
    """

    def __init__(self, persons: pl.DataFrame, records: pl.DataFrame) -> None:
        self.persons = persons.select("unique_id", "person_id")
        self.keys = _keys(records)

    def of(self, ids: pl.DataFrame, column: str) -> pl.DataFrame:
        """The records whose `column` is one of `ids`'s."""
        if column == "person_id":
            ids = _keyed(self.persons, column, ids)
            column = "unique_id"
        return _keyed(self.keys, column, ids).join(self.persons, on="unique_id")


def rehouse(
    persons: pl.DataFrame,
    records: pl.DataFrame,
    earlier: pl.DataFrame,
    touched: pl.DataFrame,
    before: pl.DataFrame,
) -> Rehoused:
    """Tonight's households from last night's, placing again only whom the changes reach.

    Each person in `redone` gets the row `households` would give them tonight; every
    other person's row is last night's, which `households` would give them again.

    Args:
        persons: tonight's `unique_id`, `person_id` for every record.
        records: tonight's records (as for `households`).
        earlier: last night's households rows (`HOUSEHOLD_COLUMNS`), made from the same
            records as last night's persons.
        touched: `unique_id`, `person_id` of every record that is new, changed or gone
            tonight, or whose person changed: one row for its person last night and one
            for its person tonight, where it has them.
        before: the records of `touched` as they were last night (as for `households`),
            for those that existed.
    """
    find = _Finder(persons, records)
    was = _rec(touched.filter(pl.col("person_id").is_not_null()), before)
    now = find.of(touched, "unique_id")
    # Address lines and tenancies that gained, lost or changed a record; the records on them.
    on_lines = find.of(pl.concat([was.select("line_key"), now.select("line_key")]), "line_key")
    tenancies = pl.concat([t.select("tenancy") for t in (was, now, on_lines)])
    redo = (
        pl.concat(
            [
                touched.select("person_id"),
                on_lines.select("person_id"),
                find.of(tenancies, "tenancy").select("person_id"),
            ]
        )
        .drop_nulls()
        .unique()
    )
    mine = find.of(redo, "person_id")
    theirs = find.of(mine, "tenancy")
    pool = find.of(pl.concat([mine.select("line_key"), theirs.select("line_key")]), "line_key")
    placed = _placements(_with_uprns(mine, pool), _with_uprns(theirs, pool))
    # The addresses whose tenancy may differ: the redone persons' old and new ones.
    addresses = pl.concat(
        [
            placed.select("address_key"),
            earlier.join(redo, on="person_id", how="semi").select("address_key"),
        ]
    )
    others = _keyed(earlier, "address_key", addresses).join(redo, on="person_id", how="anti")
    tenants = pl.concat(
        [
            _tenants(placed),
            others.filter(pl.col("basis") == "tenancy").select("address_key", "household_id"),
        ]
    )
    # Persons placed by address at those addresses, whose placement has not changed.
    neighbours = others.filter(pl.col("basis") != "tenancy").select(
        "person_id",
        "basis",
        "address_key",
        "relationship",
        pl.lit(None, pl.String).alias("home_key"),
    )
    rows = _homes(pl.concat([placed, neighbours]), tenants)
    redone = pl.concat([redo, neighbours.select("person_id")]).unique()
    return Rehoused(redone, rows.sort("person_id"))
