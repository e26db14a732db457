"""A saved model that does not fit the linkage input is refused before any work."""

from __future__ import annotations

import pytest

from matching.link import ModelMismatch, check_model_fits
from matching.model import settings


def _model() -> dict[str, object]:
    creator = settings()
    return creator.get_settings("duckdb").as_dict()


def test_the_current_model_fits() -> None:
    check_model_fits(_model())  # type: ignore[arg-type]


def test_a_model_for_other_columns_is_refused() -> None:
    model = _model()
    level = model["comparisons"][0]["comparison_levels"][1]  # type: ignore[index]
    level["sql_condition"] = '"forename_l" = "forename_r"'
    with pytest.raises(ModelMismatch, match=r"column\(s\) \['forename'\].*joinedup link train"):
        check_model_fits(model)  # type: ignore[arg-type]


def test_a_blocking_rule_over_the_ceiling_is_refused() -> None:
    import polars as pl

    from matching.link import BlockingTooWide, link

    # 400 records that all share a surname and a postcode: the surname-and-postcode rule
    # alone pairs every one of them with every other (79,800 pairs).
    records = pl.DataFrame(
        {
            "source": "s",
            "source_record_id": [f"r{i}" for i in range(400)],
            "first_name": [f"N{i}" for i in range(400)],
            "middle_name": None,
            "last_name": "SMITH",
            "dob": None,
            "sex": None,
            "postcode": "JU1 1AA",
            "uprn": None,
            "nhs_number": None,
            "upn": None,
            "ni_number": None,
        }
    ).with_columns(pl.col("dob").cast(pl.Date), pl.col("middle_name").cast(pl.String))
    with pytest.raises(BlockingTooWide, match="over the ceiling of 1,000"):
        link(records, _model(), 0.9, max_pairs_per_rule=1_000)  # type: ignore[arg-type]
