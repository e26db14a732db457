"""Ingest: one Dagster asset per partner, made from the sources config, partitioned by night.

No partner has Python of its own here: adding a source to the YAML adds its asset, its
checks and its place in the nightly job. (No `from __future__ import annotations` here:
Dagster reads the asset function's annotations at run time.)
"""

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from connectors.config import REQUIRED_FIELDS, ConfigError, Source, load_sources, source_names
from connectors.ingest import LoadReport, ingest_source, record_failure
from connectors.warehouse import CONTRACT_COLUMNS, Warehouse, WarehouseBusy
from pipelines.environment import sources_file

GROUP = "ingest"
TIMEZONE = "Europe/London"
# Dagster's concurrency pool of every step that opens the warehouse: DuckDB lets one
# process at a time have the file open (even to read) while another writes it, so the
# instance's dagster.yaml gives this pool one slot, and steps take turns across runs.
WAREHOUSE_POOL = "warehouse"


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[misc, type-arg]
    """The DuckDB warehouse file."""

    path: str
    wait_seconds: float = 60.0

    @contextmanager
    def open(self) -> Iterator[Warehouse]:
        """The warehouse, open for one step and closed after it (waits while it is busy)."""
        wh = Warehouse(Path(self.path), self.wait_seconds)
        try:
            yield wh
        finally:
            wh.close()


class SourcesResource(dg.ConfigurableResource):  # type: ignore[misc, type-arg]
    """The partners' config file; its secrets come from the environment when a step runs."""

    file: str

    def source(self, name: str) -> Source:
        """One source, validated, with its secrets in."""
        return load_sources(Path(self.file), only=[name])[name]


def _schema_problems(wh: Warehouse, name: str) -> list[str]:
    """Contract columns missing from the warehouse, or required fields left empty."""
    problems = []
    for contract, columns in CONTRACT_COLUMNS.items():
        have = {
            r[0]
            for r in wh.run(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                [contract],
            )
        }
        problems += [f"{contract}.{c} is missing" for c in columns if c not in have]
        for field in REQUIRED_FIELDS[contract]:
            blank = wh.run(
                f"SELECT count(*) FROM {contract} WHERE source = ? AND valid_to IS NULL"
                f' AND "{field}" IS NULL',
                [name],
            )[0][0]
            if blank:
                problems.append(f"{contract}.{field} is empty in {blank} current rows")
    return problems


def _checks(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "reconciles", asset=key, description="rows in = rows staged + rows quarantined"
        ),
        dg.AssetCheckSpec(
            "row_count_within_tolerance",
            asset=key,
            blocking=True,
            description="rows in within the source's tolerance of the last good load, or a "
            "person released the load",
        ),
        dg.AssetCheckSpec(
            "load_not_held",
            asset=key,
            blocking=True,
            description="no guard held the load (row count, records it would close, a file "
            "that looks truncated or in another encoding): the partner's records are as "
            "its extract says",
        ),
        dg.AssetCheckSpec(
            "contract_schema",
            asset=key,
            description="contract columns present; required fields filled",
        ),
    ]


def _results(wh: Warehouse, name: str, report: LoadReport) -> list[dg.AssetCheckResult]:
    count_meta: dict[str, Any] = {"previous_rows_in": report.previous_rows_in or "none"}
    if report.released_by:
        count_meta["released_by"] = report.released_by
    problems = _schema_problems(wh, name)
    return [
        dg.AssetCheckResult(
            check_name="reconciles",
            passed=report.reconciles,
            metadata={
                "rows_in": report.rows_in,
                "rows_staged": report.rows_staged,
                "rows_quarantined": report.rows_quarantined,
            },
        ),
        dg.AssetCheckResult(
            check_name="row_count_within_tolerance",
            passed="row_count" not in report.held or report.released_by is not None,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={**count_meta, "held": report.held.get("row_count", "no")},
        ),
        dg.AssetCheckResult(
            check_name="load_not_held",
            passed=report.status != "held",
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "status": report.status,
                "reasons": "; ".join(report.held.values()) or "none",
            },
        ),
        dg.AssetCheckResult(
            check_name="contract_schema",
            passed=not problems,
            metadata={"problems": "; ".join(problems) or "none"},
        ),
    ]


def ingest_asset(
    name: str, agency: str, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """The asset that loads one source's extract for a night."""
    key = dg.AssetKey([GROUP, name])

    @dg.asset(
        key=key,
        group_name=GROUP,
        partitions_def=partitions,
        check_specs=_checks(key),
        kinds={"duckdb", "polars"},
        pool=WAREHOUSE_POOL,
        owners=[f"team:{agency.replace('_', '-')}"] if re.fullmatch(r"[a-z_]+", agency) else None,
        description=f"{name}: tonight's extract, standardised into the contract tables, with "
        "raw snapshot, quarantine and changes since the last load.",
    )
    def _ingest(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, sources: SourcesResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        night = dt.date.fromisoformat(context.partition_key)
        try:
            with warehouse.open() as wh:
                try:
                    source = sources.source(name)
                except ConfigError as exc:
                    report = record_failure(wh, name, night, str(exc))
                    raise dg.Failure(description=report.error) from exc
                report = ingest_source(wh, name, source, night)
                if report.status == "failed":
                    raise dg.Failure(
                        description=report.error or "load failed",
                        metadata={"load_id": report.load_id},
                    )
                # A held load fails its blocking checks: the step fails and linkage waits.
                checks = _results(wh, name, report)
        except WarehouseBusy as exc:
            raise dg.Failure(description=str(exc)) from None
        context.log.info(report.line())
        return dg.MaterializeResult(
            metadata={
                "load_id": report.load_id,
                "status": report.status,
                "rows_in": report.rows_in,
                "rows_staged": report.rows_staged,
                "rows_quarantined": report.rows_quarantined,
                "new": report.new,
                "changed": report.changed,
                "deleted": report.deleted,
                "seconds": round(report.seconds, 2),
            },
            check_results=checks,
        )

    return _ingest


def ingest_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """One asset per source in the sources file."""
    return [ingest_asset(n, a, partitions) for n, a in source_names(sources_file()).items()]
