"""Escalation: alerts nobody acknowledged in time go to the duty manager.

An alert still open (held, pending or delivered) `escalation.after_hours` after it was
raised is escalated once: its team's `escalate_to` (else `escalation.to`) gets one
message listing every such alert by reference, and the alert records when and to whom.
A snoozed alert wakes on the day its snooze ends; still snoozed `after_hours` after
that, nobody has picked it up again, and it escalates the same way (once a snooze: an
alert escalated before it was snoozed can escalate again when the snooze runs out).
The time is passed in, so a test moves the clock rather than waiting.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.config import AlertsConfig
from alerts.deliver import DeliveryReport, new_deliveries, owed, render_escalation, send
from alerts.store import ALERTS, OPEN_STATES, utc

# The inbox's snoozes (inbox.tables.SNOOZES), named here without importing the inbox: the
# table exists in any store where an alert has been snoozed.
_SNOOZES = sa.table("inbox_snoozes", sa.column("alert_id"), sa.column("until"), sa.column("at"))


@dataclass
class EscalationReport:
    """What an escalation pass did."""

    escalated: Counter[str] = field(default_factory=Counter)  # manager team -> alerts
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    def lines(self) -> list[str]:
        """Lines for a report: counts and team ids only."""
        total = sum(self.escalated.values())
        head = f"escalated: {total} alerts not acknowledged in time"
        if total:
            head += " (" + ", ".join(f"{t} {n}" for t, n in sorted(self.escalated.items())) + ")"
        return [head, *self.delivery.lines()] if total else [head]


def escalate_due(engine: Engine, config: AlertsConfig, now: dt.datetime) -> EscalationReport:
    """Escalate every open alert raised more than `after_hours` before `now`, once."""
    when = utc(now)
    cutoff = when - dt.timedelta(hours=config.escalation.after_hours)
    report = EscalationReport()
    ids: list[int] = []
    with engine.begin() as conn:
        due = conn.execute(
            sa.select(
                ALERTS.c.id,
                ALERTS.c.reference,
                ALERTS.c.night,
                ALERTS.c.routed_team,
                ALERTS.c.version,
            )
            .where(
                ALERTS.c.state.in_(OPEN_STATES),
                ALERTS.c.escalated_at.is_(None),
                ALERTS.c.created_at <= cutoff,
            )
            .order_by(ALERTS.c.night, ALERTS.c.id)
        ).all()
        due = [*due, *_woken(conn, cutoff)]
        by_manager: dict[str, list[Any]] = {}
        for row in due:
            team = row.routed_team
            manager = config.manager_of(team) if team in config.teams else config.escalation.to
            by_manager.setdefault(manager, []).append(row)
        batch = f"escalation:{when.isoformat(timespec='seconds')}"
        for manager, rows in sorted(by_manager.items()):
            taken = []
            for row in rows:
                # Compare-and-set: an alert the inbox changed meanwhile is left alone.
                done = conn.execute(
                    sa.update(ALERTS)
                    .where(ALERTS.c.id == row.id, ALERTS.c.version == row.version)
                    .values(
                        escalated_at=when,
                        escalated_to=manager,
                        updated_at=when,
                        version=ALERTS.c.version + 1,
                    )
                )
                if done.rowcount == 1:
                    taken.append(row)
            if not taken:
                continue
            subject, body = render_escalation(
                config, [(r.reference, r.night, r.routed_team) for r in taken]
            )
            ids += new_deliveries(
                conn,
                config,
                batch,
                "escalation",
                manager,
                subject,
                body,
                [r.id for r in taken],
                now,
                report.delivery,
            )
            report.escalated[manager] += len(taken)
    report.delivery.add(send(engine, config, ids, now))
    owed(engine, report.delivery)
    return report


def _woken(conn: sa.Connection, cutoff: dt.datetime) -> list[Any]:
    """Snoozed alerts whose last snooze ended by `cutoff`, not escalated since it was given."""
    if not conn.execute(sa.select(sa.func.count()).where(ALERTS.c.state == "snoozed")).scalar_one():
        return []  # and the inbox's tables may not exist
    last = (
        sa.select(_SNOOZES.c.alert_id, sa.func.max(_SNOOZES.c.at).label("at"))
        .group_by(_SNOOZES.c.alert_id)
        .subquery()
    )
    # The latest snooze given is the one that counts (a shorter one may replace a longer).
    newest = (
        sa.select(_SNOOZES.c.alert_id, _SNOOZES.c.until, _SNOOZES.c.at)
        .join(last, sa.and_(last.c.alert_id == _SNOOZES.c.alert_id, last.c.at == _SNOOZES.c.at))
        .subquery()
    )
    return list(
        conn.execute(
            sa.select(
                ALERTS.c.id,
                ALERTS.c.reference,
                ALERTS.c.night,
                ALERTS.c.routed_team,
                ALERTS.c.version,
            )
            .join(newest, newest.c.alert_id == ALERTS.c.id)
            .where(
                ALERTS.c.state == "snoozed",
                newest.c.until <= cutoff.date(),
                sa.or_(ALERTS.c.escalated_at.is_(None), ALERTS.c.escalated_at < newest.c.at),
            )
            .order_by(ALERTS.c.night, ALERTS.c.id)
        ).all()
    )
