"""Linkage: the night's persons, made from every partner's records, as a Dagster asset.

`linkage/persons` depends on every source's asset, so it runs after tonight's loads, and
calls `link_night` for the partition's night with the newest trained model and the
configured threshold. Training is never part of the nightly run: it is the analyst's
`joinedup link train`. (No `from __future__ import annotations` here: Dagster reads the
asset function's annotations at run time.)

What it does in each case, so that the nightly run always says where persons stand:

- **No trained model yet.** The asset still materialises, with the status
  "not linked: no trained model; run `joinedup link train`", and the `linked` check
  warns. The loads are not failed for it, and no check pretends the persons were checked.
- **A source failed tonight.** Persons are linked on what loaded: the contract tables
  keep each source's last good load, so its records are still there, as of that load.
  Holding everyone's persons back for one partner's outage would hold back every later
  stage. The stale sources are named in the metadata and the `sources_loaded_tonight`
  check warns. Dagster skips a step whose upstream step failed, so the persons step runs
  in a run of its own: `joinedup run` starts it at once, and the `link_what_loaded`
  sensor does the same for a failed scheduled run.
- **The night was linked already**, with this model and threshold, and nothing has
  loaded for it since: "already linked", nothing written. A load that comes later (a
  failed source run again) makes the night link again. A night older than the newest
  night linked is never linked again over it.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from connectors.warehouse import Warehouse
from matching import (
    LinkReport,
    create_tables,
    latest_model,
    link_night,
    matching_config,
    model_version,
)
from pipelines.defs.ingest import GROUP as INGEST
from pipelines.defs.ingest import WAREHOUSE_POOL, WarehouseResource
from pipelines.environment import matching_file, models_dir

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

GROUP = "linkage"
PERSONS = dg.AssetKey([GROUP, "persons"])
STEP = "linkage__persons"
NO_MODEL = "not linked: no trained model; run `joinedup link train`"
NOTHING_LOADED = "not linked: no source has loaded this night"
# The share of last night's records that may change person id in a night before the
# check warns. Merges and splits from new information move a few in a thousand; a
# retrained model or a threshold change moves more, and someone should look.
ID_CHANGE_TOLERANCE = 0.01

AS_OF = "valid_from <= $night AND (valid_to IS NULL OR valid_to > $night)"

ONE_ID_PER_RECORD = f"""
WITH records AS (
    SELECT DISTINCT source || ':' || source_record_id AS unique_id
    FROM person_records WHERE {AS_OF}
), ids AS (
    SELECT unique_id, count(*) AS n FROM persons WHERE {AS_OF} GROUP BY unique_id
)
SELECT
    (SELECT count(*) FROM records) AS records,
    (SELECT count(*) FROM records ANTI JOIN ids USING (unique_id)) AS without_id,
    (SELECT count(*) FROM ids WHERE n > 1) AS with_several_ids,
    (SELECT count(*) FROM ids ANTI JOIN records USING (unique_id)) AS ids_for_absent_records
"""

IDS_CHANGED = """
WITH before AS (
    SELECT unique_id, person_id FROM persons
    WHERE valid_from <= $previous AND (valid_to IS NULL OR valid_to > $previous)
), tonight AS (
    SELECT unique_id, person_id FROM persons
    WHERE valid_from <= $night AND (valid_to IS NULL OR valid_to > $night)
)
SELECT count(*) AS records_in_both, count(*) FILTER (WHERE b.person_id <> t.person_id) AS changed
FROM before b JOIN tonight t USING (unique_id)
"""

FRESHNESS = """
SELECT source,
    max(night) FILTER (WHERE status IN ('complete', 'unchanged')) AS last_good,
    coalesce(bool_or(night = $night AND status IN ('complete', 'unchanged')), false) AS tonight
