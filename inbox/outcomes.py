"""Closed alerts' outcomes, from the operational store back to the warehouse as labels.

Each alert a professional closed in the inbox, with the outcome they chose, becomes a row
of the warehouse's `alert_outcomes` (risk_models.labels.ALERT_OUTCOMES_DDL), labelled by
risk.yaml's `labels:` section: the concern held, or it did not. Only what a label needs
crosses over: the person's id, the alert's night, band, score and model, the team, the
outcome, and the goal and how it went (for `insight.outcomes`); never a name, a note or
who closed it. Copying again replaces each alert's row,
so a run can be repeated. An outcome the labels config does not list (a store written by
an older inbox, say) is copied with no label and the reason, and reported.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from alerts.store import ALERTS, open_store
from connectors import Warehouse
from inbox.tables import OUTCOME_ROWS, OUTCOMES
from risk_models import ALERT_OUTCOMES_DDL, LabelsConfig, labels_config


class OutcomesCopyError(ValueError):
    """The labels config and the inbox's outcomes disagree, or the warehouse is missing."""


@dataclass
class OutcomesCopy:
    """What a copy brought back."""

    copied: int = 0
    concern: int = 0
    no_concern: int = 0
    unlabelled: list[str] = field(default_factory=list)  # one reason per alert

    def lines(self) -> list[str]:
        """Report lines: the counts, then each alert copied without a label."""
        if not self.copied:
            return ["outcomes: no closed alerts to bring back to the warehouse"]
        return [
            f"outcomes: {self.copied:,} closed alerts in the warehouse's alert_outcomes "
            f"({self.concern:,} confirmed a concern, {self.no_concern:,} did not, "
            f"{len(self.unlabelled):,} without a label)",
            *(f"  {reason}" for reason in self.unlabelled),
        ]


def check_labels(config: LabelsConfig, origin: str = "risk.yaml") -> None:
    """Refuse a labels config that leaves out an inbox outcome or names an unknown one."""
    listed = set(config.concern) | set(config.no_concern)
    unknown = sorted(listed - set(OUTCOMES))
    if unknown:
        raise OutcomesCopyError(
            f"{origin}: labels: {', '.join(unknown)} not an outcome the inbox offers; "
            f"expected some of {', '.join(OUTCOMES)}"
        )
    missing = sorted(set(OUTCOMES) - listed)
    if missing:
        raise OutcomesCopyError(
            f"{origin}: labels: the inbox's outcome {', '.join(missing)} is in neither "
            "concern nor no_concern; put each outcome in one of them"
        )


CLOSED = (
    sa.select(
        ALERTS.c.reference,
        ALERTS.c.person_id,
        ALERTS.c.night.label("alerted_night"),
        ALERTS.c.kind,
        ALERTS.c.band,
        ALERTS.c.score,
        ALERTS.c.model_version,
        ALERTS.c.routed_team,
        OUTCOME_ROWS.c.outcome,
        OUTCOME_ROWS.c.at.label("closed_at"),
        OUTCOME_ROWS.c.goal,
        OUTCOME_ROWS.c.progress,
    )
    .join(OUTCOME_ROWS, OUTCOME_ROWS.c.alert_id == ALERTS.c.id)
    .order_by(ALERTS.c.reference)
)


def copy_outcomes(
    store_url: str,
    warehouse: Path,
    now: dt.datetime,
    config: LabelsConfig | None = None,
    config_path: Path | None = None,
) -> OutcomesCopy:
    """Copy every closed alert's outcome into the warehouse, in one transaction.

    Args:
        store_url: the operational store the inbox writes.
        warehouse: the DuckDB warehouse; `alert_outcomes` is made if missing.
        now: when the copy is made (kept as copied_at).
        config: the labels (risk.yaml's `labels:` if None, read from config_path).
        config_path: risk.yaml to read when config is None (the shipped one if None).

    Raises:
        OutcomesCopyError: the labels config does not fit the inbox's outcomes, or there
            is no warehouse; nothing is written.
    """
    config = config or labels_config(config_path)
    check_labels(config, str(config_path or "risk.yaml"))
    if not warehouse.is_file():
        raise OutcomesCopyError(f"no warehouse at {warehouse}: load and link some nights first")
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(CLOSED)]
    finally:
        engine.dispose()
    report = OutcomesCopy(copied=len(rows))
    if not rows:
        return report
    for row in rows:
        row["concern"] = config.label(row["outcome"])
        row["unlabelled_reason"] = None
        if row["concern"] is None:
            row["unlabelled_reason"] = (
                f"outcome {row['outcome']!r} is in neither labels.concern nor labels.no_concern"
            )
            report.unlabelled.append(f"alert {row['reference']}: {row['unlabelled_reason']}")
        elif row["concern"]:
            report.concern += 1
        else:
            report.no_concern += 1
        row["copied_at"] = now.replace(tzinfo=None)
    frame = pl.DataFrame(
        rows,
        schema_overrides={
            "concern": pl.Boolean,
            "unlabelled_reason": pl.String,
            "model_version": pl.String,
            "goal": pl.String,
            "progress": pl.String,
        },
    )
    wh = Warehouse(warehouse)
    try:
        with wh.transaction():
            wh.run(ALERT_OUTCOMES_DDL)
            wh.con.register("_closed", frame)
            wh.run("INSERT OR REPLACE INTO alert_outcomes BY NAME SELECT * FROM _closed")
    finally:
        wh.close()
    return report


def bring_back(store_url: str, warehouse: Path, now: dt.datetime) -> list[str]:
    """Closed alerts' outcomes into the warehouse (`copy_outcomes`), as report lines; while
    a SQLite store has not been made yet, one line saying so, and nothing is made.

    Raises:
        OutcomesCopyError: as `copy_outcomes`.
    """
    path = store_url.removeprefix("sqlite:///")
    if store_url.startswith("sqlite:///") and not Path(path).is_file():
        return [f"outcomes: no operational store at {store_url} yet: nothing to bring back"]
    return copy_outcomes(store_url, warehouse, now).lines()
