"""Every comparison gives a pair the same level whichever record is on the left.

An incremental night scores a changed record against last night's records with the
changed one on the left; a full night puts the smaller id on the left. Only symmetric
comparisons make the two nights score a pair alike.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from matching.model import settings
from matching.prepare import prepare

# People whose records differ in the ways the levels look at: names swapped whole or one
# way only, nicknames, double-barrelled surnames, day and month swapped, a year only,
# missing values, a property or only a postcode shared.
PEOPLE: list[dict[str, Any]] = [
    dict(first_name="JOHN", last_name="SMITH", dob="1980-03-04", postcode="JU1 2AB", uprn=1),
    dict(first_name="SMITH", last_name="JOHN", dob="1980-04-03", postcode="JU1 2AB", uprn=1),
    dict(first_name="SMITH", last_name="JONES", dob="1980-01-01", postcode="JU1 2AD", uprn=None),
    dict(first_name="MARY", last_name="JOHN", dob=None, postcode="JU1 2AB", uprn=2),
    dict(first_name="JON", last_name="SMYTH", dob="1980-03-14", postcode="JU1 3AB", uprn=None),
    dict(first_name="BOB", last_name="HALL-JONES", dob="1981-03-04", postcode=None, uprn=None),
    dict(first_name="ROBERT", last_name="JONES", dob="1981-03-04", postcode="JU2 1AA", uprn=3),
    dict(first_name=None, last_name="ROBERT", dob="1981-04-03", postcode="JU2 1AA", uprn=3),
    dict(first_name="JOHN", last_name=None, dob="1980-03-04", postcode="JU1 2AA", uprn=None),
]


def _records() -> pl.DataFrame:
    rows = [
        {
            "source": "s",
            "source_record_id": f"r{i}",
            "middle_name": "ANN" if i % 3 == 0 else ("ALEX" if i % 3 == 1 else None),
            "sex": "F" if i % 2 else "M",
            "nhs_number": "9434765919" if i in (0, 1) else None,
            "upn": None,
            "ni_number": "QQ123456C" if i in (2, 3) else None,
            **person,
        }
        for i, person in enumerate(PEOPLE)
    ]
    records = pl.DataFrame(rows).with_columns(
        pl.col("dob").str.to_date(), pl.col("uprn").cast(pl.Int64)
    )
    return prepare(records)


def _level_sql(comparison: dict[str, Any]) -> str:
    """The comparison's level number for a pair, as Splink numbers them (ELSE is 0)."""
    levels = comparison["comparison_levels"]
    whens = []
    for i, level in enumerate(levels):
        number = -1 if level.get("is_null_level") else len(levels) - 1 - i
        if level["sql_condition"] == "ELSE":
            return "CASE " + " ".join(whens) + f" ELSE {number} END"
        whens.append(f"WHEN {level['sql_condition']} THEN {number}")
    raise AssertionError(f"{comparison['output_column_name']} has no ELSE level")


def test_every_comparison_is_symmetric() -> None:
    model = settings().get_settings("duckdb").as_dict()
    prepared = _records()
    columns = [c for c in prepared.columns if c not in ("source", "source_record_id")]
    left = ", ".join(f'l."{c}" AS "{c}_l"' for c in columns)
    right = ", ".join(f'r."{c}" AS "{c}_r"' for c in columns)
    con = duckdb.connect()
    con.register("records", prepared)
    con.execute(
        f"CREATE TABLE pairs AS SELECT {left}, {right} FROM records l, records r"
        " WHERE l.unique_id <> r.unique_id"
    ).fetchall()
    levels = ", ".join(
        f'{_level_sql(c)} AS "{c["output_column_name"]}"' for c in model["comparisons"]
    )
    scored = con.sql(f"SELECT unique_id_l, unique_id_r, {levels} FROM pairs").pl()
    names = [c["output_column_name"] for c in model["comparisons"]]
    mirrored = scored.rename({"unique_id_l": "unique_id_r", "unique_id_r": "unique_id_l"})
    both = scored.join(mirrored, on=["unique_id_l", "unique_id_r"], suffix="_mirrored")
    assert both.height == len(PEOPLE) * (len(PEOPLE) - 1)
    differ = {
        name: both.filter(pl.col(name) != pl.col(f"{name}_mirrored")).height for name in names
    }
    assert differ == dict.fromkeys(names, 0)
    # The crafted pairs reach the levels that could be lopsided: a one-way swap, a whole
    # swap, and a day and month swap.
    first = scored.filter(
        (pl.col("unique_id_l") == "s:r2") & (pl.col("unique_id_r") == "s:r0")
    ).row(0, named=True)
    whole = scored.filter(
        (pl.col("unique_id_l") == "s:r0") & (pl.col("unique_id_r") == "s:r1")
    ).row(0, named=True)
    levels_of = {
        c["output_column_name"]: [lv["sql_condition"] for lv in c["comparison_levels"]]
        for c in model["comparisons"]
    }

    def label_of(name: str, number: int) -> str:
        conditions = levels_of[name]
        return conditions[len(conditions) - 1 - number]

    assert "last_name_r" in label_of("first_name", first["first_name"])  # one way only
    assert "first_name_r" in label_of("last_name", whole["last_name"])  # whole swap
    assert "substr(dob_l, 6, 2)" in label_of("dob", whole["dob"])  # day and month swapped