FROM loads WHERE night <= $night GROUP BY source
"""


def stale_sources(wh: Warehouse, sources: list[str], night: dt.date) -> dict[str, str]:
    """Each source with no good load for the night, and the night of its last good load."""
    found = {r["source"]: r for r in wh.frame(FRESHNESS, {"night": night}).iter_rows(named=True)}
    stale = {}
    for name in sources:
        row = found.get(name)
        if row is None or row["last_good"] is None:
            stale[name] = "never loaded"
        elif not row["tonight"]:
            stale[name] = f"last good load {row['last_good']}"
    return stale


def _checks() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "linked",
            asset=PERSONS,
            description="the night's persons were made by a linkage run (a warning if not)",
        ),
        dg.AssetCheckSpec(
            "sources_loaded_tonight",
            asset=PERSONS,
            description="every source loaded this night; stale sources named (a warning)",
        ),
        dg.AssetCheckSpec(
            "one_person_id_per_record",
            asset=PERSONS,
            description="every person record of the night has exactly one person id, "
            "and no id is held for a record that is gone",
        ),
        dg.AssetCheckSpec(
            "person_ids_stable",
            asset=PERSONS,
            description="the share of last night's records whose person id changed is "
            f"at most {ID_CHANGE_TOLERANCE:.0%} (a warning)",
        ),
    ]


def _linked_checks(wh: Warehouse, night: dt.date) -> list[dg.AssetCheckResult]:
    one = wh.frame(ONE_ID_PER_RECORD, {"night": night}).row(0, named=True)
    previous = wh.run("SELECT max(night) FROM linkage_runs WHERE night < ?", [night])[0][0]
    stable_meta: dict[str, Any] = {"previous_night": "none: first night linked"}
    stable_ok = True
    if previous is not None:
        both = wh.frame(IDS_CHANGED, {"night": night, "previous": previous}).row(0, named=True)
        share = both["changed"] / both["records_in_both"] if both["records_in_both"] else 0.0
        stable_ok = share <= ID_CHANGE_TOLERANCE
        stable_meta = {
            "previous_night": str(previous),
            "records_in_both": both["records_in_both"],
            "changed": both["changed"],
            "share_changed": round(share, 5),
            "tolerance": ID_CHANGE_TOLERANCE,
        }
    return [
        dg.AssetCheckResult(
            check_name="one_person_id_per_record",
            passed=not (
                one["without_id"] or one["with_several_ids"] or one["ids_for_absent_records"]
            ),
            metadata=one,
        ),
        dg.AssetCheckResult(
            check_name="person_ids_stable",
            passed=stable_ok,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=stable_meta,
        ),
    ]


@dataclass
class Outcome:
    """What the persons step did for a night: its status, and the linkage's report if any."""

    status: str
    report: LinkReport | None = None
    model: str | None = None
    threshold: float | None = None

    @property
    def mode(self) -> str | None:
        """How the night was linked (full or incremental), if this run linked it."""
        if self.report is None or self.report.status != "linked":
            return None
        return self.report.mode

    def metadata(self, night: dt.date, stale: dict[str, str]) -> dict[str, Any]:
        """The materialisation's metadata: status, model, stale sources and figures."""
        stale_text = ", ".join(f"{s} ({why})" for s, why in stale.items()) or "none"
        summary = self.status
        if self.report is not None:
            summary = self.report.line()
            if self.mode:
                summary = f"linked {self.mode} with {self.model}: {summary}"
        if stale:
            summary += f"; stale: {stale_text}"
        meta: dict[str, Any] = {"night": str(night), "status": self.status}
        if self.model is not None:
            meta |= {
                "model": self.model,
                "model_version": model_version(Path(self.model)),
                "threshold": self.threshold,
            }
        if self.mode is not None:
            meta["mode"] = self.mode
        if self.report is not None:
            r = self.report
            meta |= {
                "records": r.records,
                "persons": r.persons,
                "pairs": r.pairs,
                "new": r.new,
                "merges": r.merges,
                "splits": r.splits,
                "households": r.households,
                "seconds": round(r.seconds, 2),
            }
        return meta | {"stale_sources": stale_text, "summary": summary}


