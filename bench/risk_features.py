"""Benchmark: risk features for every person linked on the newest night.

Each run is a fresh process that opens the warehouse read-only (no copy), builds the
features at the newest night's date, and reports its time and its peak memory (maximum
resident set size). Medians over the runs are quoted. With --baseline, a second (smaller)
warehouse is measured the same way in the same session.

    .venv/bin/python bench/risk_features.py --warehouse W [--baseline W2] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def one(warehouse: Path) -> dict[str, Any]:
    """Build the features once in this process; what it took."""
    import duckdb

    from risk_models.features import build_features, feature_names, newest_night

    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("SET enable_progress_bar = false").fetchall()
    night = newest_night(con)
    t = time.perf_counter()
    frame = build_features(con, night, night)
    seconds = time.perf_counter() - t
    events = con.execute(
        "SELECT count(*) FROM events WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
        [night, night],
    ).fetchall()[0][0]
    con.close()
    return {
        "night": night.isoformat(),
        "persons": frame.height,
        "features": len(feature_names()),
        "events": events,
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(warehouse: Path, runs: int) -> list[dict[str, Any]]:
    """`runs` fresh processes, each building the features once."""
    found = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--warehouse", str(warehouse), "--one"],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )
        found.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return found


def report(label: str, warehouse: Path, runs: list[dict[str, Any]]) -> None:
    """Print one warehouse's figures."""
    first = runs[0]
    secs = [r["seconds"] for r in runs]
    peaks = [r["peak_mb"] for r in runs]
    print(
        f"{label}: {warehouse} night {first['night']}: {first['persons']:,} persons,"
        f" {first['events']:,} event rows, {first['features']} features"
    )
    print(
        f"  features: median {statistics.median(secs):.2f} s over {len(secs)} runs"
        f" ({', '.join(f'{s:.2f}' for s in secs)}); peak memory {max(peaks):,.0f} MB"
        f" (median {statistics.median(peaks):,.0f} MB)"
    )


def main() -> None:
    """Time building features on a warehouse (and a baseline)."""
    p = argparse.ArgumentParser()
    p.add_argument("--warehouse", type=Path, required=True)
    p.add_argument("--baseline", type=Path, help="a second warehouse measured the same way")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.warehouse)))
        return
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )
    report("warehouse", args.warehouse, measure(args.warehouse, args.runs))
    if args.baseline:
        report("baseline", args.baseline, measure(args.baseline, args.runs))


if __name__ == "__main__":
    main()
