"""A source that holds one record a person never has two of its records in one cluster."""

from __future__ import annotations

import polars as pl

from matching.cluster import constrained_clusters
from matching.prepare import LINKAGE_COLUMNS

PEOPLE = [
    # A census record, and two tax forms that both look like it: one is its person's, the
    # other a namesake's at the same address.
    ("census:1", "census", "JOHN", "SMITH"),
    ("tax:1", "tax", "JOHN", "SMITH"),
    ("tax:2", "tax", "JOHN", "SMITH"),
]
LINKS = pl.DataFrame(
    {
        "unique_id_l": ["census:1", "census:1", "tax:1"],
        "unique_id_r": ["tax:1", "tax:2", "tax:2"],
        "match_probability": [0.99, 0.97, 0.95],
    }
)


def prepared() -> pl.DataFrame:
    rows = pl.DataFrame(
        PEOPLE, schema=["unique_id", "source", "first_name", "last_name"], orient="row"
    )
    return rows.with_columns(
        pl.lit(None, pl.String).alias(c)
        for c in LINKAGE_COLUMNS
        if c not in rows.columns and c != "surname_parts"
    )


def clusters(one_per_person: frozenset[str]) -> dict[str, str]:
    found = constrained_clusters(prepared(), LINKS, 0.9, one_per_person)
    return dict(found.iter_rows())


def test_without_the_constraint_the_links_chain_into_one_cluster() -> None:
    assert len(set(clusters(frozenset()).values())) == 1


def test_one_record_a_person_on_the_census_side_keeps_one_tax_person_per_census_record() -> None:
    # 1:many: a census person may have many tax forms, so only the census is one a person.
    assert len(set(clusters(frozenset({"census"})).values())) == 1
    # 1:1: each side one a person; the strongest link wins and the other form stays apart.
    one_to_one = clusters(frozenset({"census", "tax"}))
    assert one_to_one["census:1"] == one_to_one["tax:1"] != one_to_one["tax:2"]
