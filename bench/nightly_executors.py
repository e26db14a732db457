"""Benchmark: the nightly job under Dagster's multiprocess executor (a process a step, as
`dagster job launch` and `dagster job execute` run it) against the same job in one process
(`joinedup run`), on the same world, each through its own command in a new process.

Each repeat starts from an empty warehouse and a new Dagster instance (joinedup's
dagster.yaml) with the given models copied in, then runs the world's first `--nights`
nights one after another, each mode in turn. Every run must exit 0. Prints each night's
seconds (the command's wall clock, its start-up included) and the medians of the repeats'
totals.

    .venv/bin/python bench/nightly_executors.py --world data/world --models data/models
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The repository, not bench/, first on the path: bench/alerts.py is not the alerts package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

BIN = Path(sys.executable).parent
MODES = ("in_process", "multiprocess")


def _command(mode: str, night: dt.date) -> list[str]:
    if mode == "in_process":
        return [str(BIN / "joinedup"), "run", "--night", night.isoformat()]
    tags = json.dumps({"dagster/partition": night.isoformat()})
    job = ["-m", "pipelines.definitions", "-j", "nightly", "--tags", tags]
    return [str(BIN / "dagster"), "job", "execute", *job]


def _run(mode: str, night: dt.date, home: Path) -> float:
    from pipelines.defs.nights import add_nights
    from pipelines.nightly import dagster_instance

    with dagster_instance(home) as instance:  # as the night's arrival adds it
        add_nights(instance, [night])
    started = time.perf_counter()
    done = subprocess.run(
        _command(mode, night),
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{mode} {night}: exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    return seconds


def main() -> None:
    """Time the nightly job's nights under each executor, each night in a new process."""
    p = argparse.ArgumentParser()
    p.add_argument("--world", type=Path, required=True)
    p.add_argument("--models", type=Path, required=True, help="linkage-v1.json, risk-v1/ ...")
    p.add_argument("--nights", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = p.parse_args()
    world = args.world.resolve()
    from alerts.mailbox import LocalMailbox
    from world.config import WorldConfig
    from world.generate import load_config
    from world.police_api import BackgroundServer

    cfg: WorldConfig = load_config(world)
    nights = cfg.night_dates()[: args.nights]
    tmp = Path(tempfile.mkdtemp(prefix="jnightly"))
    os.environ.update({"JOINEDUP_WORLD": str(world), "JOINEDUP_POLICE_TOKEN": "tok"})
    print(
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"world: {cfg.people:,} people, nights {', '.join(str(n) for n in nights)}; "
        f"models: {', '.join(sorted(p.name for p in args.models.iterdir()))}; "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    totals: dict[str, list[float]] = {m: [] for m in args.modes}
    with BackgroundServer(world, "tok") as api, LocalMailbox(tmp / "mail") as box:
        os.environ.update({"JOINEDUP_POLICE_URL": api.url, "JOINEDUP_SMTP_URL": box.url})
        for repeat in range(args.repeats):
            for mode in args.modes:
                data = tmp / f"{mode}-{repeat}"
                shutil.copytree(args.models, data / "models")
                os.environ["JOINEDUP_DATA"] = str(data)
                seconds = [_run(mode, night, data / "dagster_home") for night in nights]
                totals[mode].append(sum(seconds))
                print(
                    f"repeat {repeat + 1} {mode:<12} "
                    + "  ".join(f"{n}: {s:5.1f} s" for n, s in zip(nights, seconds, strict=True))
                    + f"  total {sum(seconds):5.1f} s"
                )
    medians = {m: statistics.median(t) for m, t in totals.items()}
    for mode in args.modes:
        print(f"median total {mode:<12} {medians[mode]:6.1f} s over {args.repeats} repeats")
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    if len(medians) == len(MODES):
        print(f"multiprocess / in_process: {medians['multiprocess'] / medians['in_process']:.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
