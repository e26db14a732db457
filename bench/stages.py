"""Benchmark: every stage of a night through the command line, this checkout against a
baseline commit, taking turns in one sitting on one world.

Each run starts from an empty data folder and runs, timing each command's wall time:
`run --night N` (the loads), `link train`, `link run --night N`, `risk train`,
`risk score --night N` and `alerts run --night N` (to an SMTP server on loopback).
Wall time includes each command's start-up (importing the libraries), which is timed on
its own too (`--help`); `link run` and `risk score` also print the seconds the stage
itself took, in the process, which are taken from their output as well. The baseline's
code is taken out with `git archive`; both use this checkout's environment, so only the
project's code differs.

    .venv/bin/python bench/stages.py --baseline HEAD~1 --runs 3
    .venv/bin/python bench/stages.py --world /tmp/jstages --people 20000 --baseline f20c1cc
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This folder's alerts.py would stand in for the alerts package: look from the top.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from alerts.mailbox import LocalMailbox  # noqa: E402
from world.police_api import BackgroundServer  # noqa: E402

TOKEN = "bench"
# The commands that print the seconds their stage took in the process, and that figure's name.
INSIDE = {"link run": "link run, in process", "risk score": "risk score, in process"}


def _checkout(rev: str, into: Path) -> Path:
    """A commit's files, for running its code beside this checkout's."""
    archive = subprocess.run(["git", "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _stages(night: str) -> list[tuple[str, list[str]]]:
    return [
        ("start-up (--help)", ["--help"]),
        ("loads (run --night)", ["run", "--night", night]),
        ("link train", ["link", "train"]),
        ("link run", ["link", "run", "--night", night]),
        ("risk train", ["risk", "train"]),
        ("risk score", ["risk", "score", "--night", night]),
        ("alerts run", ["alerts", "run", "--night", night]),
    ]


def _run(code: Path, night: str, env: dict[str, str]) -> dict[str, float]:
    """One night's stages with one commit's code, in a new data folder; seconds each."""
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jstages") as data:
        run_env = {**env, "PYTHONPATH": str(code), "JOINEDUP_DATA": data}
        run_env.pop("JOINEDUP_WAREHOUSE", None)
        for label, argv in _stages(night):
            t = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "pipelines.cli", *argv],
                check=False,
                cwd=code,
                env=run_env,
                capture_output=True,
                text=True,
            )
            seconds[label] = time.perf_counter() - t
            if label in INSIDE:
                found = re.findall(r"; ([0-9.]+) s$", done.stdout, flags=re.MULTILINE)
                seconds[INSIDE[label]] = float(found[-1]) if found else float("nan")
            if done.returncode not in (0, 1):  # 1: a step finished with warnings
                raise RuntimeError(f"{code}: {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    """Time each stage for both commits, alternately, and print medians and ratios."""
    p = argparse.ArgumentParser()
    p.add_argument("--world", type=Path, default=Path("/tmp/jstages-world"))
    p.add_argument("--people", type=int, default=20_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--baseline", required=True, help="a commit to measure in the same sitting")
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
                "1",
                "--seed",
                "7",
                "--out",
                str(args.world),
            ],
            check=True,
        )
    manifest = json.loads((args.world / "world.json").read_text())
    night = manifest["nights"][0]["date"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; world: {manifest['people_first_night']:,} people, "
        f"night {night}"
    )
    results: dict[str, list[dict[str, float]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="jstages-code") as base,
        tempfile.TemporaryDirectory(prefix="jstages-mail") as mail,
        BackgroundServer(args.world.resolve(), TOKEN) as police,
        LocalMailbox(Path(mail) / "box") as box,
    ):
        env = {
            **os.environ,
            "JOINEDUP_WORLD": str(args.world.resolve()),
            "JOINEDUP_POLICE_TOKEN": TOKEN,
            "JOINEDUP_POLICE_URL": police.url,
            "JOINEDUP_SMTP_URL": box.url,
        }
        codes = {
            f"baseline {args.baseline}": _checkout(args.baseline, Path(base)),
            "this checkout": Path.cwd(),
        }
        for i in range(args.runs):
            for label, code in codes.items():
                found = _run(code, night, env)
                results.setdefault(label, []).append(found)
                print(
                    f"{label}, run {i + 1}: "
                    + ", ".join(f"{k} {v:.1f} s" for k, v in found.items())
                )
    base_label, this_label = list(results)
    print(f"medians of {args.runs} runs (wall seconds, start-up included):")
    print(f"{'stage':<22} {'baseline':>9} {'this':>9} {'this/baseline':>14}")
    for label in [label for label, _ in _stages(night)] + list(INSIDE.values()):
        b = statistics.median(r[label] for r in results[base_label])
        t = statistics.median(r[label] for r in results[this_label])
        print(f"{label:<22} {b:>9.1f} {t:>9.1f} {t / b:>14.3f}")


if __name__ == "__main__":
    main()
