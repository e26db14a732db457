"""Benchmark: how long `joinedup ... --help` takes to start, this checkout against a
baseline commit (one from before the command imported its stages lazily), in one sitting.

Every command and subcommand of this checkout's `joinedup` is timed with `--help`, and
`python -c 'import pipelines.cli'` alone; the baseline is timed on the same argument
lists where its command line accepted them (exit status 0), else the row says it had no
such command. Runs alternate between the two commits; each figure is the median of
`--runs` wall times of a new process, interpreter start-up included. The baseline's code
is taken out with `git archive`; both run on this checkout's `.venv`, so only the
project's code differs.

    .venv/bin/python bench/cli_start.py --baseline 8646268 --runs 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # this checkout's packages, not bench/'s modules of the same name

import click  # noqa: E402

from pipelines.cli import joinedup  # noqa: E402

IMPORT = "import pipelines.cli"
# The baseline's rows: its slow start-up costs seconds a call, so not every subcommand.
BASELINE_ROWS = (
    IMPORT,
    "--help",
    "link files --help",
    "link train --help",
    "risk train --help",
    "alerts run --help",
    "run --help",
    "world --help",
    "demo --help",
)


def every_help() -> list[str]:
    """`--help` for the group and for each command under it, as argument strings."""

    def walk(command: click.Command, path: list[str]) -> list[str]:
        rows = [" ".join([*path, "--help"])]
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                rows += walk(sub, [*path, name])
        return rows

    return walk(joinedup, [])


def checkout(rev: str, into: Path) -> Path:
    """A commit's files, for running its code beside this checkout's."""
    archive = subprocess.run(
        ["git", "archive", rev], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def once(code: Path, row: str) -> float | None:
    """Wall seconds of one new process running `row` with `code`'s packages, or None if
    that code's command line refused it."""
    argv = ["-c", IMPORT] if row == IMPORT else ["-m", "pipelines.cli", *row.split()]
    env = {**os.environ, "PYTHONPATH": str(code)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *argv], cwd=code, env=env, capture_output=True, check=False
    )
    took = time.perf_counter() - started
    return took if done.returncode == 0 else None


def main() -> None:
    """Time every row for both commits, alternately, and print medians and ratios."""
    p = argparse.ArgumentParser()
    p.add_argument("--baseline", required=True, help="a commit to measure in the same sitting")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    rows = [IMPORT, *every_help()]
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load {load:.1f} at the "
        f"start; Python {platform.python_version()}; {args.runs} runs a figure"
    )
    this: dict[str, list[float | None]] = {row: [] for row in rows}
    base: dict[str, list[float | None]] = {row: [] for row in BASELINE_ROWS}
    with tempfile.TemporaryDirectory(prefix="jcli-base") as folder:
        old = checkout(args.baseline, Path(folder))
        for _ in range(args.runs):
            for row in BASELINE_ROWS:
                base[row].append(once(old, row))
            for row in rows:
                this[row].append(once(ROOT, row))

    def median(times: list[float | None]) -> float | None:
        return None if None in times else statistics.median(t for t in times if t is not None)

    print(f"\n{'command':<30} {'baseline s':>10} {'this s':>8} {'this/baseline':>14}")
    for row in rows:
        now = median(this[row])
        then = median(base[row]) if row in base else None
        shown_now = f"{now:.2f}" if now is not None else "failed"
        if row not in base:
            print(f"{row:<30} {'':>10} {shown_now:>8}")
        elif then is None:
            print(f"{row:<30} {'no such':>10} {shown_now:>8}")
        else:
            ratio = f"{now / then:.3f}" if now is not None else ""
            print(f"{row:<30} {then:>10.2f} {shown_now:>8} {ratio:>14}")
    slowest = max((t for row in rows for t in this[row] if t is not None), default=0.0)
    print(f"\nslowest single --help or import here: {slowest:.2f} s (of {len(rows)} rows)")


if __name__ == "__main__":
    main()
