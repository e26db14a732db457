"""Benchmark: `./dev setup` on a `.venv` that is already current, this checkout's `./dev`
against a baseline commit's, through a wrapper `python3` that stands for a pyenv shim.

Each side gets a copy of the project's packaging (pyproject.toml, uv.lock, empty
packages) in a temporary folder, with this checkout's `.tools` (uv) and uv's cache; the
first call makes `.venv`, then `--runs` more calls are timed, and each says whether uv
removed and remade `.venv`. The baseline's `./dev` has no `setup` command, so it runs
`./dev --help` there, with the project's `joinedup` a stub that exits at once.

    .venv/bin/python bench/dev_setup.py --baseline a67c438 --runs 5
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "insight", "connectors", "matching", "risk_models", "alerts")
PACKAGES += ("pipelines", "world", "inbox")


def project(folder: Path, dev: bytes) -> Path:
    """A folder `./dev` can set up: packaging, empty packages, a stub command."""
    folder.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(ROOT / name, folder / name)
    (folder / "dev").write_bytes(dev)
    (folder / "dev").chmod(0o755)
    for package in PACKAGES:
        (folder / package).mkdir()
        (folder / package / "__init__.py").write_text("")
    (folder / "pipelines" / "cli.py").write_text("def main() -> int:\n    return 0\n")
    (folder / ".tools").symlink_to(ROOT / ".tools")
    return folder


def call(folder: Path, argv: list[str], python: Path) -> tuple[float, bool]:
    """Seconds one `./dev` call took, and whether .venv was made again in it (its
    pyvenv.cfg a new file or rewritten)."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PYTHON"] = str(python)
    pyvenv = folder / ".venv" / "pyvenv.cfg"
    before = (pyvenv.stat().st_ino, pyvenv.stat().st_mtime_ns) if pyvenv.exists() else None
    started = time.perf_counter()
    subprocess.run(["./dev", *argv], cwd=folder, env=env, capture_output=True, check=True)
    took = time.perf_counter() - started
    return took, before != (pyvenv.stat().st_ino, pyvenv.stat().st_mtime_ns)


def main() -> None:
    """Time calls on a current .venv for both `./dev`s and print medians."""
    p = argparse.ArgumentParser()
    p.add_argument("--baseline", required=True, help="a commit whose ./dev to compare")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    old = subprocess.run(
        ["git", "show", f"{args.baseline}:dev"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.1f}; Python {platform.python_version()}; {args.runs} runs"
    )
    with tempfile.TemporaryDirectory(prefix="jdev") as tmp:
        real = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        shim = Path(tmp) / "shims" / "python3"
        shim.parent.mkdir()
        shim.write_text(f'#!/bin/sh\nexec "{real}" "$@"\n')
        shim.chmod(0o755)
        sides = {
            f"baseline {args.baseline} (./dev --help)": (
                project(Path(tmp) / "old", old),
                ["--help"],
            ),
            "this checkout (./dev setup)": (
                project(Path(tmp) / "new", (ROOT / "dev").read_bytes()),
                ["setup"],
            ),
        }
        for label, (folder, argv) in sides.items():
            call(folder, argv, shim)  # makes .venv
            timed = [call(folder, argv, shim) for _ in range(args.runs)]
            rebuilt = sum(r for _, r in timed)
            seconds = statistics.median(t for t, _ in timed)
            print(f"{label:<40} {seconds:6.2f} s a call; .venv remade in {rebuilt}/{args.runs}")


if __name__ == "__main__":
    main()
