"""Delivery: one digest per recipient per night, through Apprise, recorded per target.

A digest lists the recipient's new alerts by reference, each with its inbox link, and
nothing else: no name, no date of birth, no reason, no case detail. It goes to each of
the recipient's targets (their email, a team's Teams or Slack channel, a webhook), and
every send is scoped to that one target by an Apprise tag: Apprise sends an untagged
notify to every target it holds.

Each (batch, recipient, target) is a row of `deliveries`, made before anything is sent,
so a crash mid-send leaves rows that say what is still owed. A failed send is kept with
its error, its attempts and when to try again (`delivery.backoff_minutes`); after the
last it is given up and reported on every run, and its alerts stay pending, visible in
the inbox and escalated when nobody acknowledges them. A recipient with no target gets
a failed row saying so (retried: the config may have gained a target since). Nothing is
ever sent to anyone else instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import apprise
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.config import AlertsConfig
from alerts.store import ALERTS, DELIVERED, DELIVERIES, DELIVERY_ALERTS, PENDING, utc

NO_TARGET = "-"  # the target_tag of a delivery to a recipient who has no target
SUPERSEDED = "superseded"  # a no-target delivery whose recipient has had targets since
STALE_PENDING = dt.timedelta(hours=1)  # a pending row this old was left by a crashed run

KIND_WORDS = {
    "new_high": "new high risk",
    "rise": "marked rise in risk",
    "indicator": "risk indicator",
    "step_down": "step-down: review for closure",
}


def _asset() -> apprise.AppriseAsset:
    # In memory: Apprise keeps nothing of ours on disk.
    return apprise.AppriseAsset(
        app_id="joinedup", app_desc="joinedup alerts", storage_mode="memory"
    )


def link(config: AlertsConfig, reference: str) -> str:
    """The inbox link of an alert."""
    return config.inbox_url.replace("{reference}", reference)


def render_digest(
    config: AlertsConfig, night: dt.date, alerts: list[tuple[str, str]]
) -> tuple[str, str]:
    """Subject and body of a night's digest: (reference, kind) of each alert, nothing more."""
    n = len(alerts)
    subject = f"joinedup: {n} alert{'s' if n != 1 else ''} to review, night of {night}"
    lines = [
        f"joinedup has {n} new alert{'s' if n != 1 else ''} for you from the night of {night}.",
        "Open each in the joinedup inbox (sign-in needed): why the person was flagged,",
        "and who else is working with them, are there and not in this message.",
        "",
        *(f"- {ref} ({KIND_WORDS.get(kind, kind)}): {link(config, ref)}" for ref, kind in alerts),
        "",
        "This message carries alert references only. Please acknowledge each in the inbox;",
        f"an alert not acknowledged within {config.escalation.after_hours:g} hours goes to "
        "the duty manager.",
    ]
    return subject, "\n".join(lines)


def render_escalation(
    config: AlertsConfig, alerts: list[tuple[str, dt.date, str]]
) -> tuple[str, str]:
    """Subject and body telling a duty manager of (reference, night, team) not acknowledged."""
    n = len(alerts)
    hours = f"{config.escalation.after_hours:g}"
    subject = f"joinedup: {n} alert{'s' if n != 1 else ''} not acknowledged within {hours} hours"
    lines = [
        f"{n} alert{'s were' if n != 1 else ' was'} not acknowledged within {hours} hours of "
        "being raised.",
        "Open each in the joinedup inbox (sign-in needed) to see it and reassign it.",
        "",
        *(
            f"- {ref}, raised on the night of {night} for "
            f"{config.teams[team].name if team in config.teams else team}: {link(config, ref)}"
            for ref, night, team in alerts
        ),
        "",
        "This message carries alert references only.",
    ]
    return subject, "\n".join(lines)


def targets_for(config: AlertsConfig, recipient: str) -> dict[str, str]:
    """A recipient's targets by name: a team's from its entry, a professional's by email."""
    if "@" in recipient:
        return config.professionals.targets_for(recipient)
    team = config.teams.get(recipient)
    return dict(team.targets) if team else {}


