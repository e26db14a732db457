"""A model for any extracts an analyst brings: trained on what they hold, set for the mode.

`matching.link.train` is made for the council's records, where each of its EM sessions has
pairs to learn from: NHS numbers shared between health and social care, birth dates, full
names. Two extracts an analyst picks may hold no NHS number at all, or so few records of
one person in a block that EM drives a level's m probability to zero, which Splink 5
refuses. Here the same steps run (the prior from pairs linked for sure, u from random
pairs, m by EM on the same blocks), and an EM session these records cannot support (too
few pairs in its block, or a failure) is skipped and named instead of stopping the run.
Only when no session can run is training refused.

The prior belongs to the data as much as to the model: it is far higher between two small
extracts than across the council's records, and higher across sources than within one.
`fit_to_mode` sets a model for linking across sources only (Splink's `link_only`) or for
every pair (`dedupe_only`), with the prior estimated on the records at hand.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
from splink import DuckDBAPI, Linker, block_on
from splink.internals.exceptions import SplinkException  # Splink does not export it

from matching.model import settings
from matching.prepare import prepare

# Pairs that these link are taken as one person: the prior is estimated from them.
SURE_RULES = (("nhs_number",), ("ni_number",), ("upn",), ("first_name", "last_name", "dob"))
SURE_RECALL = 0.7
# The blocks `matching.link.train` learns m on, in its order.
EM_BLOCKS = (("nhs_number",), ("dob",), ("first_name", "last_name"))
# EM on fewer pairs learns the few, not the model (Splink asks for a few hundred at least):
# a session on a handful of pairs drives m probabilities to 0 or 1 and spoils the next.
MIN_EM_PAIRS = 100
LINK_TYPES = {"link": "link_only", "dedupe": "dedupe_only"}


class TrainingFailed(ValueError):
    """No EM session could learn from these records; the message says why for each."""


@dataclass
class Trained:
    """A model trained on an analyst's extracts, and the EM sessions it had to skip."""

    model: dict[str, Any]
    skipped: list[str] = field(default_factory=list)


def _linker(prepared: pl.DataFrame, model: Any, log_level: int = logging.ERROR) -> Linker:
    db = DuckDBAPI()
    table = db.register(prepared.to_arrow(), dataset_display_name="person_records")
    return Linker(table, model, log_level=log_level)


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _sure_prior(prepared: pl.DataFrame, model: dict[str, Any]) -> float | None:
    """The prior from pairs linked for sure, for the model's link type; None if there are none."""
    linker = _linker(prepared, model)
    try:
        linker.training.estimate_probability_two_random_records_match(
            [block_on(*columns) for columns in SURE_RULES], recall=SURE_RECALL
        )
    except ValueError:  # more sure pairs than the recall allows: no estimate to trust
        return None
    estimated = linker.misc.save_model_to_json().get("probability_two_random_records_match")
    return estimated if isinstance(estimated, float) and 0.0 < estimated < 1.0 else None


def block_pairs(prepared: pl.DataFrame, columns: tuple[str, ...]) -> int:
    """How many pairs of records agree on every one of the columns (blank agrees with nothing)."""
    sizes = prepared.drop_nulls(list(columns)).group_by(columns).len()["len"]
    return int((sizes * (sizes - 1) // 2).sum())


def train_on_extracts(records: pl.DataFrame, seed: int = 1, max_pairs: float = 1e6) -> Trained:
    """Train the linkage model on standardised person records, skipping what they cannot support.

    Args:
        records: person records (the `person_records` contract plus `source`).
        seed: seed of the random pairs that estimate u.
        max_pairs: how many random pairs estimate u.

    Raises:
        TrainingFailed: when no EM session can run, with each session's reason.
    """
    prepared = prepare(records)
    untrained: dict[str, Any] = _linker(prepared, settings()).misc.save_model_to_json()
    prior = _sure_prior(prepared, untrained)
    if prior is not None:  # otherwise the settings' own prior stands
        untrained["probability_two_random_records_match"] = prior
    linker = _linker(prepared, untrained, log_level=logging.WARNING)
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    skipped: list[str] = []
    for block in EM_BLOCKS:
        name = f"EM on pairs sharing {' and '.join(block)}"
        pairs = block_pairs(prepared, block)
        if pairs < MIN_EM_PAIRS:
            skipped.append(f"{name}: {pairs} pair(s) in its block, fewer than {MIN_EM_PAIRS}")
            continue
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(block_on(*block))
        except (SplinkException, ValueError, ArithmeticError) as exc:
            # A failed session leaves the model as it was before the session began.
            skipped.append(f"{name}: {_reason(exc)}")
    if len(skipped) == len(EM_BLOCKS):
        raise TrainingFailed("no EM session could run: " + "; ".join(skipped))
    model: dict[str, Any] = linker.misc.save_model_to_json()
    return Trained(model, skipped)


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
    prior = _sure_prior(prepare(records), fitted)
    if prior is not None:
        fitted["probability_two_random_records_match"] = prior
    return fitted
