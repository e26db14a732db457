"""What the warehouse says of the people tonight's scores name: for selection, routing and
case packs. Everything is read as of the night, from the contract tables' history.

Only the warehouse's tables are read (`scores`, `persons`, `person_records`,
`involvements`, `events`, `households`); nothing is written to it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

AS_OF = "valid_from <= $night AND (valid_to IS NULL OR valid_to > $night)"
AGE_BANDS = ((5, "0-4"), (11, "5-10"), (16, "11-15"), (18, "16-17"), (25, "18-24"), (65, "25-64"))

SCORES = """
WITH prev AS (
    SELECT person_id, arg_max(band, night) AS previous_band,
           arg_max(score, night) AS previous_score,
           arg_max(indicators, night) AS previous_indicators,
           max(night) AS previous_night
    FROM scores WHERE night < $night GROUP BY person_id
)
SELECT t.person_id, t.score, t.band, t.model_version, t.reasons, t.indicators, t.change,
       p.previous_band, p.previous_score, p.previous_indicators, p.previous_night,
       -- the share of the persons scored tonight whose score was lower: what the inbox
       -- says the score means beside the night's others
       (rank() OVER (ORDER BY t.score) - 1) / count(*) OVER () AS share_below
FROM scores t LEFT JOIN prev p USING (person_id)
WHERE t.night = $night
"""


class WarehouseError(ValueError):
    """The warehouse lacks what alerts need (no scores for the night, a missing table)."""


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def tonight_scores(con: duckdb.DuckDBPyConnection, night: dt.date) -> pl.DataFrame:
    """Tonight's score of each person, beside their last score before tonight (its band,
    score, indicators and night), as issue 5 compares them for `change`, and the share of
    the persons scored tonight whose score was lower (`share_below`).

    Raises:
        WarehouseError: no `scores` table, or no scores for the night.
    """
    need = {"scores", "persons", "person_records", "involvements", "events"}
    missing = need - _tables(con)
    if missing:
        raise WarehouseError(
            f"the warehouse has no {', '.join(sorted(missing))} table: "
            "load, link and score the night first"
        )
    found: pl.DataFrame = con.sql(SCORES, params={"night": night}).pl()
    if found.is_empty():
        raise WarehouseError(f"no scores for {night} in the warehouse: score the night first")
    return found


def _register(con: duckdb.DuckDBPyConnection, person_ids: list[str]) -> None:
    con.register(
        "_alerted", pl.DataFrame({"person_id": person_ids}, schema={"person_id": pl.String})
    )


def _age_band(age: pl.Expr) -> pl.Expr:
    expr: Any = pl.when(age.is_null()).then(pl.lit("unknown"))
    for upper, label in AGE_BANDS:
        expr = expr.when(age < upper).then(pl.lit(label))
    done: pl.Expr = expr.otherwise(pl.lit("65+"))
    return done


def person_facts(
    con: duckdb.DuckDBPyConnection, night: dt.date, person_ids: list[str]
) -> pl.DataFrame:
    """Area, age and agencies of each person, as of the night.

    The date of birth and postcode are those most of the person's records give (the
    newest record breaking a tie). Returns person_id, district, age, age_band, age_group,
    agencies (with a current involvement) and known_to (holding a current record).
    """
    _register(con, person_ids)
    try:
        records: pl.DataFrame = con.sql(
            f"""SELECT p.person_id, r.source, r.dob, r.postcode, r.valid_from
            FROM (SELECT * FROM persons WHERE {AS_OF}) p
            JOIN _alerted a USING (person_id)
            JOIN (SELECT * FROM person_records WHERE {AS_OF}) r
              ON r.source = p.source AND r.source_record_id = p.source_record_id""",
            params={"night": night},
        ).pl()
        involved: pl.DataFrame = con.sql(
            f"""SELECT DISTINCT p.person_id, i.source AS agency
            FROM (SELECT * FROM persons WHERE {AS_OF}) p
            JOIN _alerted a USING (person_id)
            JOIN (SELECT * FROM involvements WHERE {AS_OF}) i
              ON i.source = p.source AND i.source_record_id = p.source_record_id
            WHERE (i.from_date IS NULL OR i.from_date <= $night)
              AND (i.to_date IS NULL OR i.to_date >= $night)""",
            params={"night": night},
        ).pl()
    finally:
        con.unregister("_alerted")
    base = pl.DataFrame({"person_id": person_ids}, schema={"person_id": pl.String})
    dob = _most_common(records, "dob")
    postcode = _most_common(records, "postcode")
    known = records.group_by("person_id").agg(pl.col("source").unique().sort().alias("known_to"))
    agencies = involved.group_by("person_id").agg(
        pl.col("agency").unique().sort().alias("agencies")
    )
    age = (
        pl.lit(night.year)
        - pl.col("dob").dt.year()
        - (
            (pl.col("dob").dt.month() > night.month)
            | ((pl.col("dob").dt.month() == night.month) & (pl.col("dob").dt.day() > night.day))
        ).cast(pl.Int32)
    )
    return (
        base.join(dob, on="person_id", how="left")
        .join(postcode, on="person_id", how="left")
        .join(known, on="person_id", how="left")
        .join(agencies, on="person_id", how="left")
        .with_columns(
            pl.col("postcode")
            .str.strip_chars()
            .str.to_uppercase()
            .str.split(" ")
            .list.first()
            .alias("district"),
            age.cast(pl.Int32).alias("age"),
        )
        .with_columns(
            _age_band(pl.col("age")).alias("age_band"),
            pl.when(pl.col("age").is_null())
            .then(pl.lit("unknown"))
            .when(pl.col("age") < 18)
            .then(pl.lit("child"))
            .otherwise(pl.lit("adult"))
            .alias("age_group"),
            pl.col("known_to").fill_null([]),
            pl.col("agencies").fill_null([]),
        )
        .select("person_id", "district", "age", "age_band", "age_group", "agencies", "known_to")
    )


def _most_common(records: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per person, the value of `column` most records give; the newest record breaks a tie."""
    return (
        records.filter(pl.col(column).is_not_null())
        .group_by("person_id", column)
        .agg(pl.len().alias("n"), pl.col("valid_from").max().alias("newest"))
        .sort(["person_id", "n", "newest", column], descending=[False, True, True, False])
        .unique("person_id", keep="first", maintain_order=True)
        .select("person_id", column)
    )


