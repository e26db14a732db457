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
    args = p.parse_args()
    con = duckdb.connect(str(args.warehouse), read_only=True)
    records = con.sql("SELECT * FROM person_records WHERE valid_to IS NULL").pl()
    con.close()
    t0 = time.perf_counter()
    model = train(records)
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
    print(f"clusters at {args.threshold}: {cluster_scores(linked.clusters, truth).line()}")


if __name__ == "__main__":
    main()
