"""`joinedup run`: the nightly job, in this process, on the same code path as Dagster's."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from connectors.warehouse import Warehouse
from pipelines.definitions import NIGHTLY, build
from pipelines.defs.linkage import PERSONS, STEP
from pipelines.environment import dagster_home, warehouse_path


def run_night(
    night: dt.date, sources: list[str] | None = None, *, ingest: bool = True
) -> tuple[bool, list[str]]:
    """Run the nightly job for a night; return whether every step succeeded and report lines.

    `sources` names the sources to load (all by default); the persons step always runs.
    When a source fails, Dagster skips the persons step, so it runs after in a run of its
    own and links what loaded, as the `link_what_loaded` sensor does for Dagster's runs.
    With `ingest=False`, only the persons step runs.
    """
    os.environ.setdefault("DAGSTER_HOME", str(dagster_home()))
    job = build().resolve_job_def(NIGHTLY)
    if not ingest:
        selection = [PERSONS]
    elif sources:
        selection = [*(dg.AssetKey(["ingest", s]) for s in sources), PERSONS]
    else:
        selection = None
    with dg.DagsterInstance.ephemeral() as instance:
        result = _execute(job, night, instance, selection)
        persons = _persons_line(result)
        if persons is None:  # skipped: a source failed
            result_alone = _execute(job, night, instance, [PERSONS])
            persons = _persons_line(result_alone) or f"{'persons':<24} did not run"
            success = False
        else:
            success = result.success
    lines = night_report(night) if ingest else []
    return success, [*lines, persons]


def _execute(
    job: dg.JobDefinition,
    night: dt.date,
    instance: dg.DagsterInstance,
    selection: list[dg.AssetKey] | None,
) -> dg.ExecuteInProcessResult:
    return job.execute_in_process(
        partition_key=night.isoformat(),
        instance=instance,
        raise_on_error=False,
        asset_selection=selection,
        # Failures are reported in words from the loads table and the persons step's own
        # description; no tracebacks on the console.
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )


def _persons_line(result: dg.ExecuteInProcessResult) -> str | None:
    """The persons step's summary, its failure in words, or None if it did not run."""
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == PERSONS:
            return f"{'persons':<24} {materialization.metadata['summary'].value}"
    for event in result.get_step_failure_events():
        if event.step_key == STEP:
            data = event.step_failure_data
            why = data.user_failure_data.description if data.user_failure_data else None
            return f"{'persons':<24} FAILED  {why or (data.error.message if data.error else '')}"
    return None


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