@dataclass
class DeliveryReport:
    """What sending did, and what is still owed."""

    sent: int = 0
    failed: int = 0  # failed this time; retried later
    gave_up: int = 0  # failed for the last time this time
    no_target: list[str] = field(default_factory=list)  # recipients with no target
    errors: Counter[str] = field(default_factory=Counter)  # error -> how many sends
    owed_retrying: int = 0  # in the store after this: failed rows awaiting a retry
    owed_given_up: int = 0  # ... failed rows given up
    owed_alerts: int = 0  # ... alerts still pending (nobody told yet)

    def add(self, other: DeliveryReport) -> None:
        """Fold another report's sends into this one."""
        self.sent += other.sent
        self.failed += other.failed
        self.gave_up += other.gave_up
        self.no_target += other.no_target
        self.errors.update(other.errors)

    def lines(self) -> list[str]:
        """Lines for the run's report; no personal data, only counts and recipients."""
        out = [
            f"messages: {self.sent} sent, {self.failed} failed (to retry), {self.gave_up} given up"
        ]
        out += [f"  failed x{n}: {err}" for err, n in self.errors.most_common(5)]
        if self.no_target:
            out.append(
                f"  no target for {len(self.no_target)} recipient(s): "
                + ", ".join(sorted(set(self.no_target))[:10])
            )
        if self.owed_retrying or self.owed_given_up or self.owed_alerts:
            out.append(
                f"owed: {self.owed_retrying} sends awaiting retry, {self.owed_given_up} given "
                f"up; {self.owed_alerts} alerts still pending (visible in the inbox)"
            )
        return out


def new_deliveries(
    conn: sa.Connection,
    config: AlertsConfig,
    batch: str,
    purpose: str,
    recipient: str,
    subject: str,
    body: str,
    alert_ids: list[int],
    now: dt.datetime,
    report: DeliveryReport,
) -> list[int]:
    """Rows for a message to each of a recipient's targets (or a failed one if it has none).

    Returns the ids of the rows to send.
    """
    when = utc(now)
    targets = targets_for(config, recipient)
    rows = [
        {
            "batch": batch,
            "purpose": purpose,
            "recipient": recipient,
            "target_tag": name,
            "subject": subject,
            "body": body,
            "status": PENDING,
            "attempts": 0,
            "created_at": when,
        }
        for name in sorted(targets)
    ]
    if not targets:
        report.no_target.append(recipient)
        rows = [
            {
                "batch": batch,
                "purpose": purpose,
                "recipient": recipient,
                "target_tag": NO_TARGET,
                "subject": subject,
                "body": body,
                "status": "failed",
                "attempts": 1,
                "last_error": f"{recipient} has no target in the alerts config",
                "next_attempt_at": _next_attempt(config, 1, when),
                "created_at": when,
            }
        ]
    ids = []
    for row in rows:
        key = conn.execute(sa.insert(DELIVERIES).values(**row)).inserted_primary_key
        assert key is not None
        ids.append(int(key[0]))
    conn.execute(
        sa.insert(DELIVERY_ALERTS),
        [{"delivery_id": d, "alert_id": a} for d in ids for a in alert_ids],
    )
    return ids if targets else []


def _next_attempt(config: AlertsConfig, attempts: int, now: dt.datetime) -> dt.datetime | None:
    """When to try again after `attempts` failures; None once the backoff is used up."""
    waits = config.delivery.backoff_minutes
    if attempts > len(waits):
        return None
    return now + dt.timedelta(minutes=waits[attempts - 1])


