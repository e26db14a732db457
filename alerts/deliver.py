"""Delivery: one digest per recipient per night, through Apprise, recorded per target.

A digest lists the recipient's new alerts by reference, each with its inbox link, and
nothing else: no name, no date of birth, no reason, no case detail. It goes to each of
the recipient's targets (their email, a team's Teams or Slack channel, a webhook), and
every send is scoped to that one target by an Apprise tag: Apprise sends an untagged
notify to every target it holds.

Each (batch, recipient, target) is a row of `deliveries`, made before anything is sent: an
outbox. A pass claims the rows it will send (status `sending`, its own token and a lease
of `delivery.lease_minutes`) in one statement, so two passes at once never take the same
row; it records each result as that send returns. A pass killed mid-way leaves its sent
rows `sent` and the rest claimed: the next retry after their lease has run out takes them
over, and one before it reports them in flight and leaves them alone. The only message a
recipient can get twice is one the relay accepted while the pass died before recording it:
at most `delivery.workers` of them, the sends in flight at that moment. A failed send is kept with
its error, its attempts and when to try again (`delivery.backoff_minutes`); after the
last it is given up and reported on every run, and its alerts stay pending, visible in
the inbox and escalated when nobody acknowledges them. A recipient with no target gets
a failed row saying so (retried: the config may have gained a target since). Nothing is
ever sent to anyone else instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
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
SENDING = "sending"  # claimed by one pass until its lease runs out

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
    taken_over: int = 0  # claimed by a pass that stopped before its lease ran out: sent now
    in_flight: int = 0  # claimed by another pass whose lease has not run out: left alone
    owed_unsent: int = 0  # in the store after this: rows never sent nor failed (see lines)

    def add(self, other: DeliveryReport) -> None:
        """Fold another report's sends into this one."""
        self.sent += other.sent
        self.failed += other.failed
        self.gave_up += other.gave_up
        self.no_target += other.no_target
        self.errors.update(other.errors)
        self.taken_over += other.taken_over
        self.in_flight += other.in_flight

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
        if self.taken_over:
            out.append(
                f"  {self.taken_over} send(s) left claimed by a pass that stopped, taken over "
                "after their lease ran out"
            )
        if self.in_flight:
            out.append(
                f"  {self.in_flight} send(s) claimed by another pass still within its lease: "
                "left to it"
            )
        if self.owed_retrying or self.owed_given_up or self.owed_alerts or self.owed_unsent:
            unsent = (
                f", {self.owed_unsent} not yet sent (pending, or claimed by a pass)"
                if self.owed_unsent
                else ""
            )
            out.append(
                f"owed: {self.owed_retrying} sends awaiting retry{unsent}, "
                f"{self.owed_given_up} given up; {self.owed_alerts} alerts still pending "
                "(visible in the inbox)"
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


def _claimable(when: dt.datetime) -> sa.ColumnElement[bool]:
    """Rows a pass may claim at `when`: to send, due a retry, or left by a pass that stopped."""
    d = DELIVERIES.c
    return sa.and_(
        d.target_tag != NO_TARGET,
        sa.or_(
            d.status == PENDING,
            sa.and_(
                d.status == "failed", d.next_attempt_at.is_not(None), d.next_attempt_at <= when
            ),
            sa.and_(d.status == SENDING, d.lease_until <= when),
        ),
    )


@dataclass
class Claim:
    """The rows one pass claimed, under its token."""

    token: str
    rows: list[sa.Row[Any]]
    taken_over: int  # of them, left claimed by a pass whose lease had run out


def claim(
    engine: Engine, config: AlertsConfig, delivery_ids: Iterable[int], now: dt.datetime
) -> Claim:
    """Claim the rows among these that no other pass holds.

    One UPDATE a chunk sets status, token and lease only where the row is still claimable,
    so of two passes at once each row goes to exactly one (SQLite writes one at a time;
    PostgreSQL re-checks the condition on the row it locked).
    """
    token = secrets.token_hex(8)
    when = utc(now)
    ids = sorted(set(delivery_ids))
    lease = when + dt.timedelta(minutes=config.delivery.lease_minutes)
    stale: set[int] = set()
    with engine.begin() as conn:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            stale |= {
                r[0]
                for r in conn.execute(
                    sa.select(DELIVERIES.c.id).where(
                        DELIVERIES.c.id.in_(chunk),
                        DELIVERIES.c.status == SENDING,
                        DELIVERIES.c.lease_until <= when,
                    )
                )
            }
            conn.execute(
                sa.update(DELIVERIES)
                .where(DELIVERIES.c.id.in_(chunk), _claimable(when))
                .values(status=SENDING, claimed_by=token, lease_until=lease)
            )
    with engine.connect() as conn:
        rows = list(
            conn.execute(
                sa.select(DELIVERIES)
                .where(DELIVERIES.c.claimed_by == token, DELIVERIES.c.status == SENDING)
                .order_by(DELIVERIES.c.id)
            ).all()
        )
    return Claim(token, rows, len(stale & {r.id for r in rows}))


def _record(
    engine: Engine,
    config: AlertsConfig,
    token: str,
    row: sa.Row[Any],
    result: tuple[bool, str, str | None],
    now: dt.datetime,
) -> None:
    """Write one send's result at once, and mark its digest's alerts delivered if it went."""
    ok, error, shown = result
    when = utc(now)
    attempts = row.attempts + 1
    values: dict[str, object] = {"attempts": attempts, "claimed_by": None, "lease_until": None}
    if shown:
        values["target_url"] = shown
    if ok:
        values |= {"status": "sent", "sent_at": when, "next_attempt_at": None}
    else:
        retry_at = _next_attempt(config, attempts, when)
        values |= {"status": "failed", "last_error": error, "next_attempt_at": retry_at}
    with engine.begin() as conn:
        mine = conn.execute(
            sa.update(DELIVERIES)
            .where(DELIVERIES.c.id == row.id, DELIVERIES.c.claimed_by == token)
            .values(**values)
        ).rowcount
        if mine and ok and row.purpose == "digest":
            alert_ids = sa.select(DELIVERY_ALERTS.c.alert_id).where(
                DELIVERY_ALERTS.c.delivery_id == row.id
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


def send(
    engine: Engine, config: AlertsConfig, delivery_ids: Iterable[int], now: dt.datetime
) -> DeliveryReport:
    """Claim these delivery rows, send each, and record each result as it comes.

    A digest's alerts are delivered once any one of the recipient's targets took it. A row
    another pass holds is left to it and counted in `in_flight`.
    """
    report = DeliveryReport()
    ids = sorted(set(delivery_ids))
    if not ids:
        return report
    when = utc(now)
    claimed = claim(engine, config, ids, now)
    token = claimed.token
    report.taken_over = claimed.taken_over
    jobs: list[tuple[sa.Row[Any], str | None]] = [
        (r, targets_for(config, r.recipient).get(r.target_tag)) for r in claimed.rows
    ]

    def one(job: tuple[sa.Row[Any], str | None]) -> tuple[bool, str, str | None]:
        row, url = job
        result = (
            _send_one(row.id, url, row.subject, row.body)
            if url is not None
            else (False, f"target {row.target_tag!r} is no longer in the config", None)
        )
        _record(engine, config, token, row, result, now)
        return result

    with ThreadPoolExecutor(max_workers=config.delivery.workers) as pool:
        results = list(pool.map(one, jobs))
    for (row, _), (ok, error, _shown) in zip(jobs, results, strict=True):
        if ok:
            report.sent += 1
            continue
        report.errors[f"{row.target_tag}: {error}"] += 1
        if _next_attempt(config, row.attempts + 1, when) is None:
            report.gave_up += 1
        else:
            report.failed += 1
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
        report.owed_unsent = conn.execute(
            sa.select(sa.func.count()).where(DELIVERIES.c.status.in_((PENDING, SENDING)))
        ).scalar_one()
    return report


def retry_due(engine: Engine, config: AlertsConfig, now: dt.datetime) -> DeliveryReport:
    """Send every delivery that is owed by `now`: due a retry, never sent, or left claimed.

    A row claimed by a pass whose lease has not run out is left to it and counted. A
    delivery to a recipient who had no target is looked at again: if the config now gives
    them targets, the message goes to those, and the old row is superseded (by
    compare-and-set, so two passes at once supersede it once).
    """
    when = utc(now)
    report = DeliveryReport()
    d = DELIVERIES.c
    with engine.begin() as conn:
        report.in_flight = conn.execute(
            sa.select(sa.func.count()).where(d.status == SENDING, d.lease_until > when)
        ).scalar_one()
        ids = [r[0] for r in conn.execute(sa.select(d.id).where(_claimable(when)))]
        lost = conn.execute(
            sa.select(DELIVERIES).where(
                d.target_tag == NO_TARGET,
                d.status == "failed",
                d.next_attempt_at.is_not(None),
                d.next_attempt_at <= when,
            )
        ).all()
    for row in lost:
        with engine.begin() as conn:
            if not targets_for(config, row.recipient):
                attempts = row.attempts + 1
                retry_at = _next_attempt(config, attempts, when)
                if not conn.execute(
                    sa.update(DELIVERIES)
                    .where(d.id == row.id, d.attempts == row.attempts, d.status == "failed")
                    .values(attempts=attempts, next_attempt_at=retry_at)
                ).rowcount:
                    continue  # another pass looked at it first
                report.no_target.append(row.recipient)
                if retry_at is None:
                    report.gave_up += 1
                else:
                    report.failed += 1
                continue
            if not conn.execute(
                sa.update(DELIVERIES)
                .where(d.id == row.id, d.status == "failed")
                .values(status=SUPERSEDED, next_attempt_at=None)
            ).rowcount:
                continue  # another pass superseded it first
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
    report.add(send(engine, config, ids, now))
    return owed(engine, report)
