"""Benchmark: how long a council-size world takes to write, and its peak memory.

Each run is a fresh process (so peak memory is that run's own), repeated; the baseline is
the default demo world measured in the same session, so the ratio shows how the cost
scales with size on whatever machine this runs on.

    .venv/bin/python bench/world.py --people 300000 --nights 3 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUN_ONE = """
import json, resource, sys, time
from pathlib import Path
from world.config import WorldConfig
from world.generate import generate
people, nights, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
t0 = time.perf_counter()
report = generate(WorldConfig(people=people, nights=nights), out)
seconds = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
rows = sum(report.rows_per_night.values())
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "rows": rows,
                  "rows_per_night": list(report.rows_per_night.values()),
                  "stages": report.stages}))
"""


def run(people: int, nights: int, scratch: Path) -> dict[str, object]:
    """Make one world in a child process; return its timing, memory and size."""
    out = scratch / f"w{people}"
    done = subprocess.run(
        [sys.executable, "-c", RUN_ONE, str(people), str(nights), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    size = sum(p.stat().st_size for p in (out / "extracts").rglob("*") if p.is_file())
    shutil.rmtree(out)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["extract_bytes"] = size
    return result


def main() -> None:
    """Measure the council-size world against the default world, several runs each."""
    p = argparse.ArgumentParser()
    p.add_argument("--people", type=int, default=300_000)
    p.add_argument("--nights", type=int, default=3)
    p.add_argument("--baseline-people", type=int, default=20_000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="jbench") as tmp:
        scratch = Path(tmp)
        results: dict[int, list[dict[str, object]]] = {args.baseline_people: [], args.people: []}
        for i in range(args.runs):
            for people, runs in results.items():
                r = run(people, args.nights, scratch)
                runs.append(r)
                print(
                    f"run {i + 1}: {people:>9,} people, {args.nights} nights: "
                    f"{r['seconds']:6.1f} s, "
                    f"peak {r['peak_mb']:7.0f} MB, {r['rows']:,} source rows, "
                    f"{int(r['extract_bytes']) / 1e6:.0f} MB of extracts"
                )
    med = {k: statistics.median(float(r["seconds"]) for r in v) for k, v in results.items()}
    peak = {k: max(float(r["peak_mb"]) for r in v) for k, v in results.items()}
    big = results[args.people][0]
    print(
        f"median of {args.runs}: {args.people:,} people in {med[args.people]:.1f} s "
        f"({big['rows_per_night']} source rows a night), peak {peak[args.people]:.0f} MB; "
        f"baseline {args.baseline_people:,} people in {med[args.baseline_people]:.1f} s; "
        f"time ratio {med[args.people] / med[args.baseline_people]:.1f} for "
        f"{args.people / args.baseline_people:.0f}x the people"
    )
    print(f"stages of the first large run (s): {big['stages']}")


if __name__ == "__main__":
    main()
