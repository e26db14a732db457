"""A linkage model set for any extracts an analyst brings, and for the mode they ask.

The prior belongs to the data as much as to the model: it is far higher between two small
extracts than across the council's records, and higher across sources than within one.
`fit_to_mode` sets a model for linking across sources only (Splink's `link_only`) or for
every pair (`dedupe_only`), with the prior estimated on the records at hand. Training
itself is `matching.link.train`, which skips the EM sessions small extracts cannot support.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import polars as pl

from matching.link import sure_prior
from matching.prepare import prepare

LINK_TYPES = {"link": "link_only", "dedupe": "dedupe_only"}


def fit_to_mode(
    records: pl.DataFrame,
    model: dict[str, Any],
    mode: Literal["link", "dedupe"],
    task: str = "persons",
) -> tuple[dict[str, Any], str]:
    """The model set to link across sources only, or to score every pair, with its prior.

    The prior is estimated on these records as training does (pairs that an identifier,
    full name and birth date, or full name at one house number and street link for sure,
    at an assumed recall of 0.7), counting only the pairs the mode scores; where no pair
    is linked for sure, the model's prior is kept.

    Returns:
        The fitted model, and where its prior came from, in words for the analyst.
    """
    fitted = copy.deepcopy(model)
    fitted["link_type"] = LINK_TYPES[mode]
    fitted["source_dataset_column_name"] = "source"
    prior = sure_prior(prepare(records), fitted, task)
    if prior is not None:
        fitted["probability_two_random_records_match"] = prior
        return fitted, f"prior {prior:.3g}, estimated from the pairs these records link for sure"
    kept = fitted.get("probability_two_random_records_match")
    return fitted, (
        f"prior {kept:.3g}, the model's own: no pair of these records is linked for sure "
        "(no shared identifier, and no full name with a date of birth or at one house "
        "number and street); links may be missed: label some pairs, or give a date of "
        "birth or address on both sides"
    )