def link_persons(
    warehouse: WarehouseResource, sources: list[str], night: dt.date
) -> tuple[Outcome, dict[str, str]]:
    """Link a night as the nightly job does; return what happened and the stale sources."""
    model = latest_model(models_dir())
    settings = matching_config(matching_file())
    with warehouse.open() as wh:
        stale = stale_sources(wh, sources, night)
        if model is None:
            return Outcome(NO_MODEL), stale
        if len(stale) == len(sources) and not _linked(wh, night):
            return Outcome(NOTHING_LOADED, model=model.name, threshold=settings.threshold), stale
        report = link_night(
            wh, night, model, settings.threshold, max_pairs_per_rule=settings.max_pairs_per_rule
        )
    return Outcome(report.status, report, report.model, report.threshold), stale


def _linked(wh: Warehouse, night: dt.date) -> bool:
    """Whether a linkage run has linked the night."""
    create_tables(wh.con)
    return bool(wh.run("SELECT count(*) FROM linkage_runs WHERE night = ?", [night])[0][0])


def persons_asset(
    partitions: dg.PartitionsDefinition, sources: list[dg.AssetKey]
) -> dg.AssetsDefinition:
    """The asset that links a night's person records into persons and households."""
    names = [key.path[-1] for key in sources]

    # A multi-asset so that the checks that need linked persons can be left unevaluated on
    # a night that was not linked, instead of passing without looking.
    @dg.multi_asset(
        name=STEP,
        specs=[
            dg.AssetSpec(
                PERSONS,
                deps=sources,
                group_name=GROUP,
                kinds={"duckdb", "splink"},
                description="Every partner's person records as of the night, linked into "
                "persons with stable ids (merge and split history) and households.",
            )
        ],
        check_specs=_checks(),
        partitions_def=partitions,
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def _persons(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult]:  # type: ignore[type-arg]
        night = dt.date.fromisoformat(context.partition_key)
        try:
            outcome, stale = link_persons(warehouse, names, night)
        except ValueError as exc:  # bad settings, a model that does not fit, nights out of order
            raise dg.Failure(description=str(exc)) from exc
        meta = outcome.metadata(night, stale)
        checks = [
            dg.AssetCheckResult(
                check_name="linked",
                passed=outcome.report is not None,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"status": outcome.status},
            ),
            dg.AssetCheckResult(
                check_name="sources_loaded_tonight",
                passed=not stale,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"stale_sources": meta["stale_sources"]},
            ),
        ]
        if outcome.report is not None:
            with warehouse.open() as wh:
                checks += _linked_checks(wh, night)
        context.log.info(f"persons: {meta['summary']}")
        yield dg.MaterializeResult(asset_key=PERSONS, metadata=meta, check_results=checks)

    return _persons


def link_what_loaded(job: "UnresolvedAssetJobDefinition") -> dg.SensorDefinition:
    """After a nightly run in which a source failed, link that night on what loaded."""

    @dg.run_failure_sensor(
        name="link_what_loaded",
        monitored_jobs=[job],
        request_job=job,
        # It finishes the nightly job's work rather than starting new work, so it runs
        # whenever the schedule or the arrival sensor does, with no switch of its own.
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="When a source fails in the nightly job, Dagster skips the persons "
        "step and the steps after it; this runs them for that night on what loaded.",
    )
    def _sensor(context: dg.RunFailureSensorContext) -> dg.RunRequest | dg.SkipReason:
        run = context.dagster_run
        night = run.tags.get("dagster/partition")
        failed = {e.step_key for e in context.get_step_failure_events()}
        if night is None:
            return dg.SkipReason(f"run {run.run_id} has no night")
        if STEP in failed or not any(str(k).startswith(INGEST + "__") for k in failed):
            return dg.SkipReason(f"run {run.run_id}: no source failed, so nothing to link after")
        if run.asset_selection and PERSONS not in run.asset_selection:
            return dg.SkipReason(f"run {run.run_id} did not ask for persons")
        # The night's scores come after its persons (pipelines/defs/risk.py), and its
        # alerts after its scores (pipelines/defs/alerts.py).
        after = [PERSONS, dg.AssetKey(["risk", "scores"]), dg.AssetKey(["alerts", "sent"])]
        return dg.RunRequest(
            run_key=f"{run.run_id}:persons", partition_key=night, asset_selection=after
        )

    return _sensor
