"""`./dev` keeps `.venv` when it is current, and a second shell never sees it half made.

Each test runs `./dev setup` in a copy of the project's packaging (pyproject.toml,
uv.lock, empty packages) under tmp_path, reusing this checkout's `.tools` (uv) and uv's
cache, through a wrapper script that stands for a pyenv shim: a `python3` that is not the
interpreter's own file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "insight", "connectors", "matching", "risk_models", "alerts")
PACKAGES += ("pipelines", "world", "inbox")

pytestmark = pytest.mark.skipif(
    not (ROOT / ".tools" / "bin" / "uv").is_file(), reason="./dev has not made .tools here"
)


def project_copy(tmp_path: Path) -> Path:
    """The files `./dev setup` reads, in a new folder, with `.tools` linked to this one's."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("dev", "pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(ROOT / name, copy / name)
    for package in PACKAGES:
        (copy / package).mkdir()
        (copy / package / "__init__.py").write_text("")
    (copy / ".tools").symlink_to(ROOT / ".tools")
    return copy


def shim(tmp_path: Path) -> Path:
    """A `python3` that hands over to the real interpreter, as a pyenv shim does."""
    real = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    wrapper = tmp_path / "shims" / "python3"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def dev_setup(project: Path, python: Path) -> subprocess.Popen[str]:
    """`./dev setup` started in `project` with PYTHON=`python`, its output in one stream."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT")}
    env["PYTHON"] = str(python)
    return subprocess.Popen(
        ["./dev", "setup"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished(started: subprocess.Popen[str]) -> str:
    """What a `./dev setup` printed, once it exited 0."""
    out, _ = started.communicate(timeout=300)
    assert started.returncode == 0, out
    return out


def test_a_second_call_rebuilds_nothing(tmp_path: Path) -> None:
    project, python = project_copy(tmp_path), shim(tmp_path)
    first = finished(dev_setup(project, python))
    assert "Creating virtual environment" in first
    made = (project / ".venv" / "pyvenv.cfg").stat()
    second = finished(dev_setup(project, python))
    kept = (project / ".venv" / "pyvenv.cfg").stat()
    assert (kept.st_ino, kept.st_mtime_ns) == (made.st_ino, made.st_mtime_ns)
    assert "Removed" not in second and "Creating" not in second, second
    assert "Checked" in second


def test_a_second_shell_waits_for_the_first(tmp_path: Path) -> None:
    project, python = project_copy(tmp_path), shim(tmp_path)
    outs = [finished(p) for p in [dev_setup(project, python), dev_setup(project, python)]]
    # One made .venv; the other waited for the lock, then found it whole and current.
    assert sum("Creating virtual environment" in out for out in outs) == 1, outs
    assert not any("Removed" in out for out in outs), outs
    done = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", "import idna, polars"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
