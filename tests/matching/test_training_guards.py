"""What the model reads of an address line, and the guard on what EM learns."""

from __future__ import annotations

import copy
from typing import Any

import polars as pl
import pytest

from matching.cluster import MAX_VETO_MISS, Facts, conflict, vetoes
from matching.link import _against_evidence, _fill, _hold, untrained
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
    return _set(model, column, "Exact match", m, u)


def _set(model: dict[str, Any], column: str, label: str, m: float, u: float) -> dict[str, Any]:
    changed = copy.deepcopy(model)
    for comparison in changed["comparisons"]:
        if comparison["output_column_name"] == column:
            for level in comparison["comparison_levels"]:
                if level.get("label_for_charts", "").startswith(label):
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


def test_a_model_where_most_of_a_persons_records_differ_in_first_name_is_caught() -> None:
    # A block of one address's records: one person's pairs and a family's, mixed.
    mixed = _set(
        _set_exact(_model(), "first_name", m=0.39, u=0.003),
        "first_name",
        "All other",
        m=0.59,
        u=0.99,
    )
    assert _against_evidence(mixed) == (
        "more records of one person with first_names in nothing alike than with one "
        "first_name, m 0.59 > 0.39"
    )


def test_a_comparison_counts_as_trained_once_a_session_sets_its_first_seen_level() -> None:
    blank = _set(_model(), "last_name", "Exact match", m=None, u=0.001)  # type: ignore[arg-type]
    assert "last_name" in untrained(blank)
    # A rare level set by hand (a new surname) is not training.
    assert "last_name" in untrained(_set(blank, "last_name", "New surname", m=0.01, u=0.0))
    assert "last_name" not in untrained(_set_exact(blank, "last_name", m=0.9, u=0.001))


def test_a_fallback_session_moves_only_the_untrained_comparisons() -> None:
    trained = _set_exact(_model(), "dob", m=0.9, u=0.0001)
    held = _hold(trained, ["last_name"])
    fixed = {
        c["output_column_name"]: [lv.get("fix_m_probability") for lv in c["comparison_levels"]]
        for c in held["comparisons"]
    }
    assert True in fixed["dob"] and True not in fixed["last_name"]
    learned = _set_exact(_set_exact(trained, "dob", m=0.5, u=0.0001), "last_name", m=0.8, u=0.001)
    filled = _fill(trained, learned, ["last_name"])
    assert _set_exact(trained, "last_name", m=0.8, u=None) == _set_exact(  # type: ignore[arg-type]
        filled,
        "last_name",
        m=0.8,
        u=None,  # type: ignore[arg-type]
    )


def test_a_field_vetoes_only_where_one_persons_records_rarely_disagree_on_it() -> None:
    model = _set(_model(), "first_name", "All other", m=0.005, u=0.99)
    model = _set(model, "dob", "All other", m=0.006, u=0.97)
    model = _set(model, "dob", "Abs difference", m=0.002, u=0.03)
    for name in ("nhs_number", "upn", "ni_number"):
        model = _set(model, name, "All other", m=0.001, u=0.999)
    assert vetoes(model) == {"first_name", "dob", "nhs_number", "upn", "ni_number"}
    # A partner whose clerks retype one first name in ten: no veto on first names.
    typed_over = _set(model, "first_name", "All other", m=0.09, u=0.99)
    assert vetoes(typed_over) == {"dob", "nhs_number", "upn", "ni_number"}
    # The levels the check refuses count together: a year out and nothing alike.
    near = _set(model, "dob", "Abs difference", m=MAX_VETO_MISS, u=0.03)
    assert "dob" not in vetoes(near)


def test_a_short_form_of_a_first_name_is_no_conflict() -> None:
    def facts(first: str) -> Facts:
        return Facts(
            ids=(None, None, None), dob="1999-07-10", first=first, first_group=first, last="HURST"
        )

    assert not conflict(facts("MADDY"), facts("MADISON"))  # not in the name groups
    assert conflict(facts("MADDY"), facts("GRACE"))
