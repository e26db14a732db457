"""What a `link files` run fell back on, in one list, each with what the analyst can do.

Training on extracts nobody tuned for meets gaps: no pair linked for sure to set the
prior by, comparisons no EM session could train, sessions a block cannot support, levels
no session saw a pair at. Each is a figure the run assumed rather than learned. They are
gathered here (`Fallback`) and printed together at the end of the run, and a run that
links nothing says why. Nothing here names a person: comparisons, levels and counts only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from matching.any_extracts import Prior
from matching.link import Trained

LABEL_PAIRS = (
    "label some pairs (`joinedup link review`, or the tuning notebook on this folder) and "
    "give them as linkage.labels"
)


@dataclass(frozen=True)
class Fallback:
    """One thing a run assumed rather than learned."""

    what: str  # prior, m, session, levels, threshold, first names
    said: str  # what happened, in words
    do: str = ""  # what the analyst can do about it

    def line(self) -> str:
        """One line for the terminal."""
        return f"{self.what}: {self.said}" + (f". What to do: {self.do}" if self.do else "")

    def as_dict(self) -> dict[str, str]:
        """As written to `summary.json`."""
        return asdict(self)


def of_prior(prior: Prior) -> list[Fallback]:
    """The prior, where the pairs linked for sure could not give it."""
    if prior.method == "sure rules":
        return []
    return [Fallback("prior", prior.said(), prior.do)]


def _levels(model: dict[str, Any], skip: set[str]) -> tuple[list[str], dict[str, int]]:
    """Levels with no trained m that pairs reach (Splink's default m), and by comparison
    how many levels no pair of these records reaches at all (no u either)."""
    defaulted: list[str] = []
    never: dict[str, int] = {}
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        if name in skip:
            continue
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level") or level.get("m_probability") is not None:
                continue
            if level.get("u_probability") is None:
                never[name] = never.get(name, 0) + 1
            else:
                defaulted.append(f"{name} '{level.get('label_for_charts', '')}'")
    return defaulted, never


def of_training(trained: Trained, task: str) -> list[Fallback]:
    """What training could not learn, and where it took those figures from instead."""
    found = [Fallback("session skipped", why) for why in trained.skipped]
    for name, session in trained.from_fallback.items():
        found.append(
            Fallback(
                "m from another session",
                f"m of {name} trained by {session}, as none of the usual sessions could "
                "(there is no NHS-number block)"
                if name == "last_name"
                else f"m of {name} trained by {session}, as none of the usual sessions could",
            )
        )
    if trained.from_labels:
        found.append(
            Fallback(
                "m from labels",
                f"m of {', '.join(trained.from_labels)} estimated from the labelled matches: "
                "no EM session could train them",
            )
        )
    if trained.defaulted:
        whom = "person" if task == "persons" else "household"
        found.append(
            Fallback(
                "m not trained",
                f"m of {', '.join(trained.defaulted)}: Splink's defaults (0.95 of one {whom}'s "
                "pairs agree exactly, the rest spread evenly), as no EM session could train "
                "them (see the sessions skipped); links lean on assumed figures",
                f"check some pairs: {LABEL_PAIRS}; or link with a saved model (--model)",
            )
        )
    defaulted, never = _levels(trained.model, set(trained.defaulted))
    if trained.unseen_warnings or defaulted:
        said = (
            f"Splink warned {trained.unseen_warnings} time(s) of a level an EM session saw "
            f"no pair at, in {', '.join(trained.unseen) or 'no comparison'} (not shown above)"
        )
        if defaulted:
            said += (
                f"; {len(defaulted)} level(s) were seen in no session and keep Splink's "
                f"default m: {', '.join(defaulted)}"
            )
        if never:
            said += "; no pair of these records reaches " + ", ".join(
                f"{n} level(s) of {name}" for name, n in never.items()
            )
            said += " (one side has no value), so they count neither way"
        found.append(
            Fallback(
                "levels not seen",
                said,
                f"rare levels matter little; where one does, {LABEL_PAIRS}" if defaulted else "",
            )
        )
    return found


def of_first_names(varied: dict[str, str | tuple[int, int]]) -> list[Fallback]:
    """The sources whose first names were weighed, not a veto, and why."""
    found = []
    for source, why in varied.items():
        if isinstance(why, str):
            said = f"{source}'s first names are weighed, not a veto (linkage.first_names_vary)"
        else:
            refused, counted = why
            said = (
                f"{source}'s first names are weighed, not a veto: {refused:,} of {counted:,} "
                "of its pairs that the rest of the evidence links for sure have first names "
                "no nickname, short form or spelling explains"
            )
        found.append(Fallback("first names vary", said))
    return found


def of_threshold(pairs: pl.DataFrame, threshold: float, prior: Prior) -> list[Fallback]:
    """Why nothing linked, where nothing did.

    Args:
        pairs: `match_probability`, `match_weight`, `refused_by_clustering` of every pair.
        threshold: the run's threshold.
        prior: the run's prior.
    """
    above = pairs.filter(pl.col("match_probability") >= threshold)
    if above.height and not above["refused_by_clustering"].all():
        return []
    if above.height:
        return [
            Fallback(
                "0 links",
                f"all {above.height:,} pairs at or above the threshold were refused by the "
                "clustering: each would have joined records with different identifiers, "
                "birth dates no slip explains, or first names that do not fit",
                "see refused_by_clustering in pairs.csv; if a source varies first names, "
                "name it in linkage.first_names_vary",
            )
        ]
    if not pairs.height:
        return [
            Fallback(
                "0 links",
                "no pair was scored: no blocking rule brought two records together (they "
                "need a shared name, date of birth, postcode, address line or identifier)",
                "check that the config maps names, dates of birth and addresses onto the "
                "same fields in every source",
            )
        ]
    prior_w = math.log2(prior.value / (1 - prior.value))
    needed = math.log2(threshold / (1 - threshold)) - prior_w
    best = pairs.sort("match_weight", descending=True, nulls_last=True).row(0, named=True)
    return [
        Fallback(
            "0 links",
            f"0 of {pairs.height:,} scored pairs at or above the threshold {threshold}: the "
            f"best scored {best['match_probability']:.3g}. With the prior at {prior.value:.3g} "
            f"({prior.method}) a pair needs evidence of {needed:.1f} bits to reach the "
            f"threshold, and the most any pair had was {best['match_weight'] - prior_w:.1f}",
            "lower --threshold (`joinedup link evaluate --run` on this folder, or the "
            "tuning notebook, shows what each would link); check the prior above; " + LABEL_PAIRS,
        )
    ]
