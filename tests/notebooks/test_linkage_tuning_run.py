"""The linkage notebook on a `joinedup link files` out folder: no warehouse, the run's own
model, pairs, clusters and labels, and nothing personal printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
from linkfiles import judged_run

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "linkage_tuning.py"


def test_the_notebook_reads_a_link_files_run(tmp_path: Path) -> None:
    out, _ = judged_run(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINEDUP_")}
    env |= {"JOINEDUP_LINK_RUN": str(out), "JOINEDUP_DATA": str(tmp_path / "no-warehouse")}
    done = subprocess.run(
        [sys.executable, str(NOTEBOOK)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "clerical labels: 20 match, 10 non-match, 0 unsure" in done.stdout
    assert re.search(r"At 0\.9: precision 1\.0000, recall 1\.0000, F1 1\.0000 ", done.stdout)
    assert "against 30 clerical labels" in done.stdout
    assert f"set in {tmp_path / 'link.yaml'} (under linkage:):\n  threshold: 0.9" in done.stdout
    # The names and birth dates the review shows on the page are never printed.
    pairs = pl.read_csv(out / "pairs.csv", infer_schema=False)
    shown = {
        v
        for c in ("first_name_l", "last_name_l", "first_name_r", "last_name_r", "dob_l")
        for v in pairs[c].drop_nulls()
    }
    printed = set(re.findall(r"[\w-]+", (done.stdout + done.stderr).upper()))
    assert len(shown) > 50 and not shown & printed
