"""Splink's own charts of a trained linkage model, for the analyst's notebook.

The match weights chart (each comparison level's weight, and the prior's) and the m and u
parameters chart (how often each level is seen among matches and among non-matches) are
drawn from the model alone: no record is read, so nothing personal is in them.
"""

from __future__ import annotations

import warnings
from typing import Any

import altair as alt
import polars as pl
from splink import DuckDBAPI, Linker


def model_charts(model: dict[str, Any]) -> dict[str, alt.TopLevelMixin]:
    """Splink's match weights and m/u parameters charts of `model` (Splink settings).

    Returns:
        `{"match weights": chart, "m and u parameters": chart}`, Altair charts.
    """
    db = DuckDBAPI()
    # The charts read the settings only; Splink's Linker still wants a table to open.
    nobody = db.register(pl.DataFrame({"unique_id": ["none"]}).to_arrow())
    linker = Linker(nobody, model, validate_settings=False)
    with warnings.catch_warnings():
        # Altair's note that Splink's two charts share a selection parameter's config.
        warnings.simplefilter("ignore", UserWarning)
        return {
            "match weights": linker.visualisations.match_weights_chart().altair_chart,
            "m and u parameters": linker.visualisations.m_u_parameters_chart().altair_chart,
        }
