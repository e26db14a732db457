"""Alerts: each night's alerts selected from its scores and sent, as a Dagster asset; and
the retries and escalation that follow, as a job on a schedule.

`alerts/sent` depends on `risk/scores`, so it runs after the night is scored. It first
brings closed alerts' outcomes back to the warehouse (as `joinedup alerts run` does),
then calls `run_alerts` for the partition's night: select, route, hold over capacity,
store with case packs, and send each recipient one digest (`docs/alerts.md`). The
`alerts_followup` job sends failed deliveries again when they are due, then tells duty
managers of alerts nobody acknowledged in time. (No `from __future__ import annotations`
here: Dagster reads the asset function's annotations at run time.)

What it does in each case, so that the nightly run always says where alerts stand:

- **The night is not scored** (no risk model yet, or its persons are not linked): the
  asset still materialises, with the status "not sent: the night is not scored", and the
  `sent` check warns. The checks that need a run are not evaluated that night.
- **Run again for a night**: every trigger's dedup key is in the store, and every stored
  alert is in a digest already, so nothing is stored and nothing is sent; the checks are
  evaluated all the same.
- **A wrong alerts config** (or an environment variable it needs, such as the mail relay
  `JOINEDUP_SMTP_URL`, not set): the step fails with the message, before anything is
  copied, stored or sent.
"""

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import dagster as dg
import sqlalchemy as sa

from alerts import (
    AlertsReport,
    ConfigError,
    WarehouseError,
    escalate,
    load_config,
    open_store,
    retry_failed,
    run_alerts,
)
from alerts.store import ALERT_KEYS, ALERTS, DELIVERIES, DELIVERY_ALERTS, HELD, PENDING, utc
from inbox.outcomes import OutcomesCopyError, bring_back
from pipelines.defs.ingest import TIMEZONE, WAREHOUSE_POOL, WarehouseResource
from pipelines.defs.risk import SCORES
from risk_models.features import FeaturesError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

GROUP = "alerts"
SENT = dg.AssetKey([GROUP, "sent"])
STEP = "alerts__sent"
SENT_STATUS = "sent"
NOT_SCORED = "not sent: the night is not scored"
FOLLOWUP = "alerts_followup"
FOLLOWUP_SCHEDULE = "alerts_followup_every_15_minutes"


class StoreResource(dg.ConfigurableResource):  # type: ignore[misc, type-arg]
    """The operational store (alerts, case packs, the inbox), by its SQLAlchemy URL."""

    url: str


class AlertsConfigResource(dg.ConfigurableResource):  # type: ignore[misc, type-arg]
    """The alerts config file; its secrets (the mail relay) come from the environment when
    a step runs."""

    file: str

    def path(self) -> Path:
        """The file, as a path."""
        return Path(self.file)


@dataclass
class Outcome:
    """What the alerts step did for a night: its status, and the run's report if any."""

    status: str
    report: AlertsReport | None = None
    reason: str = ""  # why nothing was sent
    outcomes: list[str] = field(default_factory=list)  # the outcomes copy's report lines

    def metadata(self, night: dt.date) -> dict[str, Any]:
        """The materialisation's metadata: status, the night's figures and a summary."""
        meta: dict[str, Any] = {"night": str(night), "status": self.status}
        summary = self.status
        if self.reason:
            meta["reason"] = self.reason
        if self.report is not None:
            r, d = self.report, self.report.delivery
            summary = r.line()
            meta |= {
                "persons_scored": r.scored,
                "triggers": sum(r.candidates.values()),
                "selected": r.selected,
                "silenced": r.silenced,
                "held": sum(r.held.values()),
                "released": r.released,
                "alerts_stored": sum(r.created.values()),
                "to_lead_professionals": r.to_professionals,
                "to_teams": r.to_teams,
                "case_packs": r.case_packs,
                "messages_sent": d.sent,
                "messages_failed": d.failed,
                "messages_given_up": d.gave_up,
                "owed_alerts": d.owed_alerts,
                "seconds": round(r.seconds, 2),
                "report": dg.MetadataValue.md("\n".join(f"    {x}" for x in r.lines())),
            }
        if self.outcomes:
            meta["outcomes"] = "; ".join(self.outcomes)
        return meta | {"summary": summary}