def plan_digests(
    conn: sa.Connection,
    config: AlertsConfig,
    night: dt.date,
    now: dt.datetime,
    report: DeliveryReport,
) -> list[int]:
    """Tonight's digest rows for every recipient with alerts nobody has tried to tell.

    A recipient whose digest for the night exists already (a re-run) gets the rest in the
    next night's: one digest per recipient per night.
    """
    waiting = conn.execute(
        sa.select(ALERTS.c.id, ALERTS.c.reference, ALERTS.c.kind, ALERTS.c.routed_to)
        .where(
            ALERTS.c.state == PENDING,
            ALERTS.c.notify_night <= night,
            ~sa.exists().where(DELIVERY_ALERTS.c.alert_id == ALERTS.c.id),
        )
        .order_by(ALERTS.c.routed_to, ALERTS.c.score.desc(), ALERTS.c.id)
    ).all()
    batch = f"digest:{night.isoformat()}"
    done = {
        r[0]
        for r in conn.execute(
            sa.select(DELIVERIES.c.recipient).where(DELIVERIES.c.batch == batch).distinct()
        )
    }
    by_recipient: dict[str, list[Any]] = {}
    for row in waiting:
        by_recipient.setdefault(row.routed_to, []).append(row)
    ids: list[int] = []
    for recipient, rows in by_recipient.items():
        if recipient in done:
            continue
        subject, body = render_digest(config, night, [(r.reference, r.kind) for r in rows])
        ids += new_deliveries(
            conn,
            config,
            batch,
            "digest",
            recipient,
            subject,
            body,
            [r.id for r in rows],
            now,
            report,
        )
    return ids


def _tag(delivery_id: int) -> str:
    # Apprise tags are [a-z0-9_-]; a colon would be read as a priority or a retry count.
    return "d" + hashlib.sha256(str(delivery_id).encode()).hexdigest()[:12]


def _send_one(delivery_id: int, url: str, subject: str, body: str) -> tuple[bool, str, str | None]:
    """Send to one target, scoped by its tag: (ok, error, the URL as Apprise shows it)."""
    tag = _tag(delivery_id)
    notifier = apprise.Apprise(asset=_asset())
    if not notifier.add(url, tag=tag):
        return False, "Apprise cannot read this target's URL", None
    result = notifier.notify(
        body=body, title=subject, tag=tag, body_format=apprise.NotifyFormat.TEXT
    )
    services = list(result)
    shown = services[0].url if services else None
    if bool(result):
        return True, "", shown
    said = [e.message for s in services for e in s.logs() if e.level in ("WARNING", "ERROR")]
    return False, "; ".join(dict.fromkeys(said)) or f"Apprise: {result.status.name}", shown


def send(
    engine: Engine, config: AlertsConfig, delivery_ids: Iterable[int], now: dt.datetime
) -> DeliveryReport:
    """Send these delivery rows, record each result, and mark delivered alerts.

    A digest's alerts are delivered once any one of the recipient's targets took it.
    """
    report = DeliveryReport()
    ids = sorted(set(delivery_ids))
    if not ids:
        return report
    with engine.connect() as conn:
        rows = [
            r
            for i in range(0, len(ids), 500)
            for r in conn.execute(
                sa.select(DELIVERIES).where(DELIVERIES.c.id.in_(ids[i : i + 500]))
            ).all()
        ]
    jobs: list[tuple[sa.Row[tuple[object, ...]], str | None]] = [
        (r, targets_for(config, r.recipient).get(r.target_tag)) for r in rows
    ]
    with ThreadPoolExecutor(max_workers=config.delivery.workers) as pool:
        results = list(
            pool.map(
                lambda job: (
                    _send_one(job[0].id, job[1], job[0].subject, job[0].body)
                    if job[1] is not None
                    else (False, f"target {job[0].target_tag!r} is no longer in the config", None)
                ),
                jobs,
            )
        )
    when = utc(now)
    delivered: list[int] = []
    with engine.begin() as conn:
        for (row, _), (ok, error, shown) in zip(jobs, results, strict=True):
            attempts = row.attempts + 1
            values: dict[str, object] = {"attempts": attempts}
            if shown:
                values["target_url"] = shown
            if ok:
                values |= {"status": "sent", "sent_at": when, "next_attempt_at": None}
                report.sent += 1
                if row.purpose == "digest":
                    delivered.append(row.id)
            else:
                retry_at = _next_attempt(config, attempts, when)
                values |= {"status": "failed", "last_error": error, "next_attempt_at": retry_at}
                report.errors[f"{row.target_tag}: {error}"] += 1
                if retry_at is None:
                    report.gave_up += 1
                else:
                    report.failed += 1
            conn.execute(sa.update(DELIVERIES).where(DELIVERIES.c.id == row.id).values(**values))
        for i in range(0, len(delivered), 500):
            alert_ids = sa.select(DELIVERY_ALERTS.c.alert_id).where(
                DELIVERY_ALERTS.c.delivery_id.in_(delivered[i : i + 500])
            )
            conn.execute(
                sa.update(ALERTS)
                .where(ALERTS.c.id.in_(alert_ids), ALERTS.c.state == PENDING)
                .values(
                    state=DELIVERED,
                    delivered_at=when,
                    updated_at=when,
                    version=ALERTS.c.version + 1,
                )
            )
    return report


