"""Benchmark: the impact study on an alerted world, for several planted effects.

Takes a data folder made by `joinedup demo` (its world, warehouse and store, the nights
scored and alerted) and, for each planted hazard ratio, runs the study on the first
night (median of several runs for the time), printing each estimate with its interval
and the planted effect for the same people, and whether the interval holds it.

    JOINEDUP_DATA=/tmp/jcouncil JOINEDUP_ALERTS=/tmp/alerts-uncapped.yaml \\
        .venv/bin/joinedup demo --people 300000
    .venv/bin/python bench/impact.py --data /tmp/jcouncil --ratios 0.6 1 2 --runs 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

# This folder's alerts.py would stand in for the alerts package: look from the top.
sys.path[0] = str(Path(__file__).resolve().parents[1])


def main() -> None:
    """Time and check the study for each planted effect."""
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, required=True, help="a demo's data folder")
    p.add_argument("--ratios", type=float, nargs="+", default=[0.6, 1.0, 2.0])
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    import duckdb

    from insight.impact import study

    warehouse = args.data / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse), read_only=True)
    night = con.execute("SELECT min(night) FROM scores").fetchone()[0]  # type: ignore[index]
    con.close()
    store = f"sqlite:///{args.data / 'store.sqlite'}"
    for ratio in args.ratios:
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            found = study(
                warehouse, store, night, 0.15, world=args.data / "world", hazard_ratio=ratio
            )
            times.append(time.perf_counter() - t)
        print(
            f"hazard ratio {ratio}: {found.persons} people scored on {night}, "
            f"{found.alerted} alerted; study median {statistics.median(times):.1f} s of "
            + ", ".join(f"{s:.1f}" for s in times)
        )
        for d in found.discontinuities:
            stage = d.first_stage
            print(
                f"  discontinuity {d.threshold}: bandwidth {stage['bandwidth']:.3f}, "
                f"first stage jump {stage['jump']:.2f} (F {stage['f']:.0f})"
            )
        for e in found.estimates():
            truth = "" if e.truth is None else f" planted {e.truth:+.3f}"
            held = "" if e.truth is None else (" holds it" if e.contains(e.truth) else " MISSES")
            print(
                f"  {e.name}: {e.effect:+.3f} ({e.low:+.3f} to {e.high:+.3f}),"
                f" {e.alerted} alerted / {e.compared} compared;{truth}{held}"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:,.0f} MB")


if __name__ == "__main__":
    main()
