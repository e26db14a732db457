"""Benchmark: the insight report on a council-size warehouse (median of several builds).

Copies a loaded warehouse, trains and links its nights, trains the risk model and scores
the nights (none of that timed), then times `build_report` and `write_report` for a
period ending on the last night, printing the figure with the data size.

    .venv/bin/python bench/insight.py --warehouse /tmp/w300s7.duckdb --world /tmp/w300s7 \
        --runs 3

Or, on a data folder `joinedup demo` made (linked, scored and alerted already), the
report with its alerts and outcomes tables from the folder's store:

    .venv/bin/python bench/insight.py --data /tmp/jcouncil --runs 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This folder's alerts.py would stand in for the alerts package: look from the top.
sys.path[0] = str(Path(__file__).resolve().parents[1])


def _prepare(loaded: Path, tmp: Path) -> tuple[list[Any], Path]:
    """Copy a loaded warehouse, then link and score its nights (not timed)."""
    import duckdb

    from matching import link_night, train_model
    from risk_models import score_night, train_risk

    warehouse = tmp / "warehouse.duckdb"
    shutil.copy(loaded, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    nights = [r[0] for r in con.execute("SELECT DISTINCT night FROM loads ORDER BY 1").fetchall()]
    con.close()
    t = time.perf_counter()
    model = train_model(warehouse, tmp / "models")
    for night in nights:
        link_night(warehouse, night, model, 0.9)
    trained = train_risk(warehouse, tmp / "models")
    for night in nights:
        score_night(warehouse, night, trained.folder)
    seconds = time.perf_counter() - t
    print(f"prepared (not timed): {len(nights)} nights linked and scored in {seconds:.0f} s")
    return nights, warehouse


def main() -> None:
    """Prepare once, then time the report several times."""
    p = argparse.ArgumentParser()
    p.add_argument("--warehouse", type=Path, help="a loaded warehouse, to link and score")
    p.add_argument("--world", type=Path, help="its world")
    p.add_argument("--data", type=Path, help="or a demo's data folder, ready as it is")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--days", type=int, default=183, help="the period: this many days to the night")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jinsight"))
    os.environ["JOINEDUP_DATA"] = str(tmp)
    import duckdb

    from alerts.store import open_store
    from insight.report import build_report, write_report

    store = None
    if args.data is not None:
        warehouse = args.data / "warehouse.duckdb"
        store = open_store(f"sqlite:///{args.data / 'store.sqlite'}")
        con = duckdb.connect(str(warehouse), read_only=True)
        nights = [
            r[0] for r in con.execute("SELECT DISTINCT night FROM scores ORDER BY 1").fetchall()
        ]
        con.close()
    else:
        if args.warehouse is None or args.world is None:
            p.error("give --data, or --warehouse and --world")
        nights, warehouse = _prepare(args.warehouse, tmp)
    end = nights[-1]
    start = end - dt.timedelta(days=args.days)
    times = []
    for run in range(args.runs):
        t = time.perf_counter()
        report = build_report(warehouse, start, end, store=store)
        write_report(report, tmp / f"report-{run}")
        times.append(time.perf_counter() - t)
        print(f"run {run + 1}: {times[-1]:.1f} s")
    con = duckdb.connect(str(warehouse), read_only=True)
    persons, events = con.execute(
        "SELECT (SELECT count(DISTINCT person_id) FROM persons WHERE valid_to IS NULL),"
        " (SELECT count(*) FROM events WHERE valid_to IS NULL AND date BETWEEN ? AND ?)",
        [start, end],
    ).fetchall()[0]
    con.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"insight report {start} to {end}: {persons:,} persons, {events:,} events in the "
        f"period; median {statistics.median(times):.1f} s of "
        f"{', '.join(f'{s:.1f}' for s in times)}; peak {peak:,.0f} MB (the preparation's included)"
    )
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