def owed(engine: Engine, report: DeliveryReport) -> DeliveryReport:
    """Fill in what the store still owes: failed sends and alerts nobody has been told of."""
    with engine.connect() as conn:
        report.owed_retrying = conn.execute(
            sa.select(sa.func.count()).where(
                DELIVERIES.c.status == "failed", DELIVERIES.c.next_attempt_at.is_not(None)
            )
        ).scalar_one()
        report.owed_given_up = conn.execute(
            sa.select(sa.func.count()).where(
                DELIVERIES.c.status == "failed", DELIVERIES.c.next_attempt_at.is_(None)
            )
        ).scalar_one()
        report.owed_alerts = conn.execute(
            sa.select(sa.func.count()).where(ALERTS.c.state == PENDING)
        ).scalar_one()
    return report


def retry_due(engine: Engine, config: AlertsConfig, now: dt.datetime) -> DeliveryReport:
    """Send again every failed delivery whose time has come (and any a crashed run left).

    A delivery to a recipient who had no target is looked at again: if the config now
    gives them targets, the message goes to those, and the old row is superseded.
    """
    when = utc(now)
    report = DeliveryReport()
    with engine.begin() as conn:
        due = conn.execute(
            sa.select(DELIVERIES).where(
                sa.or_(
                    sa.and_(
                        DELIVERIES.c.status == "failed",
                        DELIVERIES.c.next_attempt_at.is_not(None),
                        DELIVERIES.c.next_attempt_at <= when,
                    ),
                    sa.and_(
                        DELIVERIES.c.status == PENDING,
                        DELIVERIES.c.created_at <= when - STALE_PENDING,
                    ),
                )
            )
        ).all()
        ids: list[int] = []
        for row in due:
            if row.target_tag != NO_TARGET:
                ids.append(row.id)
                continue
            if not targets_for(config, row.recipient):
                attempts = row.attempts + 1
                retry_at = _next_attempt(config, attempts, when)
                conn.execute(
                    sa.update(DELIVERIES)
                    .where(DELIVERIES.c.id == row.id)
                    .values(attempts=attempts, next_attempt_at=retry_at)
                )
                report.no_target.append(row.recipient)
                if retry_at is None:
                    report.gave_up += 1
                else:
                    report.failed += 1
                continue
            alert_ids = [
                r[0]
                for r in conn.execute(
                    sa.select(DELIVERY_ALERTS.c.alert_id).where(
                        DELIVERY_ALERTS.c.delivery_id == row.id
                    )
                )
            ]
            ids += new_deliveries(
                conn,
                config,
                row.batch,
                row.purpose,
                row.recipient,
                row.subject,
                row.body,
                alert_ids,
                now,
                report,
            )
            conn.execute(
                sa.update(DELIVERIES)
                .where(DELIVERIES.c.id == row.id)
                .values(status=SUPERSEDED, next_attempt_at=None)
            )
    report.add(send(engine, config, ids, now))
    return owed(engine, report)
