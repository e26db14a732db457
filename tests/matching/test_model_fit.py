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