def send_alerts(
    warehouse: Path, store_url: str, config: Path, night: dt.date, now: dt.datetime
) -> Outcome:
    """Send a night's alerts as the nightly job does, or say why none were sent.

    Raises:
        ConfigError: the alerts config is wrong; nothing was copied, stored or sent.
        OutcomesCopyError, FeaturesError: closed alerts' outcomes could not be copied;
            nothing was stored or sent.
    """
    load_config(config)  # a wrong config stops the step before anything is written
    outcomes = bring_back(store_url, warehouse, now)  # as `joinedup alerts run` does
    try:
        report = run_alerts(warehouse, night, store_url, config, now)
    except WarehouseError as exc:  # no scores for the night: nothing selected or sent
        return Outcome(NOT_SCORED, reason=str(exc), outcomes=outcomes)
    return Outcome(SENT_STATUS, report, outcomes=outcomes)


def _sent_figures(engine: "Engine", night: dt.date, when: dt.datetime) -> dict[str, int]:
    """What the store holds of the alerts one run stored (those created at `when`)."""
    digest = f"digest:{night.isoformat()}"
    in_a_digest = sa.exists().where(DELIVERY_ALERTS.c.alert_id == ALERTS.c.id)
    in_tonights_digest = in_a_digest.where(
        DELIVERIES.c.id == DELIVERY_ALERTS.c.delivery_id, DELIVERIES.c.batch == digest
    )
    # A recipient whose digest for the night went out before this run gets the rest in
    # the next night's (one digest per recipient per night).
    digest_gone = sa.exists().where(
        DELIVERIES.c.batch == digest,
        DELIVERIES.c.recipient == ALERTS.c.routed_to,
        DELIVERIES.c.created_at < when,
    )
    query = sa.select(
        sa.func.count().label("stored"),
        sa.func.count().filter(ALERTS.c.state == HELD).label("held"),
        sa.func.count().filter(in_tonights_digest).label("sent"),
        sa.func.count()
        .filter(ALERTS.c.state == PENDING, ~in_a_digest, digest_gone)
        .label("waiting_for_next_digest"),
    ).where(ALERTS.c.night == night, ALERTS.c.created_at == when)
    with engine.connect() as conn:
        return {k: int(v) for k, v in conn.execute(query).one()._mapping.items()}


def _duplicate_keys(engine: "Engine") -> dict[str, int]:
    """Dedup keys held twice in the store, or held for another alert, or not held at all."""
    shared = (
        sa.select(ALERTS.c.dedup_key)
        .group_by(ALERTS.c.dedup_key)
        .having(sa.func.count() > 1)
        .subquery()
    )
    held_for_another = (
        sa.select(sa.func.count())
        .select_from(ALERTS.join(ALERT_KEYS, ALERT_KEYS.c.dedup_key == ALERTS.c.dedup_key))
        .where(ALERT_KEYS.c.alert_id != ALERTS.c.id)
    )
    not_held = sa.select(sa.func.count()).where(
        ~sa.exists().where(ALERT_KEYS.c.dedup_key == ALERTS.c.dedup_key)
    )
    with engine.connect() as conn:
        return {
            "alerts": conn.execute(sa.select(sa.func.count()).select_from(ALERTS)).scalar_one(),
            "keys_shared_by_alerts": conn.execute(
                sa.select(sa.func.count()).select_from(shared)
            ).scalar_one(),
            "keys_held_for_another_alert": conn.execute(held_for_another).scalar_one(),
            "keys_not_held": conn.execute(not_held).scalar_one(),
        }


def sent_checks(
    store_url: str, report: AlertsReport, now: dt.datetime
) -> list[dg.AssetCheckResult]:
    """The checks of a night's alert run: what was sent, read from the store, against what
    the run selected; and no dedup key shared by two alerts."""
    engine = open_store(store_url)
    try:
        found = _sent_figures(engine, report.night, utc(now))
        keys = _duplicate_keys(engine)
    finally:
        engine.dispose()
    made = report.selected - report.silenced  # every one stored, held or not
    expected = made - found["held"] - found["waiting_for_next_digest"]
    return [
        dg.AssetCheckResult(
            check_name="sent_reconciles",
            passed=found["sent"] == expected and found["stored"] == made,
            metadata={
                "selected": report.selected,
                "silenced": report.silenced,
                **found,
                "expected_sent": expected,
            },
        ),
        dg.AssetCheckResult(
            check_name="no_duplicate_keys",
            passed=not (
                keys["keys_shared_by_alerts"]
                or keys["keys_held_for_another_alert"]
                or keys["keys_not_held"]
            ),
            metadata=keys,
        ),
    ]


def _checks() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "sent",
            asset=SENT,
            description="the night's alerts were selected and sent from its scores (a "
            "warning if the night is not scored)",
        ),
        dg.AssetCheckSpec(
            "sent_reconciles",
            asset=SENT,
            description="alerts in tonight's digests, counted in the store, = alerts "
            "selected - held over capacity - silenced (less any for a recipient whose "
            "digest went out earlier tonight, which wait for the next night's)",
        ),
        dg.AssetCheckSpec(
            "no_duplicate_keys",
            asset=SENT,
            description="no two alerts in the store share a dedup key, and every alert's "
            "key is held for it, so nothing is alerted twice",
        ),
    ]


