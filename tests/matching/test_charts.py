"""Splink's charts of a trained model: every comparison of the model is drawn, with its
weights and its m and u, from the model alone."""

from __future__ import annotations

import json

import polars as pl
import pytest
from linkfiles import judged_run

from matching.charts import model_charts, pair_waterfall
from matching.report import match_weights


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A model trained by `link files` on two rolls of one town."""
    out, _ = judged_run(tmp_path_factory.mktemp("judged"))
    found: dict[str, object] = json.loads((out / "model.json").read_text())["splink_model"]
    return found


@pytest.mark.slow
def test_the_charts_draw_every_comparison_of_the_model(model: dict[str, object]) -> None:
    charts = model_charts(model)
    assert list(charts) == ["match weights", "m and u parameters"]
    # Every level our own table of weights shows is in Splink's chart, with its weight.
    weights = match_weights(model).filter(match_weights(model)["comparison"] != "prior")
    spec = json.dumps(charts["match weights"].to_dict())
    for comparison in model["comparisons"]:
        assert f'"{comparison["output_column_name"]}"' in spec
    for weight in weights["match_weight"].drop_nulls().head(5):
        assert f"{weight:.4f}"[:5] in spec
    mu = json.dumps(charts["m and u parameters"].to_dict())
    assert '"m_probability"' in mu and '"u_probability"' in mu


# Person records as the warehouse holds them: two records of one person, and a neighbour.
RECORDS = pl.DataFrame(
    {
        "source": ["health", "housing", "housing"],
        "source_record_id": ["h1", "k1", "k2"],
        "first_name": ["ORLA", "ORLA", "PIERS"],
        "middle_name": [None, None, None],
        "last_name": ["QUENNELL", "QUENNELL", "ABERNETHY"],
        "dob": ["1979-04-02", "1979-04-02", "1950-01-30"],
        "sex": ["F", "F", "M"],
        "address": ["12 Oak Street", "12, oak st", "14 Oak Street"],
        "postcode": ["AB1 2CD", "AB1 2CD", "AB1 2CD"],
        "uprn": [None, None, None],
        "nhs_number": [None, None, None],
        "upn": [None, None, None],
        "ni_number": [None, None, None],
    },
    schema_overrides={
        c: pl.String for c in ("middle_name", "uprn", "nhs_number", "upn", "ni_number")
    },
).with_columns(pl.format("{}:{}", "source", "source_record_id").alias("unique_id"))


@pytest.mark.slow
def test_the_waterfall_shows_each_comparison_and_values_only_when_asked(
    model: dict[str, object],
) -> None:
    pairs = [("health:h1", "housing:k1"), ("housing:k1", "housing:k2")]
    weights_only = json.dumps(pair_waterfall(model, RECORDS, pairs).to_dict())
    for comparison in model["comparisons"]:  # type: ignore[attr-defined]
        assert f'"{comparison["output_column_name"]}"' in weights_only
    # Nothing personal unless the analyst turns the values on.
    assert "QUENNELL" not in weights_only and "1979-04-02" not in weights_only
    with_values = json.dumps(pair_waterfall(model, RECORDS, pairs, with_values=True).to_dict())
    assert "QUENNELL" in with_values and "1979-04-02" in with_values
    with pytest.raises(KeyError):
        pair_waterfall(model, RECORDS, [("health:h1", "nobody:0")])
