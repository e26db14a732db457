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


def pair_waterfall(
    model: dict[str, Any],
    records: pl.DataFrame,
    pairs: list[tuple[str, str]],
    *,
    with_values: bool = False,
) -> alt.TopLevelMixin:
    """Splink's waterfall chart: how each comparison adds to the chosen pairs' weights.

    The pairs are scored again by Splink with the model, over `records` prepared as the
    product prepares them, so term frequencies come from the same records.

    Args:
        model: the Splink settings the pairs were scored with.
        records: person records with `unique_id` (the warehouse's, or a run's).
        pairs: (`unique_id_l`, `unique_id_r`) of each pair to draw, in order.
        with_values: show the records' values beside the weights; False (the default)
            leaves only the weights, so the chart holds nothing personal.

    Raises:
        KeyError: a pair names a record that is not in `records`.
    """
    from matching.prepare import prepare

    prepared = prepare(records)
    db = DuckDBAPI()
    # The waterfall reads each comparison's Bayes factor, which scoring keeps only when
    # asked to: the same model, its intermediate columns kept.
    settings = {
        **model,
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": True,
    }
    linker = Linker(db.register(prepared.to_arrow()), settings, validate_settings=False)
    by_id = prepared.partition_by("unique_id", as_dict=True)
    scored: list[dict[str, Any]] = []
    for left, right in pairs:
        one, other = by_id[(left,)], by_id[(right,)]
        scored += linker.inference.score_pair(
            db.register(one.to_arrow()), db.register(other.to_arrow())
        ).as_record_list()
    chart = linker.visualisations.waterfall_chart(
        scored, filter_nulls=False, remove_sensitive_data=not with_values
    )
    drawn: alt.TopLevelMixin = chart.altair_chart
    return drawn
