"""Splink's charts of a trained model: every comparison of the model is drawn, with its
weights and its m and u, from the model alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from linkfiles import judged_run

from matching.charts import model_charts
from matching.report import match_weights


@pytest.mark.slow
def test_the_charts_draw_every_comparison_of_the_model(tmp_path: Path) -> None:
    out, _ = judged_run(tmp_path)
    model = json.loads((out / "model.json").read_text())["splink_model"]
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
