"""Benchmark: a full linkage night against an incremental one, and how stable ids are.

Links the first night in full, then the second night from that state, in full and
incrementally, several times each (medians quoted). Prints both times and their ratio,
the share of records whose record did not change that keep their person id, and the
clusters' scores against the truth.

    .venv/bin/python bench/link_nights.py --warehouse W --world DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl

from matching.evaluate import cluster_scores, kept_pair_scores, pair_scores


def main() -> None:
    """Time full and incremental linkage of a second night."""
    p = argparse.ArgumentParser()
    p.add_argument("--warehouse", type=Path, required=True)
    p.add_argument("--world", type=Path, required=True)
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--runs", type=int, default=3, help="times to link night 2 each way")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jlink"))
    os.environ["JOINEDUP_DATA"] = str(tmp)
    from matching import link_night, train_model
    from pipelines.environment import models_dir

    base = tmp / "base.duckdb"
    shutil.copy(args.warehouse, base)
    con = duckdb.connect(str(base))
    for table in ("persons", "person_history", "linkage_runs", "linkage_pairs", "households"):
        con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()
    nights = [r[0] for r in con.execute("SELECT DISTINCT night FROM loads ORDER BY 1").fetchall()]
    con.close()
    first, second = nights[0], nights[1]
    t = time.perf_counter()
    model = train_model(base, models_dir())
    print(f"trained in {time.perf_counter() - t:.1f} s")
    report = link_night(base, first, model, args.threshold)
    print(f"night {first} (full): {report.line()}")
    results: dict[str, tuple[Path, list[float]]] = {}
    for run in range(args.runs):
        for mode in ("full", "incremental"):
            path = tmp / f"{mode}.duckdb"
            shutil.copy(base, path)
            t = time.perf_counter()
            report = link_night(
                path, second, model, args.threshold, incremental=mode == "incremental"
            )
            seconds = time.perf_counter() - t
            print(f"run {run + 1}, night {second} ({mode}): {report.line()}; {seconds:.1f} s wall")
            results.setdefault(mode, (path, []))[1].append(seconds)
    full = statistics.median(results["full"][1])
    incremental = statistics.median(results["incremental"][1])
    # Each run's full and incremental nights are timed one after the other, so their ratio
    # is less moved by a machine whose speed drifts over minutes than the medians' ratio.
    ratios = [i / f for f, i in zip(results["full"][1], results["incremental"][1], strict=True)]
    print(
        f"medians of {args.runs}: full {full:.1f} s, incremental {incremental:.1f} s; "
        f"incremental / full: {incremental / full:.1%}; per run: "
        + ", ".join(f"{r:.1%}" for r in ratios)
        + f" (median {statistics.median(ratios):.1%})"
    )
    for mode, (path, _) in results.items():
        _scores(path, args.world, first, second, mode, args.threshold)
    shutil.rmtree(tmp)


def _scores(
    path: Path, world: Path, first: dt.date, second: dt.date, mode: str, threshold: float
) -> None:
    con = duckdb.connect(str(path), read_only=True)
    at = (
        "SELECT unique_id, source_record_id, person_id FROM persons"
        " WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
    )
    before = con.sql(at, params=[first, first]).pl()
    after = con.sql(at, params=[second, second]).pl()
    changed = con.sql(
        "SELECT c.source || ':' || c.record_key AS unique_id FROM changes c JOIN loads l"
        " USING (load_id) WHERE l.night = ? AND c.contract = 'person_records'",
        params=[second],
    ).pl()
    pairs = con.sql(
        "SELECT unique_id_l, unique_id_r, match_probability, refused_by_clustering"
        " FROM linkage_pairs"
    ).pl()
    con.close()
    same = before.join(after, on="unique_id", suffix="_next").join(
        changed, on="unique_id", how="anti"
    )
    kept = (same["person_id"] == same["person_id_next"]).mean()
    truth = after.join(
        pl.read_parquet(world / "truth" / "records.parquet").select(
            "source_record_id", "person_id"
        ),
        on="source_record_id",
        suffix="_true",
    )
    scores = cluster_scores(
        after.select("unique_id", pl.col("person_id").alias("cluster_id")),
        truth.select("unique_id", pl.col("person_id_true").alias("person_id")),
    )
    print(
        f"{mode}: {same.height:,} unchanged records, {kept:.2%} keep their person id; "
        f"clusters {scores.line()}"
    )
    labels = truth.select("unique_id", pl.col("person_id_true").alias("person_id"))
    print(f"{mode}: linkage_pairs, links kept: {kept_pair_scores(pairs, labels, threshold).line()}")
    print(f"{mode}: linkage_pairs, raw:        {pair_scores(pairs, labels, threshold).line()}")


if __name__ == "__main__":
    main()
