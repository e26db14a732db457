"""Benchmark: train the risk models on a linked warehouse, then score its newest night.

Scoring a night is the nightly cost: features for every linked person, both as-of the
night, the model's probabilities and exact reasons, bands, indicators, the change since
the last score, and writing `scores`. It is timed several times (the median is quoted);
training is timed once. Works on a copy of the warehouse.

    .venv/bin/python bench/risk.py --warehouse W [--world DIR] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb


def main() -> None:
    """Train once, score the newest night several times; print figures with the sizes."""
    p = argparse.ArgumentParser()
    p.add_argument("--warehouse", type=Path, required=True)
    p.add_argument("--world", type=Path, help="a synthetic world, to judge against its truth")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jrisk"))
    os.environ["JOINEDUP_DATA"] = str(tmp)
    from pipelines.environment import models_dir
    from risk_models import score_night, train_risk
    from risk_models.features import feature_names, newest_night

    warehouse = tmp / "warehouse.duckdb"
    shutil.copy(args.warehouse, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    night = newest_night(con)
    events = con.execute("SELECT count(*) FROM events WHERE valid_to IS NULL").fetchall()[0][0]
    con.close()
    t = time.perf_counter()
    trained = train_risk(warehouse, models_dir(), world=args.world)
    print(f"trained in {time.perf_counter() - t:.1f} s")
    print("\n".join(trained.lines))
    times = []
    for run in range(args.runs):
        t = time.perf_counter()
        report = score_night(warehouse, night, trained.folder, again=True)
        times.append(time.perf_counter() - t)
        print(f"run {run + 1}: {report.line()}; {times[-1]:.1f} s wall")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"night {night}: {report.persons:,} persons, {events:,} current events, "
        f"{len(feature_names())} features; scoring median {statistics.median(times):.1f} s "
        f"of {', '.join(f'{s:.1f}' for s in times)}; peak {peak:,.0f} MB"
    )
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
