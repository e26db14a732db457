"""What a user may see and do to an alert: the visibility rule, the changes of state
(each a compare-and-set on `alerts.version`, in one transaction with its audit row),
notes, and the audit log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alerts.store import ALERTS, CASE_PACKS, utc
from inbox import auditchain
from inbox.tables import (
    AUDIT_LOG,
    DUTY_MANAGER,
    FORWARDS,
    GOALS,
    NOTE_MAX,
    NOTES,
    OUTCOME_ROWS,
    OUTCOMES,
    PROFESSIONAL,
    PROGRESS,
    SNOOZES,
    USERS,
)
from inbox.users import User

NOT_CLOSED = ("held", "pending", "delivered", "acknowledged", "forwarded", "snoozed")
FORWARD_ROLES = (PROFESSIONAL, DUTY_MANAGER)  # who may be forwarded an alert


class Refused(ValueError):
    """An action refused for its input; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Conflict(Refused):
    """Someone else changed the alert first: nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


def visible(user: User) -> sa.ColumnElement[bool]:
    """The alerts a user may see: routed to them or their team, or forwarded to them.

    Duty managers see every alert (unacknowledged ones escalate to them); analysts and
    admins see none.
    """
    if user.role == DUTY_MANAGER:
        return sa.true()
    if user.role != PROFESSIONAL:
        return sa.false()
    forwarded = sa.select(FORWARDS.c.alert_id).where(FORWARDS.c.to_user == user.username)
    mine: list[sa.ColumnElement[bool]] = [ALERTS.c.id.in_(forwarded)]
    if user.email:
        mine.append(ALERTS.c.routed_to == user.email)
    if user.team:
        mine += [ALERTS.c.routed_team == user.team, ALERTS.c.routed_to == user.team]
    return sa.or_(*mine)


# The request being served: its client address and a hash of its session cookie, set by
# the app for each request (inbox.guard.Caller) and written on every audit line.
CALLER: ContextVar[tuple[str, str]] = ContextVar("caller", default=("", ""))


def audit(
    conn: Connection,
    user: User,
    action: str,
    now: dt.datetime,
    reference: str | None = None,
    detail: str = "",
) -> None:
    """Append one line to the audit log (who, when, what, which alert; never a note's text)."""
    audit_as(conn, user.username, user.role, action, now, reference, detail)


def audit_as(
    conn: Connection,
    actor: str,
    role: str,
    action: str,
    now: dt.datetime,
    reference: str | None = None,
    detail: str = "",
) -> None:
    """An audit line for someone who may not be signed in (a refused sign-in, say)."""
    client, session = CALLER.get()
    auditchain.append(
        conn,
        at=utc(now),
        actor=actor[:320],
        role=role[:16],
        action=action[:32],
        reference=reference,
        detail=detail[:500],
        client=client[:64] or None,
        session=session[:16] or None,
    )


# What the list shows of an alert: a duty manager's list is every alert, so reading the
# rest (reasons, triggers, times) and copying each row into a dict was most of the query.
LISTED = (
    "id",
    "reference",
    "night",
    "band",
    "score",
    "kind",
    "routed_team",
    "routed_to",
    "recipient_kind",
    "state",
    "previous_band",  # the list says from what band the risk moved
)


def _snoozed_until(alert_id: Any) -> sa.Select[tuple[dt.date]]:
    """The day an alert's latest snooze runs to: a snooze given again replaces the last."""
    return (
        sa.select(SNOOZES.c.until)
        .where(SNOOZES.c.alert_id == alert_id)
        .order_by(SNOOZES.c.id.desc())
        .limit(1)
    )


def list_alerts(
    engine: Engine, user: User, state: str | None, today: dt.date | None = None
) -> Sequence[sa.RowMapping]:
    """The alerts a user may see (of one state, or all): snoozed alerts whose day has come
    first, then newest night and highest score first.

    Each row holds the columns in `LISTED`, read by name (`row["reference"]`), and `woke`:
    the day a snoozed alert's snooze ended, if it has (None otherwise). Waking changes
    nothing stored: the alert stays snoozed until someone acts on it.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    until = _snoozed_until(ALERTS.c.id).scalar_subquery()
    woke = sa.case((sa.and_(ALERTS.c.state == "snoozed", until <= today), until), else_=None)
    query = (
        sa.select(*(ALERTS.c[name] for name in LISTED), woke.label("woke"))
        .where(visible(user))
        .order_by(
            sa.case((woke.is_(None), 1), else_=0),
            ALERTS.c.night.desc(),
            ALERTS.c.score.desc(),
            ALERTS.c.id,
        )
    )
    if state:
        query = query.where(ALERTS.c.state == state)
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


def open_alert(
    engine: Engine, user: User, reference: str, now: dt.datetime
) -> dict[str, Any] | None:
    """An alert, its case pack, notes and forwards, if the user may see it; audits the view.

    An alert the user may not see and one that does not exist both give None, so a URL
    does not tell whether an alert exists; the attempt is audited as refused.
    """
    # Every view writes an audit line: last, and as a statement on its own (autocommit).
    # On SQLite the store is locked for writing from a transaction's first write to its
    # commit; a thread that waited for Python's lock in between kept everyone else waiting.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(
            sa.select(ALERTS, CASE_PACKS.c.json.label("pack_json"))
            .outerjoin(CASE_PACKS, CASE_PACKS.c.alert_id == ALERTS.c.id)
            .where(ALERTS.c.reference == reference, visible(user))
        ).first()
        if row is None:
            audit(conn, user, "view_refused", now, reference[:16])
            return None
        alert = dict(row._mapping)
        alert["notes"] = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(NOTES).where(NOTES.c.alert_id == alert["id"]).order_by(NOTES.c.id)
            )
        ]
        alert["snoozed_until"] = conn.execute(_snoozed_until(alert["id"])).scalar()
        alert["forwards"] = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(FORWARDS)
                .where(FORWARDS.c.alert_id == alert["id"])
                .order_by(FORWARDS.c.id)
            )
        ]
        audit(conn, user, "view", now, reference)
    alert["pack"] = json.loads(alert.pop("pack_json") or "{}")
    alert["reasons"] = json.loads(alert["reasons_json"] or "[]")
    return alert


def _change(
    conn: Connection,
    user: User,
    reference: str,
    version: int,
    states: tuple[str, ...],
    values: dict[str, Any],
    now: dt.datetime,
) -> int:
    """Compare-and-set: change a visible alert still at `version`; returns its id.

    Raises:
        Refused: 404 if the user may not see it.
        Conflict: it changed since the user saw it (nothing is written).
    """
    found = conn.execute(
        sa.select(ALERTS.c.id, ALERTS.c.state, ALERTS.c.version).where(
            ALERTS.c.reference == reference, visible(user)
        )
    ).first()
    if found is None:
        raise Refused(404, "No such alert.")
    done = conn.execute(
        sa.update(ALERTS)
        .where(
            ALERTS.c.id == found.id,
            ALERTS.c.version == version,
            ALERTS.c.state.in_(states),
        )
        .values(**values, updated_at=utc(now), version=ALERTS.c.version + 1)
    )
    if done.rowcount != 1:
        now_row = conn.execute(
            sa.select(ALERTS.c.state, ALERTS.c.acknowledged_by).where(ALERTS.c.id == found.id)
        ).one()
        who = f" by {now_row.acknowledged_by}" if now_row.acknowledged_by else ""
        raise Conflict(
            f"This alert changed while you were looking at it: it is now {now_row.state}{who}. "
            "Nothing you sent was saved; reload the page to see it as it stands."
        )
    return int(found.id)


def _clean_note(text: str, required: bool) -> str:
    text = text.strip()
    if len(text) > NOTE_MAX:
        raise Refused(413, f"A note can be at most {NOTE_MAX} characters; this one is {len(text)}.")
    if required and not text:
        raise Refused(422, "Please write a note.")
    return text


def acknowledge(engine: Engine, user: User, reference: str, version: int, now: dt.datetime) -> None:
    """Take ownership of an alert that nobody has acknowledged (or that was forwarded to you)."""
    with engine.begin() as conn:
        _change(
            conn,
            user,
            reference,
            version,
            ("held", "pending", "delivered", "forwarded", "snoozed"),
            {
                "state": "acknowledged",
                "acknowledged_at": utc(now),
                "acknowledged_by": user.username,
            },
            now,
        )
        audit(conn, user, "acknowledge", now, reference)


def forward(
    engine: Engine, user: User, reference: str, version: int, to: str, note: str, now: dt.datetime
) -> None:
    """Forward an alert to a colleague (a professional or duty manager) with a note."""
    text = _clean_note(note, required=False)
    with engine.begin() as conn:
        target = conn.execute(
            sa.select(USERS.c.username, USERS.c.role, USERS.c.left_at).where(
                USERS.c.username == to.strip().lower()
            )
        ).first()
        if target is None or target.role not in FORWARD_ROLES or target.left_at is not None:
            raise Refused(422, "There is no colleague with that sign-in to forward to.")
        if target.username == user.username:
            raise Refused(422, "You cannot forward an alert to yourself.")
        alert_id = _change(conn, user, reference, version, NOT_CLOSED, {"state": "forwarded"}, now)
        conn.execute(
            sa.insert(FORWARDS).values(
                alert_id=alert_id, from_user=user.username, to_user=target.username, at=utc(now)
            )
        )
        if text:
            conn.execute(
                sa.insert(NOTES).values(
                    alert_id=alert_id, author=user.username, kind="forward", text=text, at=utc(now)
                )
            )
        audit(conn, user, "forward", now, reference, f"to {target.username}")


def colleagues(engine: Engine, user: User) -> Sequence[sa.RowMapping]:
    """The directory a user forwards from: every other account still working here whose
    role may be forwarded an alert, by name (username, display_name, team, agency, role).

    Only a choice on the page: `forward` checks the sign-in it is sent again, whatever the
    form held.
    """
    query = (
        sa.select(
            USERS.c.username, USERS.c.display_name, USERS.c.team, USERS.c.agency, USERS.c.role
        )
        .where(
            USERS.c.role.in_(FORWARD_ROLES),
            USERS.c.left_at.is_(None),
            USERS.c.username != user.username,
        )
        .order_by(sa.func.lower(USERS.c.display_name), USERS.c.username)
    )
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


def add_note(engine: Engine, user: User, reference: str, text: str, now: dt.datetime) -> None:
    """Add a note to an alert the user may see (notes never conflict: they only append)."""
    clean = _clean_note(text, required=True)
    with engine.begin() as conn:
        found = conn.execute(
            sa.select(ALERTS.c.id).where(ALERTS.c.reference == reference, visible(user))
        ).first()
        if found is None:
            raise Refused(404, "No such alert.")
        conn.execute(
            sa.insert(NOTES).values(
                alert_id=found.id, author=user.username, kind="note", text=clean, at=utc(now)
            )
        )
        audit(conn, user, "note", now, reference, f"{len(clean)} characters")


def snooze(
    engine: Engine,
    user: User,
    reference: str,
    version: int,
    until: str,
    reason: str,
    now: dt.datetime,
    max_days: int,
) -> None:
    """Snooze an alert until a date after today and at most `max_days` away, with a reason.

    When the date comes the alert wakes in the list; left unacknowledged, it escalates as
    a new one would (`alerts.escalate`).
    """
    try:
        day = dt.date.fromisoformat(until)
    except ValueError as exc:
        raise Refused(422, "Give the date to snooze until as YYYY-MM-DD.") from exc
    today = utc(now).date()
    if day <= today:
        raise Refused(422, "A snooze must end after today.")
    latest = today + dt.timedelta(days=max_days)
    if day > latest:
        raise Refused(
            422,
            f"A snooze may last at most {max_days} days: choose a date by {latest.isoformat()}, "
            "and snooze again then if it is still needed.",
        )
    text = _clean_note(reason, required=True)
    with engine.begin() as conn:
        alert_id = _change(conn, user, reference, version, NOT_CLOSED, {"state": "snoozed"}, now)
        conn.execute(
            sa.insert(SNOOZES).values(alert_id=alert_id, until=day, by=user.username, at=utc(now))
        )
        conn.execute(
            sa.insert(NOTES).values(
                alert_id=alert_id, author=user.username, kind="snooze", text=text, at=utc(now)
            )
        )
        audit(conn, user, "snooze", now, reference, f"until {day.isoformat()}")


def close(
    engine: Engine,
    user: User,
    reference: str,
    version: int,
    outcome: str,
    text: str,
    now: dt.datetime,
    goal: str = "",
    progress: str = "",
) -> None:
    """Close an alert with an outcome from the controlled list, and what was done.

    `goal` (a key of GOALS: what the professional set out to do) and `progress` (a key of
    PROGRESS: how it went by now) are given together, or both left empty where there was
    no goal (an alert closed as mistaken, say).
    """
    if outcome not in OUTCOMES:
        raise Refused(422, "Choose an outcome from the list.")
    if goal and goal not in GOALS:
        raise Refused(422, "Choose the goal from the list.")
    if progress and progress not in PROGRESS:
        raise Refused(422, "Choose how it went from the list.")
    if bool(goal) != bool(progress):
        raise Refused(
            422,
            "Record the goal and how it went together, or neither where there was no goal.",
        )
    clean = _clean_note(text, required=False)
    with engine.begin() as conn:
        alert_id = _change(conn, user, reference, version, NOT_CLOSED, {"state": "closed"}, now)
        conn.execute(
            sa.insert(OUTCOME_ROWS).values(
                alert_id=alert_id,
                outcome=outcome,
                by=user.username,
                at=utc(now),
                goal=goal or None,
                progress=progress or None,
            )
        )
        if clean:
            conn.execute(
                sa.insert(NOTES).values(
                    alert_id=alert_id, author=user.username, kind="close", text=clean, at=utc(now)
                )
            )
        aimed = f", goal {goal}, {progress}" if goal else ""
        audit(conn, user, "close", now, reference, f"outcome {outcome}{aimed}")


def audit_rows(engine: Engine, limit: int | None = None) -> list[dict[str, Any]]:
    """The audit log, newest first."""
    query = sa.select(AUDIT_LOG).order_by(AUDIT_LOG.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
