"""Benchmark (work in progress for issue 4): link a world's current person records and
score the persons against the truth.

    .venv/bin/python bench/link.py --warehouse data/warehouse.duckdb --world data/world
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import duckdb
import polars as pl

from matching.evaluate import cluster_scores, pair_scores
from matching.link import link, train
from matching.prepare import prepare


def main() -> None:
    """Train, link and score; print figures with the data size."""
    p = argparse.ArgumentParser()
    p.add_argument("--warehouse", type=Path, default=Path("data/warehouse.duckdb"))
    p.add_argument("--world", type=Path, default=Path("data/world"))
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also run Splink with plain default comparisons on the same records",
    )
    args = p.parse_args()
    con = duckdb.connect(str(args.warehouse), read_only=True)
    records = con.sql("SELECT * FROM person_records WHERE valid_to IS NULL").pl()
    con.close()
    t0 = time.perf_counter()
    model = train(records).model
    t1 = time.perf_counter()
    linked = link(records, model, args.threshold)
    t2 = time.perf_counter()
    truth = (
        prepare(records)
        .select("unique_id", "source_record_id")
        .join(
            pl.read_parquet(args.world / "truth" / "records.parquet").select(
                "source_record_id", "person_id"
            ),
            on="source_record_id",
        )
    )
    print(f"{records.height:,} person records from {records['source'].n_unique()} sources")
    print(
        f"train {t1 - t0:.1f} s; predict {linked.seconds['predict']:.1f} s; cluster "
        f"{linked.seconds['cluster']:.1f} s; total {t2 - t0:.1f} s; {linked.pairs.height:,} "
        f"pairs scored; peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
    )
    print(
        f"pairs at {args.threshold}:    {pair_scores(linked.pairs, truth, args.threshold).line()}"
    )
    ours = cluster_scores(linked.clusters, truth)
    print(f"clusters at {args.threshold}: {ours.line()}")
    if args.baseline:
        b0 = time.perf_counter()
        pairs, clusters = _baseline(records, args.threshold)
        b1 = time.perf_counter()
        theirs = cluster_scores(clusters, truth)
        print(f"baseline (default comparisons, connected components): {b1 - b0:.1f} s")
        print(f"  pairs:    {pair_scores(pairs, truth, args.threshold).line()}")
        print(f"  clusters: {theirs.line()}")
        print(
            f"ratios, ours to baseline: cluster F1 {ours.f1 / theirs.f1:.3f}; "
            f"time {(t2 - t0) / (b1 - b0):.2f}"
        )


def _baseline(records: pl.DataFrame, threshold: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Splink out of the box: library comparisons, the same blocking, connected components."""
    import logging

    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from matching.model import blocking_rules

    prepared = prepare(records)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("last_name"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode"),
            cl.ExactMatch("sex"),
            cl.ExactMatch("nhs_number"),
            cl.ExactMatch("upn"),
            cl.ExactMatch("ni_number"),
        ],
        blocking_rules_to_generate_predictions=blocking_rules(),
    )
    db = DuckDBAPI()
    linker = Linker(db.register(prepared.to_arrow()), settings, log_level=logging.WARNING)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "last_name")
    )
    predictions = linker.inference.predict(threshold_match_probability=0.01)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    pairs = (
        predictions.as_duckdbpyrelation()
        .pl()
        .select("unique_id_l", "unique_id_r", "match_probability")
    )
    return pairs, clusters.as_duckdbpyrelation().pl().select("unique_id", "cluster_id")


if __name__ == "__main__":
    main()