def sent_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The asset that selects, stores and sends a night's alerts from its scores."""

    # A multi-asset so that the checks that need a run can be left unevaluated on a night
    # that was not scored, instead of passing without looking.
    @dg.multi_asset(
        name=STEP,
        specs=[
            dg.AssetSpec(
                SENT,
                deps=[SCORES],
                group_name=GROUP,
                kinds={"duckdb", "sqlalchemy", "apprise"},
                description="The night's alerts: selected from its scores, routed to the "
                "professional or team with a duty of care, held over a team's capacity, "
                "stored with case packs in the operational store, and sent as one digest "
                "per recipient through Apprise. Never twice for the same dedup key.",
            )
        ],
        check_specs=_checks(),
        partitions_def=partitions,
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def _sent(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        store: StoreResource,
        alerts_config: AlertsConfigResource,
    ) -> Iterator[dg.MaterializeResult]:  # type: ignore[type-arg]
        night = dt.date.fromisoformat(context.partition_key)
        now = dt.datetime.now(dt.UTC)
        try:
            outcome = send_alerts(Path(warehouse.path), store.url, alerts_config.path(), night, now)
        except (ConfigError, OutcomesCopyError, FeaturesError) as exc:
            raise dg.Failure(description=str(exc)) from exc
        meta = outcome.metadata(night)
        checks = [
            dg.AssetCheckResult(
                check_name="sent",
                passed=outcome.report is not None,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"status": outcome.status, "reason": outcome.reason or "none"},
            )
        ]
        if outcome.report is not None:
            checks += sent_checks(store.url, outcome.report, now)
            for line in outcome.report.lines():
                context.log.info(line)
        context.log.info(f"alerts: {meta['summary']}")
        yield dg.MaterializeResult(asset_key=SENT, metadata=meta, check_results=checks)

    return _sent


class _Report(Protocol):
    def lines(self) -> list[str]: ...


Report = TypeVar("Report", bound=_Report)


def _followup_pass(
    context: dg.OpExecutionContext,
    run: Callable[[str, Path, dt.datetime], Report],
    store: StoreResource,
    alerts_config: AlertsConfigResource,
) -> Report:
    """Retries or escalation, now: a wrong config fails the op in words; the report is logged."""
    try:
        report = run(store.url, alerts_config.path(), dt.datetime.now(dt.UTC))
    except ConfigError as exc:
        raise dg.Failure(description=str(exc)) from exc
    for line in report.lines():
        context.log.info(line)
    return report


@dg.op(out=dg.Out(dg.Nothing))
def retry_failed_deliveries(
    context: dg.OpExecutionContext, store: StoreResource, alerts_config: AlertsConfigResource
) -> None:
    """Send again every failed delivery that is due; say what is still owed."""
    report = _followup_pass(context, retry_failed, store, alerts_config)
    context.add_output_metadata(
        {
            "messages_sent": report.sent,
            "messages_failed": report.failed,
            "messages_given_up": report.gave_up,
            "owed_retrying": report.owed_retrying,
            "owed_given_up": report.owed_given_up,
            "owed_alerts": report.owed_alerts,
        }
    )


@dg.op(ins={"after": dg.In(dg.Nothing)})
def escalate_unacknowledged(
    context: dg.OpExecutionContext, store: StoreResource, alerts_config: AlertsConfigResource
) -> None:
    """Tell the duty managers of every alert not acknowledged in time (once each)."""
    report = _followup_pass(context, escalate, store, alerts_config)
    context.add_output_metadata(
        {
            "escalated": sum(report.escalated.values()),
            "messages_sent": report.delivery.sent,
            "messages_failed": report.delivery.failed,
        }
    )


@dg.job(
    name=FOLLOWUP,
    description="Send again the alert deliveries that failed and are due, then tell the "
    "duty managers of alerts nobody acknowledged in time.",
)
def followup_job() -> None:
    """Retries, then escalation."""
    escalate_unacknowledged(after=retry_failed_deliveries())


def followup_schedule() -> dg.ScheduleDefinition:
    """Every 15 minutes, retries and escalation (stopped until an operator turns it on)."""
    return dg.ScheduleDefinition(
        name=FOLLOWUP_SCHEDULE,
        job=followup_job,
        cron_schedule="*/15 * * * *",
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Retries of failed alert deliveries, and escalation of alerts not "
        "acknowledged in time, every 15 minutes.",
    )
