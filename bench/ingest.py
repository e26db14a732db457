"""Benchmark: extract and standardise a council-size night, then load it again unchanged.

Makes (or reuses) a world, serves its police API on loopback from a separate process (as
the force's server would be), and in each run loads the
first night into a new warehouse, then loads the same night again (the unchanged case).
Prints rows per second end to end, the ratio of the reload to the first load, and peak
memory. Each run is a fresh process. With `--baseline REV`, the same runs are made on that
commit's code too (taken out with `git archive`), alternating with this checkout's, and the
ratio of the two throughputs is printed: both measured in one sitting on one world.

    .venv/bin/python bench/ingest.py --world /tmp/w300 --people 300000 --runs 3
    .venv/bin/python bench/ingest.py --world /tmp/w300 --runs 5 --baseline HEAD~1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

RUN_ONE = """
import datetime as dt, json, os, resource, sys, time
from pathlib import Path
from connectors.config import load_sources
from connectors.ingest import ingest_night
from connectors.warehouse import Warehouse
world, night, warehouse = Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]), Path(sys.argv[3])
os.environ["JOINEDUP_WORLD"] = str(world)
sources = load_sources(Path("pipelines/config/sources.yaml"))
wh = Warehouse(warehouse)
t0 = time.perf_counter()
first = ingest_night(wh, sources, night)
wh.run("CHECKPOINT")  # the first load's data written to the file, not left to the reload
t1 = time.perf_counter()
again = ingest_night(wh, sources, night)
t2 = time.perf_counter()
wh.close()
failed = [r.line() for r in first + again if r.status == "failed"]
print(json.dumps({
    "first_s": t1 - t0, "again_s": t2 - t1, "rows": sum(r.rows_in for r in first),
    "quarantined": sum(r.rows_quarantined for r in first), "failed": failed,
    "per_source": {r.source: round(r.seconds, 2) for r in first},
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def main() -> None:
    """Run the ingest benchmark several times and print medians."""
    p = argparse.ArgumentParser()
    p.add_argument("--world", type=Path, default=Path("/tmp/jbench-world"))
    p.add_argument("--people", type=int, default=300_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--baseline", help="a commit whose code is measured in the same sitting")
    args = p.parse_args()
    if not (args.world / "world.json").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pipelines.cli",
                "world",
                "--people",
                str(args.people),
                "--nights",
                "2",
                "--out",
                str(args.world),
            ],
            check=True,
        )
    manifest = json.loads((args.world / "world.json").read_text())
    night = manifest["nights"][0]["date"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"world: {manifest['people_first_night']:,} people, night {night}")
    port = _free_port()
    env = {
        **os.environ,
        "JOINEDUP_POLICE_TOKEN": "bench",
        "JOINEDUP_POLICE_URL": f"http://127.0.0.1:{port}",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "police-api",
            "--world",
            str(args.world),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for(port)
        # The server reads a night's incidents on its first request: not ours to time.
        httpx.get(
            f"http://127.0.0.1:{port}/api/v1/incidents",
            params={"extractDate": night},
            headers={"Authorization": "Bearer bench"},
            timeout=60,
        ).raise_for_status()
        with tempfile.TemporaryDirectory(prefix="jbench-code") as base:
            codes = {"this checkout": Path.cwd()}
            if args.baseline:
                codes = {f"baseline {args.baseline}": _checkout(args.baseline, Path(base)), **codes}
            results = _runs(args, night, env, codes)
    finally:
        server.terminate()
        server.wait(timeout=10)
    speeds = {}
    for label, found in results.items():
        first = statistics.median(r["first_s"] for r in found)
        again = statistics.median(r["again_s"] for r in found)
        rows = found[0]["rows"]
        speeds[label] = rows / first
        print(
            f"{label}, median of {args.runs}: {rows:,} rows in {first:.1f} s = "
            f"{rows / first:,.0f} rows/s; unchanged reload {again:.2f} s = {again / first:.1%} "
            f"of the first load; peak {max(r['peak_mb'] for r in found):,.0f} MB"
        )
    if args.baseline:
        ratio = speeds["this checkout"] / speeds[f"baseline {args.baseline}"]
        print(f"throughput, this checkout / baseline {args.baseline}: {ratio:.3f}")


def _checkout(rev: str, into: Path) -> Path:
    """A commit's files, for running its code beside this checkout's."""
    archive = subprocess.run(["git", "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the police API did not start")


def _runs(
    args: argparse.Namespace, night: str, env: dict[str, str], codes: dict[str, Path]
) -> dict[str, list[dict[str, Any]]]:
    """Each code's runs, taking turns so that a slow spell of the machine hits both."""
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in codes}
    for i in range(args.runs):
        for label, code in codes.items():
            with tempfile.TemporaryDirectory(prefix="jbench") as tmp:
                done = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        RUN_ONE,
                        str(args.world.resolve()),
                        night,
                        str(Path(tmp) / "w.duckdb"),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**env, "PYTHONPATH": str(code)},
                    cwd=code,
                )
            r = json.loads(done.stdout.strip().splitlines()[-1])
            results[label].append(r)
            print(
                f"{label}, run {i + 1}: {r['rows']:,} source rows; first load "
                f"{r['first_s']:.1f} s ({r['rows'] / r['first_s']:,.0f} rows/s); unchanged "
                f"reload {r['again_s']:.2f} s ({r['again_s'] / r['first_s']:.1%}); peak "
                f"{r['peak_mb']:,.0f} MB; quarantined {r['quarantined']}; failed {r['failed']}"
            )
            print(f"       seconds per source: {r['per_source']}")
    return results


if __name__ == "__main__":
    main()
