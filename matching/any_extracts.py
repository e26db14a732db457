"""A linkage model set for any extracts an analyst brings, and for the mode they ask.

The prior belongs to the data as much as to the model: it is far higher between two small
extracts than across the council's records, and higher across sources than within one.
`fit_to_mode` sets a model for linking across sources only (Splink's `link_only`) or for
every pair (`dedupe_only`), with the prior estimated on the records at hand. Training
itself is `matching.link.train`, which skips the EM sessions small extracts cannot support.

The prior comes from pairs linked for sure (an identifier, full name and birth date, or
full name at one house number and street) where such a rule can link every pair of
sources the mode scores. Where it cannot (a source without a date of birth or an address
line), those pairs would be missing from the count and the prior far too low; it is then
estimated by EM over the scored pairs instead (`em_prior`), with the trained m and u held.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from matching.link import TASKS, _linker, sure_prior
from matching.prepare import prepare, present_columns

LINK_TYPES = {"link": "link_only", "dedupe": "dedupe_only"}
# EM on the prior alone: iterations at most, and the relative change that counts as settled.
PRIOR_ITERATIONS = 200
PRIOR_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Prior:
    """The prior a run used, how it was found, and what the analyst can do about it."""

    value: float
    method: Literal["sure rules", "EM over scored pairs", "model's own"]
    why: str = ""  # why the sure rules were not used, if they were not
    do: str = ""  # what would give a better figure, if anything
    sure_value: float | None = None  # what the sure rules gave, where they ran but fell short

    def said(self) -> str:
        """The prior, how it was found, and why not from the sure rules."""
        if self.method == "sure rules":
            return f"prior {self.value:.3g}, estimated from the pairs these records link for sure"
        how = (
            "estimated by EM over the scored pairs (m and u as trained)"
            if self.method == "EM over scored pairs"
            else "the model's own"
        )
        return f"prior {self.value:.3g}, {how}: {self.why}"

    def line(self) -> str:
        """One line for `summary.json`: what `said` says, and what the analyst can do."""
        return f"{self.said()}; {self.do}" if self.do else self.said()


def _pairs_of_sources(sources: list[str], mode: str) -> list[tuple[str, str]]:
    if mode == "link":
        return list(itertools.combinations(sources, 2))
    return list(itertools.combinations_with_replacement(sources, 2))


def uncovered(
    prepared: pl.DataFrame, rules: tuple[tuple[str, ...], ...], mode: str
) -> list[tuple[str, str, list[str]]]:
    """The pairs of sources that no sure rule can link, with what each source lacks.

    A sure rule can link records of two sources only where both hold a value in each of
    its columns. Returns (source, source, columns the pair lacks) for each pair of sources
    the mode scores that no rule covers.
    """
    sources = sorted(set(prepared["source"]))
    present = {
        s: present_columns(prepared.filter(pl.col("source") == s).drop("source")) for s in sources
    }
    gaps = []
    for a, b in _pairs_of_sources(sources, mode):
        both = present[a] & present[b]
        if not any(set(rule) <= both for rule in rules):
            wanted = sorted({c for rule in rules for c in rule} - both)
            gaps.append((a, b, wanted))
    return gaps


def _comparisons(prepared: pl.DataFrame, mode: str) -> int:
    """How many pairs the mode scores before blocking: every pair, or every pair across."""
    sizes = prepared.group_by("source").len()["len"].to_list()
    total = sum(sizes)
    if mode == "dedupe":
        return int(total * (total - 1) // 2)
    return int((total * total - sum(n * n for n in sizes)) // 2)


def em_prior(prepared: pl.DataFrame, model: dict[str, Any], mode: str) -> tuple[float, int] | None:
    """The prior as EM finds it over every pair the blocking rules bring together.

    The m and u probabilities are held as trained, and only the share of matches moves:
    each round, the prior is the expected number of matches among the scored pairs (each
    pair's match probability at the current prior) over every pair the mode could score.
    Pairs no rule brings together count as non-matches, so the figure is a little low
    where blocking misses true pairs.

    Returns:
        The prior and the number of pairs it was estimated over; None where no scored pair
        has any weight of evidence for a match.
    """
    start = float(model["probability_two_random_records_match"])
    # Pairs with less evidence than this add next to nothing (each counts below the prior
    # an eighth), and leaving them out of the prediction saves most of its time.
    floor = math.log2(start / (1 - start)) - 3
    predictions = _linker(prepared, model).inference.predict(threshold_match_weight=floor)
    weights = predictions.as_duckdbpyrelation().select("match_weight").pl()["match_weight"]
    # A pair's Bayes factor is its match weight less the prior's own weight.
    log2_bf = weights - math.log2(start / (1 - start))
    n = _comparisons(prepared, mode)
    if not weights.len() or n == 0 or log2_bf.max() <= 0:  # type: ignore[operator]
        return None
    bf = (2.0**log2_bf).to_numpy()
    prior = start
    for _ in range(PRIOR_ITERATIONS):
        odds = prior / (1 - prior) * bf
        new = float((odds / (1 + odds)).sum()) / n
        if new <= 0.0:
            return None
        settled = abs(new - prior) <= PRIOR_TOLERANCE * prior
        prior = min(new, 0.5)
        if settled:
            break
    return prior, int(weights.len())


def fit_to_mode(
    records: pl.DataFrame,
    model: dict[str, Any],
    mode: Literal["link", "dedupe"],
    task: str = "persons",
) -> tuple[dict[str, Any], Prior]:
    """The model set to link across sources only, or to score every pair, with its prior.

    The prior is estimated on these records as training does (pairs that an identifier,
    full name and birth date, or full name at one house number and street link for sure,
    at an assumed recall of 0.7), counting only the pairs the mode scores. Where no sure
    rule can link some pair of sources (one of them has no date of birth and no address
    line), or no pair is linked for sure, the prior is estimated by EM over the scored
    pairs (`em_prior`); where that finds nothing either, the model's prior is kept.

    Returns:
        The fitted model, and its prior with where it came from.
    """
    fitted = copy.deepcopy(model)
    fitted["link_type"] = LINK_TYPES[mode]
    fitted["source_dataset_column_name"] = "source"
    prepared = prepare(records)
    rules = TASKS[task].sure_rules
    gaps = uncovered(prepared, rules, mode)
    sure = sure_prior(prepared, fitted, task)
    if sure is not None and not gaps:
        fitted["probability_two_random_records_match"] = sure
        return fitted, Prior(sure, "sure rules")
    if gaps:
        why = "no sure rule can link " + "; ".join(
            f"{a} with {b}" + (f" (no {', '.join(lacks)} on both)" if lacks else "")
            for a, b, lacks in gaps
        )
        if sure is not None:
            why += f" (the sure rules alone gave {sure:.3g}, counting no such pair)"
    else:
        why = (
            "no pair of these records is linked for sure (no shared identifier, and no "
            "full name with a date of birth or at one house number and street)"
        )
    do = (
        "check it: label some pairs (`joinedup link review`) and give them as "
        "linkage.labels, or give a date of birth or an address line on both sides"
    )
    found = em_prior(prepared, fitted, mode)
    if found is not None:
        prior, scored = found
        fitted["probability_two_random_records_match"] = prior
        return fitted, Prior(
            prior, "EM over scored pairs", f"{why}; over {scored:,} pairs", do, sure
        )
    kept = float(fitted["probability_two_random_records_match"])
    return fitted, Prior(
        kept,
        "model's own",
        f"{why}, and no scored pair has evidence for a match",
        "links may be missed: " + do,
        sure,
    )