def involvements(
    con: duckdb.DuckDBPyConnection, night: dt.date, person_ids: list[str]
) -> pl.DataFrame:
    """Who works with each person as of the night, the lead for each agency first.

    The lead professional for an agency is the one whose involvement began most recently
    (an undated one counts as oldest), then one with an email, then by name. Returns
    person_id, agency, professional, email, team, role, from_date, lead (bool).
    """
    _register(con, person_ids)
    try:
        found: pl.DataFrame = con.sql(
            f"""SELECT DISTINCT p.person_id, i.source AS agency, i.professional, i.email, i.team,
                   i.role, i.from_date
            FROM (SELECT * FROM persons WHERE {AS_OF}) p
            JOIN _alerted a USING (person_id)
            JOIN (SELECT * FROM involvements WHERE {AS_OF}) i
              ON i.source = p.source AND i.source_record_id = p.source_record_id
            WHERE (i.from_date IS NULL OR i.from_date <= $night)
              AND (i.to_date IS NULL OR i.to_date >= $night)
              AND i.professional IS NOT NULL""",
            params={"night": night},
        ).pl()
    finally:
        con.unregister("_alerted")
    return found.sort(
        [
            pl.col("person_id"),
            pl.col("agency"),
            pl.col("from_date"),
            pl.col("email").is_null(),
            pl.col("professional"),
            pl.col("email"),
        ],
        descending=[False, False, True, False, False, False],
        nulls_last=True,
    ).with_columns((pl.int_range(pl.len()).over("person_id", "agency") == 0).alias("lead"))


def leads(involved: pl.DataFrame) -> dict[str, dict[str, dict[str, Any]]]:
    """person_id -> agency -> the lead professional (professional, email, team, role)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in involved.filter(pl.col("lead")).iter_rows(named=True):
        out.setdefault(row["person_id"], {})[row["agency"]] = {
            "agency": row["agency"],
            "professional": row["professional"],
            "email": row["email"],
            "team": row["team"],
            "role": row["role"],
        }
    return out
