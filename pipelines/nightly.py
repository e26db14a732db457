"""`joinedup run`: the nightly job, in this process, on the same code path as Dagster's,
recorded in Dagster's instance so that its runs are in Dagster's history."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg

from connectors.ingest import night_lines
from connectors.warehouse import Warehouse
from pipelines.definitions import NIGHTLY, build
from pipelines.defs.alerts import SENT
from pipelines.defs.alerts import STEP as ALERTS_STEP
from pipelines.defs.linkage import PERSONS
from pipelines.defs.linkage import STEP as LINK_STEP
from pipelines.defs.nights import add_nights
from pipelines.defs.risk import SCORES
from pipelines.defs.risk import STEP as SCORE_STEP
from pipelines.environment import PACKAGE, dagster_home, warehouse_path, warehouse_wait

# The steps after the loads, each reported in a line: (asset, step, label).
STEPS = (
    (PERSONS, LINK_STEP, "persons"),
    (SCORES, SCORE_STEP, "scores"),
    (SENT, ALERTS_STEP, "alerts"),
)


def dagster_instance(home: Path | None = None) -> dg.DagsterInstance:
    """Dagster's instance in `home` (default: DAGSTER_HOME, else pipelines/dagster_home).

    A new folder is given joinedup's dagster.yaml (telemetry off, one step at a time on the
    warehouse, nightly runs one at a time); a folder with a dagster.yaml of its own keeps it.
    """
    home = (home or dagster_home()).resolve()
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        shutil.copy(PACKAGE / "dagster_home" / "dagster.yaml", settings)
    return dg.DagsterInstance.from_config(str(home))


def run_night(
    night: dt.date, sources: list[str] | None = None, *, ingest: bool = True
) -> tuple[bool, list[str]]:
    """Run the nightly job for a night; return whether every step succeeded and report lines.

    `sources` names the sources to load (all by default); the persons, scores and alerts
    steps always run. When a source fails, Dagster skips the persons step and those after
    it, so they run after in a run of its own, on what loaded, as the `link_what_loaded`
    sensor does for Dagster's runs. With `ingest=False`, only persons, scores and alerts
    run. The alerts step needs its config's environment (the mail relay, JOINEDUP_SMTP_URL):
    without it, that step fails and says so. The night is added to the nightly partitions,
    and the runs are kept in Dagster's instance (`dagster_instance`), as Dagster's own are.
    """
    job = build().resolve_job_def(NIGHTLY)
    after = [key for key, _, _ in STEPS]
    if not ingest:
        selection: list[dg.AssetKey] | None = after
    elif sources:
        selection = [*(dg.AssetKey(["ingest", s]) for s in sources), *after]
    else:
        selection = None
    with dagster_instance() as instance:
        add_nights(instance, [night])
        result = _execute(job, night, instance, selection)
        if _step_line(result, *STEPS[0]) is None:  # persons skipped: a source failed
            result = _execute(job, night, instance, after)
            success = False
        else:
            success = result.success
        steps = [_step_line(result, *step) or f"{step[2]:<24} did not run" for step in STEPS]
    return success, [*(night_report(night) if ingest else []), *steps]


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
        # Failures are reported in words from the loads table and the steps' own
        # descriptions; no tracebacks on the console.
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )


def _step_line(
    result: dg.ExecuteInProcessResult, key: dg.AssetKey, step: str, label: str
) -> str | None:
    """A step's summary, its failure in words, or None if it did not run."""
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == key:
            return f"{label:<24} {materialization.metadata['summary'].value}"
    for event in result.get_step_failure_events():
        if event.step_key == step:
            data = event.step_failure_data
            why = data.user_failure_data.description if data.user_failure_data else None
            return f"{label:<24} FAILED  {why or (data.error.message if data.error else '')}"
    return None


def night_report(night: dt.date) -> list[str]:
    """The night's latest load of each source, one line each, from the warehouse."""
    wh = Warehouse(warehouse_path(), warehouse_wait())
    try:
        return night_lines(wh, night)
    finally:
        wh.close()
