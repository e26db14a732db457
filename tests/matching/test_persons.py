"""Stable person ids through new records, merges and splits."""

from __future__ import annotations

import polars as pl

from matching.persons import ASSIGNMENT_SCHEMA, assign, person_id


def _clusters(groups: dict[str, list[str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(uid, c) for c, uids in groups.items() for uid in uids],
        schema={"unique_id": pl.String, "cluster_id": pl.String},
        orient="row",
    )


def test_first_night_mints_ids_in_a_fixed_order() -> None:
    a = assign(
        _clusters({"x": ["r3", "r4"], "y": ["r1"]}), pl.DataFrame(schema=ASSIGNMENT_SCHEMA), 1
    )
    got = dict(a.persons.iter_rows())
    assert got == {"r1": person_id(1), "r3": person_id(2), "r4": person_id(2)}
    assert a.history["change"].to_list() == ["new", "new"] and a.next_number == 3


def test_ids_survive_a_rerun_and_new_records_join() -> None:
    night1 = assign(
        _clusters({"x": ["r1", "r2"], "y": ["r3"]}), pl.DataFrame(schema=ASSIGNMENT_SCHEMA), 1
    )
    same = assign(_clusters({"q": ["r1", "r2"], "w": ["r3"]}), night1.persons, night1.next_number)
    assert same.persons.sort("unique_id").equals(night1.persons.sort("unique_id"))
    assert same.history.is_empty()
    grown = assign(
        _clusters({"q": ["r1", "r2", "r9"], "w": ["r3"], "e": ["r7"]}),
        night1.persons,
        night1.next_number,
    )
    got = dict(grown.persons.iter_rows())
    assert got["r9"] == got["r1"] == person_id(1) and got["r3"] == person_id(2)
    assert got["r7"] == person_id(3)
    assert grown.history.rows() == [("new", person_id(3), None, 1)]


def test_merge_and_split_are_recorded() -> None:
    night1 = assign(
        _clusters({"x": ["r1", "r2", "r3"], "y": ["r4"]}), pl.DataFrame(schema=ASSIGNMENT_SCHEMA), 1
    )
    merged = assign(_clusters({"m": ["r1", "r2", "r3", "r4"]}), night1.persons, 3)
    assert set(dict(merged.persons.iter_rows()).values()) == {person_id(1)}
    assert merged.history.rows() == [("merge", person_id(1), person_id(2), 1)]
    split = assign(_clusters({"a": ["r1", "r2"], "b": ["r3"], "c": ["r4"]}), night1.persons, 3)
    got = dict(split.persons.iter_rows())
    assert got["r1"] == person_id(1) and got["r4"] == person_id(2) and got["r3"] == person_id(3)
    assert sorted(split.history.rows()) == [
        ("new", person_id(3), None, 1),
        ("split", person_id(3), person_id(1), 1),
    ]
