"""Benchmark: train on a world's current person records, link them (median of several
runs), and score pairs and persons against the truth; optionally against a baseline of
Splink with its default comparisons, in the same run. Pairs are scored twice: the links
the product keeps (those the clustering refused left out), and every pair at the threshold.

    .venv/bin/python bench/link.py --warehouse data/warehouse.duckdb --world data/world \
        [--runs 3] [--baseline]

It also says what the true pairs have to go on: how many blocking brings together, and
how many share nothing but a name, which no threshold can link without linking namesakes.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import duckdb
import polars as pl

from matching.evaluate import cluster_scores, kept_pair_scores, pair_scores
from matching.link import SURE_RECALL, SURE_RULES, link, train
from matching.prepare import prepare

IDS = ("nhs_number", "upn", "ni_number")


def main() -> None:
    """Train, link and score; print figures with the data size."""
    p = argparse.ArgumentParser()
    p.add_argument("--warehouse", type=Path, default=Path("data/warehouse.duckdb"))
    p.add_argument("--world", type=Path, default=Path("data/world"))
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--runs", type=int, default=3, help="links to time (the median is quoted)")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also run Splink with plain default comparisons on the same records",
    )
    p.add_argument(
        "--save", type=Path, help="write the scored pairs and clusters here, for a closer look"
    )
    args = p.parse_args()
    con = duckdb.connect(str(args.warehouse), read_only=True)
    records = con.sql("SELECT * FROM person_records WHERE valid_to IS NULL").pl()
    con.close()
    t0 = time.perf_counter()
    model = train(records).model
    trained = time.perf_counter() - t0
    times = []
    for _ in range(args.runs):
        t1 = time.perf_counter()
        linked = link(records, model, args.threshold)
        times.append(time.perf_counter() - t1)
    took = statistics.median(times)
    prepared = prepare(records)
    truth = prepared.select("unique_id", "source_record_id").join(
        pl.read_parquet(args.world / "truth" / "records.parquet").select(
            "source_record_id", "person_id"
        ),
        on="source_record_id",
    )
    print(f"{records.height:,} person records from {records['source'].n_unique()} sources")
    print(
        f"train {trained:.1f} s; link (predict + cluster) median {took:.1f} s of "
        f"{', '.join(f'{t:.1f}' for t in times)}; train + link {trained + took:.1f} s; "
        f"{linked.pairs.height:,} pairs scored; peak "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
    )
    kept = kept_pair_scores(linked.pairs, truth, args.threshold)
    raw = pair_scores(linked.pairs, truth, args.threshold)
    print(f"pairs at {args.threshold}, links kept (clustering refused none of them): {kept.line()}")
    print(f"pairs at {args.threshold}, raw (every pair at the threshold):           {raw.line()}")
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        linked.pairs.write_parquet(args.save / "pairs.parquet")
        linked.clusters.write_parquet(args.save / "clusters.parquet")
        prepared.write_parquet(args.save / "prepared.parquet")
    ours = cluster_scores(linked.clusters, truth)
    print(f"clusters at {args.threshold}: {ours.line()}")
    _evidence(prepared, truth, linked.pairs)
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
            f"time {(trained + took) / (b1 - b0):.2f}"
        )


def _evidence(prepared: pl.DataFrame, truth: pl.DataFrame, pairs: pl.DataFrame) -> None:
    """What the true pairs have to go on: blocked at all, and anything beyond a name."""
    rec = prepared.select("unique_id", "dob", "postcode", "uprn", *IDS).join(
        truth.select("unique_id", "person_id"), on="unique_id"
    )
    true = rec.join(rec, on="person_id", suffix="_r").filter(
        pl.col("unique_id") < pl.col("unique_id_r")
    )

    def shared(column: str) -> pl.Expr:
        return (pl.col(column) == pl.col(f"{column}_r")).fill_null(False)

    beyond_name = (
        pl.any_horizontal(shared(c) for c in (*IDS, "postcode", "uprn"))
        | (pl.col("dob").is_not_null() & pl.col("dob_r").is_not_null())
    ).alias("beyond_name")
    scored = pairs.select(
        pl.min_horizontal("unique_id_l", "unique_id_r").alias("unique_id"),
        pl.max_horizontal("unique_id_l", "unique_id_r").alias("unique_id_r"),
        pl.lit(True).alias("scored"),
    )
    true = true.with_columns(beyond_name).join(scored, on=["unique_id", "unique_id_r"], how="left")
    blocked = true["scored"].is_not_null().sum()
    only_name = true.height - true["beyond_name"].sum()
    print(
        f"true pairs {true.height:,}: {blocked / true.height:.2%} brought together by blocking; "
        f"{only_name:,} ({only_name / true.height:.2%}) share nothing but a name (no shared "
        "identifier or address, and a date of birth missing on one side)"
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
    # The same training as ours: the prior from pairs linked for sure, u, then EM.
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*columns) for columns in SURE_RULES], recall=SURE_RECALL
    )
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
