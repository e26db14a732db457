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
    records: pl.DataFrame, model: dict[str, Any], mode: Literal["link", "dedupe"]
) -> dict[str, Any]:
    """The model set to link across sources only, or to score every pair, with its prior.

    The prior is estimated on these records as training does (pairs that an identifier, or
    full name and birth date, link for sure, at an assumed recall of 0.7), counting only
    the pairs the mode scores; where no pair is linked for sure, the model's prior is kept.
    """
    fitted = copy.deepcopy(model)
    fitted["link_type"] = LINK_TYPES[mode]
    fitted["source_dataset_column_name"] = "source"
    prior = sure_prior(prepare(records), fitted)
    if prior is not None:
        fitted["probability_two_random_records_match"] = prior
    return fitted
