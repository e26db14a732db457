"""Train the linkage model, score pairs and cluster records into persons, with Splink on DuckDB.

The backend is made here and passed in, as Splink wants: `DuckDBAPI` over an in-memory
DuckDB. Training estimates u by random sampling and m by EM on blocks that do not lean on
address, so the model learns "same person", not "same household".
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from dataclasses import dataclass
from typing import Any

import polars as pl
from splink import DuckDBAPI, Linker, block_on
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from matching.cluster import constrained_clusters
from matching.model import settings
from matching.prepare import LINKAGE_COLUMNS, prepare


@dataclass
class Linked:
    """Scored pairs and clusters of one linkage run."""

    pairs: pl.DataFrame  # unique_id_l, unique_id_r, match_probability, match_weight
    clusters: pl.DataFrame  # unique_id, cluster_id, source, source_record_id
    seconds: dict[str, float]


class ModelMismatch(ValueError):
    """A saved model that does not fit the linkage input; retrain it."""


def check_model_fits(model: dict[str, Any]) -> None:
    """Stop before any work if the model compares columns the linkage input does not have."""
    wanted: set[str] = set()
    for comparison in model.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            wanted |= set(re.findall(r"\b([a-z_]+)_[lr]\b", level.get("sql_condition", "")))
    missing = sorted(wanted - set(LINKAGE_COLUMNS))
    if missing:
        raise ModelMismatch(
            f"the saved model compares column(s) {missing} that the linkage input does not "
            f"have (it has {', '.join(LINKAGE_COLUMNS)}); retrain with `joinedup link train`"
        )


class BlockingTooWide(ValueError):
    """A blocking rule would make more pairs than the configured ceiling."""


def check_blocking(prepared: pl.DataFrame, model: dict[str, Any], ceiling: int) -> None:
    """Stop before scoring if any blocking rule would make more pairs than the ceiling.

    Counts are Splink's estimate from a 5% sample of records on each side of each rule.
    """
    rules = [
        r["blocking_rule"] if isinstance(r, dict) else str(r)
        for r in model.get("blocking_rules_to_generate_predictions", [])
    ]
    db = DuckDBAPI()
    table = db.register(prepared.to_arrow(), dataset_display_name="records")
    with warnings.catch_warnings():
        # A small sample for a narrow rule means few pairs: exactly what a ceiling allows.
        warnings.simplefilter("ignore", UserWarning)
        counts = count_comparisons_from_blocking_rules(
            table, blocking_rules=rules, link_type="dedupe_only"
        )
    for record in counts:
        if record["marginal_comparison_count"] > ceiling:
            raise BlockingTooWide(
                f"blocking rule {record['blocking_rule']!r} would make about "
                f"{record['marginal_comparison_count']:,} pairs, over the ceiling of "
                f"{ceiling:,}; narrow the rule or raise max_pairs_per_rule"
            )


def _linker(prepared: pl.DataFrame, model: Any, log_level: int = logging.ERROR) -> Linker:
    # Nightly runs log errors only; training shows Splink's warnings to the analyst.
    db = DuckDBAPI()
    table = db.register(prepared.to_arrow(), dataset_display_name="person_records")
    return Linker(table, model, log_level=log_level)


def train(records: pl.DataFrame, seed: int = 1, max_pairs: float = 5e6) -> dict[str, Any]:
    """Estimate the model's parameters from standardised person records; return its JSON."""
    linker = _linker(prepare(records), settings(), log_level=logging.WARNING)
    # The prior: pairs that national identifiers or full name and birth date link for sure.
    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("nhs_number"),
            block_on("ni_number"),
            block_on("upn"),
            block_on("first_name", "last_name", "dob"),
        ],
        recall=0.7,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    # Pairs that share an NHS number are nearly all one person: the only block that shows
    # how names and addresses differ between true matches, the surname's levels included.
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("nhs_number"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "last_name")
    )
    model: dict[str, Any] = linker.misc.save_model_to_json()
    return model


def link(
    records: pl.DataFrame,
    model: dict[str, Any],
    threshold: float,
    max_pairs_per_rule: int | None = None,
) -> Linked:
    """Score every blocked pair and cluster records whose links reach the threshold."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
    check_model_fits(model)
    t0 = time.perf_counter()
    prepared = prepare(records)
    if max_pairs_per_rule is not None:
        check_blocking(prepared, model, max_pairs_per_rule)
    linker = _linker(prepared, model)
    predictions = linker.inference.predict(threshold_match_probability=min(threshold, 0.01))
    t1 = time.perf_counter()
    pairs = (
        predictions.as_duckdbpyrelation()
        .pl()
        .select("unique_id_l", "unique_id_r", "match_probability", "match_weight")
    )
    clusters = constrained_clusters(prepared, pairs, threshold).join(
        prepared.select("unique_id", "source", "source_record_id"), on="unique_id"
    )
    t2 = time.perf_counter()
    return Linked(pairs, clusters, {"predict": t1 - t0, "cluster": t2 - t1})


def score_changes(
    records: pl.DataFrame, model: dict[str, Any], changed: set[str], previous_pairs: pl.DataFrame
) -> pl.DataFrame:
    """Tonight's scored pairs, scoring only what changed.

    New and changed records are scored among themselves and against every other record;
    last night's pairs between records that did not change are kept as they were. Term
    frequencies still come from all of tonight's records.

    Args:
        records: tonight's standardised person records (all of them).
        model: the trained model's JSON.
        changed: unique ids of records that are new or changed since the pairs were scored.
        previous_pairs: `unique_id_l`, `unique_id_r`, `match_probability`, `match_weight`.
    """
    check_model_fits(model)
    prepared = prepare(records)
    db = DuckDBAPI()
    everyone = db.register(prepared.to_arrow(), dataset_display_name="person_records")
    linker = Linker(everyone, model, log_level=logging.ERROR)
    for column in ("first_name", "last_name", "postcode"):
        linker.table_management.compute_tf_table(column)
    is_changed = pl.col("unique_id").is_in(list(changed))
    fresh = db.register(prepared.filter(is_changed).to_arrow(), dataset_display_name="changed")
    rest = db.register(prepared.filter(~is_changed).to_arrow(), dataset_display_name="unchanged")
    columns = ["unique_id_l", "unique_id_r", "match_probability", "match_weight"]
    scored = [
        linker.inference.predict_within(fresh, threshold_match_probability=0.01),
        linker.inference.predict_between(fresh, rest, threshold_match_probability=0.01),
    ]
    new_pairs = pl.concat([s.as_duckdbpyrelation().pl().select(columns) for s in scored])
    # Last night's pairs between records that are still here and did not change.
    stayed = prepared.filter(~is_changed).select("unique_id")
    kept = (
        previous_pairs.select(columns)
        .join(stayed.rename({"unique_id": "unique_id_l"}), on="unique_id_l", how="semi")
        .join(stayed.rename({"unique_id": "unique_id_r"}), on="unique_id_r", how="semi")
    )
    ordered = new_pairs.select(
        pl.min_horizontal("unique_id_l", "unique_id_r").alias("unique_id_l"),
        pl.max_horizontal("unique_id_l", "unique_id_r").alias("unique_id_r"),
        "match_probability",
        "match_weight",
    )
    tonight: pl.DataFrame = pl.concat([kept, ordered]).unique(
        ["unique_id_l", "unique_id_r"], keep="last"
    )
    return tonight
