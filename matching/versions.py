"""Trained linkage models as versioned artifacts: `linkage-vN.json` in a models folder.

Each holds the Splink model and when and on what it was trained. Training is the
analyst's step (`joinedup link train`), never part of the nightly run.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import duckdb

from common import latest, next_path, version_number
from matching.link import train
from matching.tables import records_as_of

PREFIX, SUFFIX = "linkage", ".json"
MIN_TRAINING_RECORDS = 1000


def latest_model(folder: Path) -> Path | None:
    """The newest trained model in a folder, if any."""
    return latest(folder, PREFIX, SUFFIX)


def model_version(path: Path) -> int:
    """The version number of a model file (`linkage-v3.json` is 3); 0 for another name."""
    return version_number(path.name, PREFIX, SUFFIX) or 0


def train_model(warehouse: Path, folder: Path, seed: int = 1) -> Path:
    """Train on the warehouse's current person records; save and return the new version.

    Raises:
        ValueError: too few records, or no EM session could learn from them; nothing saved.
    """
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        records = records_as_of(con, None)
    finally:
        con.close()
    if records.height < MIN_TRAINING_RECORDS:
        raise ValueError(
            f"only {records.height} person records to train on; load some nights first"
        )
    t0 = time.perf_counter()
    trained = train(records, seed=seed)
    if not trained.sessions:
        raise ValueError(
            f"no EM session could learn from these {records.height:,} records ("
            + "; ".join(trained.skipped)
            + "); load more nights, or keep linking with the model you have"
        )
    path = next_path(folder, PREFIX, SUFFIX)
    version = model_version(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    artifact: dict[str, Any] = {
        "version": version,
        "trained_at": dt.datetime.now().isoformat(timespec="seconds"),
        "training_records": records.height,
        "training_records_by_source": dict(records["source"].value_counts().iter_rows()),
        "seconds": round(time.perf_counter() - t0, 1),
        "skipped_em_sessions": trained.skipped,
        "default_m_comparisons": trained.defaulted,
        "splink_model": trained.model,
    }
    path.write_text(json.dumps(artifact, indent=1, default=str))
    return path
