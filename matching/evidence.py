"""Each scored pair's evidence: the values compared, and what each comparison weighed.

A pair's match weight is the prior's weight plus one weight a comparison (Splink's
`mw_<comparison>`, with its term-frequency adjustment). `pair_evidence` lays them out
beside the pair's ids, each comparison as the level it reached and its weight, with the
values of both records that the comparisons read, so an analyst can see why a pair scored
as it did. The values are the records' own, standardised: for the analyst's working
files, never for the terminal or a log.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import polars as pl

# The fields a person's records are compared on, as the reviewer reads them; derived
# columns (name groups, postcode sectors, streets) are left out.
COMPARED = (
    "first_name",
    "middle_name",
    "last_name",
    "dob",
    "sex",
    "uprn",
    "address_line",
    "postcode",
    "town",
    "nhs_number",
    "upn",
    "ni_number",
)


def explaining(model: dict[str, Any]) -> dict[str, Any]:
    """The model set to keep the compared values and each comparison's weight in its pairs."""
    told = copy.deepcopy(model)
    told["retain_matching_columns"] = True
    told["retain_intermediate_calculation_columns"] = True
    return told


def level_labels(comparison: dict[str, Any]) -> dict[int, str]:
    """A comparison's levels by Splink's gamma value: -1 for the null level, then the
    others counted down from the first (the last, the else level, is 0)."""
    levels = comparison["comparison_levels"]
    others = [lv for lv in levels if not lv.get("is_null_level")]
    labels = {len(others) - 1 - i: lv.get("label_for_charts", "") for i, lv in enumerate(others)}
    for level in levels:
        if level.get("is_null_level"):
            labels[-1] = level.get("label_for_charts", "")
    return labels


def prior_weight(model: dict[str, Any]) -> float:
    """The weight of the prior alone: log2 of its odds."""
    prior = float(model["probability_two_random_records_match"])
    return math.log2(prior / (1 - prior))


def pair_evidence(predictions: pl.DataFrame, model: dict[str, Any]) -> pl.DataFrame:
    """For each pair: both records' compared values, and each comparison's level and weight.

    Args:
        predictions: Splink's predictions from a model set by `explaining`.
        model: the model that scored them.

    Returns:
        `unique_id_l`, `unique_id_r`, then `<field>_l`, `<field>_r` for each field of
        `COMPARED` the model read, then `<comparison>_level` and `<comparison>_weight`
        for each comparison (a blank's weight is 0).
    """
    values = [
        pl.col(f"{field}{side}").cast(pl.String)
        for field in COMPARED
        if f"{field}_l" in predictions.columns
        for side in ("_l", "_r")
    ]
    weights = []
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        if f"gamma_{name}" not in predictions.columns:
            continue
        labels = level_labels(comparison)
        tf = (
            pl.col(f"mw_tf_adj_{name}").fill_null(0.0)
            if f"mw_tf_adj_{name}" in predictions.columns
            else pl.lit(0.0)
        )
        weights += [
            pl.col(f"gamma_{name}")
            .replace_strict(labels, default=None, return_dtype=pl.String)
            .alias(f"{name}_level"),
            (pl.col(f"mw_{name}").fill_null(0.0) + tf).alias(f"{name}_weight"),
        ]
    return predictions.select("unique_id_l", "unique_id_r", *values, *weights)


def weight_columns(frame: pl.DataFrame) -> list[str]:
    """The comparisons' weight columns of a frame from `pair_evidence`."""
    return [c for c in frame.columns if c.endswith("_weight") and c != "match_weight"]
