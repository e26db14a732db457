"""`joinedup run`: the nightly job, in this process, on the same code path as Dagster's."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from connectors.warehouse import Warehouse
from pipelines.definitions import NIGHTLY, build
from pipelines.environment import dagster_home, warehouse_path


def run_night(night: dt.date, sources: list[str] | None = None) -> tuple[bool, list[str]]:
    """Run the nightly job for a night; return whether every step succeeded and report lines."""
    os.environ.setdefault("DAGSTER_HOME", str(dagster_home()))
    defs = build()
    job = defs.resolve_job_def(NIGHTLY)
    selection = [dg.AssetKey(["ingest", s]) for s in sources] if sources else None
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            partition_key=night.isoformat(),
            instance=instance,
            raise_on_error=False,
            asset_selection=selection,
            # Failures are reported from the loads table, in words; no tracebacks on the console.
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    return result.success, night_report(night)


def night_report(night: dt.date) -> list[str]:
    """The night's latest load of each source, one line each, from the warehouse."""
    wh = Warehouse(warehouse_path())
    try:
        rows = wh.frame(
            "SELECT * FROM loads WHERE night = ? QUALIFY row_number() OVER"
            " (PARTITION BY source ORDER BY started_at DESC) = 1 ORDER BY source",
            [night],
        )
    finally:
        wh.close()
    lines = []
    for r in rows.iter_rows(named=True):
        if r["status"] == "failed":
            lines.append(f"{r['source']:<24} FAILED  {r['error']}")
        else:
            lines.append(
                f"{r['source']:<24} {r['status']:<10} in {r['rows_in']:>9,}  staged "
                f"{r['rows_staged']:>9,}  quarantined {r['rows_quarantined']:>6,}  new "
                f"{r['new_records']:>7,}  changed {r['changed_records']:>6,}  deleted "
                f"{r['deleted_records']:>6,}"
            )
    return lines
