"""What the model reads of an address line, and the guard on what EM learns."""

from __future__ import annotations

import copy
from typing import Any

import polars as pl
import pytest

from matching.link import _against_evidence, _trained_names
from matching.model import settings
from matching.prepare import address_line


@pytest.mark.parametrize(
    ("address", "line"),
    [
        ("Flat 1, 14 Wren View", "14 WREN VIEW"),
        ("FLAT 2 12 STATION ROAD, MILLBROOK", "12 STATION ROAD"),
        ("12 High Street, Town", "12 HIGH STREET"),
        ("14a Mill Lane", "14A MILL LANE"),
        ("8, stanley street, miami, winston hills, nsw", "8 STANLEY STREET"),
        ("5112, 145th st, Anytown, WA", "5112 145TH ST"),
        ("Anytown, WA", None),
        ("stanley street", None),
        (None, None),
    ],
)
def test_the_house_number_and_street_of_an_address(address: str | None, line: str | None) -> None:
    got = pl.DataFrame({"a": [address]}, schema={"a": pl.String}).select(address_line(pl.col("a")))
    assert got.item() == line


def _model() -> dict[str, Any]:
    from splink import DuckDBAPI, Linker

    db = DuckDBAPI()
    empty = pl.DataFrame(
        {"unique_id": ["a"], "source": ["s"]}, schema={"unique_id": pl.String, "source": pl.String}
    )
    table = db.register(empty.to_arrow())
    model: dict[str, Any] = Linker(
        table, settings(), validate_settings=False
    ).misc.save_model_to_json()
    return model


def _set_exact(model: dict[str, Any], column: str, m: float, u: float) -> dict[str, Any]:
    changed = copy.deepcopy(model)
    for comparison in changed["comparisons"]:
        if comparison["output_column_name"] == column:
            for level in comparison["comparison_levels"]:
                if level.get("label_for_charts", "").startswith("Exact match"):
                    level["m_probability"], level["u_probability"] = m, u
    return changed


def test_a_model_that_counts_a_shared_first_name_against_a_match_is_caught() -> None:
    # What EM learns on a block of one household's members: "same household", where the
    # records it calls matches are of people with other first names.
    household = _set_exact(_model(), "first_name", m=3e-9, u=0.003)
    assert _against_evidence(household) == (
        "an exact first_name counted against a match, m 3e-09 < u 0.003"
    )
    person = _set_exact(_model(), "first_name", m=0.9, u=0.003)
    assert _against_evidence(person) is None
    # Other comparisons are not judged so: an exact postcode shared by everyone is weak.
    assert _against_evidence(_set_exact(person, "sex", m=0.4, u=0.48)) is None


def test_names_count_as_trained_once_a_session_sets_them() -> None:
    assert not _trained_names(_model())
    assert _trained_names(_set_exact(_model(), "first_name", m=0.9, u=0.003))
