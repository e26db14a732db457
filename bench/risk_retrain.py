"""Benchmark: a world's risk figures again with this checkout's features and models.

Given a world folder already made, loaded and linked (`world/` and `warehouse.duckdb`, as
`bench/risk_worlds.py` or `joinedup demo` leave it), this copies the warehouse to `--out`,
drops the copy's scores, trains both models there with this checkout's settings (judged
against the world's truth), scores the newest night, and runs `bench/risk_ceiling.py` on
the copy. The world folder is never written. This is how a change to the features or the
models is measured on the same warehouse as the figures before it.

    .venv/bin/python bench/risk_retrain.py --world-folder /tmp/jc18 --out /tmp/jc18-again \\
        [--resamples 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

# This folder's alerts.py would stand in for the alerts package: look from the top.
sys.path[0] = str(Path(__file__).resolve().parents[1])
sys.path.append(str(Path(__file__).resolve().parent))


def main() -> None:
    """Copy, train, score, then the ceiling beside the product; print every figure."""
    p = argparse.ArgumentParser()
    p.add_argument("--world-folder", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="a folder for the copy and models")
    p.add_argument("--resamples", type=int, default=200)
    args = p.parse_args()
    import duckdb

    from risk_models import score_night, train_risk

    world = args.world_folder / "world"
    args.out.mkdir(parents=True, exist_ok=True)
    warehouse = args.out / "warehouse.duckdb"
    shutil.copy(args.world_folder / "warehouse.duckdb", warehouse)
    os.environ["JOINEDUP_DATA"] = str(args.out)
    os.environ.pop("JOINEDUP_WAREHOUSE", None)
    con = duckdb.connect(str(warehouse))
    try:
        tables = {
            r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()
        }
        for table in ("scores", "risk_runs", "risk_drift"):
            if table in tables:
                con.execute(f"DELETE FROM {table}")
    finally:
        con.close()
    nights = [
        dt.date.fromisoformat(n["date"])
        for n in json.loads((world / "world.json").read_text())["nights"]
    ]
    t = time.perf_counter()
    trained = train_risk(warehouse, args.out / "models", world=world)
    trained_s = time.perf_counter() - t
    t = time.perf_counter()
    score_night(warehouse, nights[-1], trained.folder)
    print(
        f"{args.world_folder}: trained both kinds in {trained_s:.0f} s, scored night "
        f"{nights[-1]} in {time.perf_counter() - t:.0f} s"
    )
    print("\n".join(f"  {line}" for line in trained.lines))
    import risk_ceiling

    risk_ceiling.main(
        ["--world", str(world), "--warehouse", str(warehouse), "--resamples", str(args.resamples)]
    )


if __name__ == "__main__":
    main()
